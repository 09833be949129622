"""Pictures and documents carried in the header, and which of them were cleaned upstream.

Besides its Pixel Data a file can carry other pictures: an Icon Image
Sequence (0088,0200) thumbnail, vendors' private thumbnail sequences, Overlay
Data (60xx,3000) bitmaps; and an Encapsulated Document (0042,0011). The
metadata engine cannot read text burned into any of them, so:

* an image inside a sequence item (an item holding Pixel Data) never survives
  the walk, whatever the strategy or the private tag knowledge base says;
* overlays and documents go as the strategy says (PS3.15 removes or empties them);
* unless the caller says a pixel stage before the engine already cleaned them
  (``cleaned_upstream``): then the top-level copy is kept. Only the top level
  counts, because that is what the pixel stages clean; an icon nested in a
  Directory Record or a Referenced Image item is removed regardless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sparkdeid.dicom.codec import element_vr

__all__ = [
    "CLEANED_UPSTREAM_NAMES",
    "PIXEL_TAGS",
    "UpstreamDecision",
    "drop_images_below",
    "holds_image",
    "is_overlay_group",
    "upstream_decision",
    "validate_cleaned_upstream",
]

CLEANED_UPSTREAM_NAMES = ("documents", "icons", "overlays")
"""What a pixel stage can have cleaned before the metadata engine runs."""

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
"""Float Pixel Data, Double Float Pixel Data, Pixel Data: an item holding one is an image."""

ICON_IMAGE_SEQUENCE = 0x00880200
ENCAPSULATED_DOCUMENT = 0x00420011
ENCAPSULATED_DOCUMENT_LENGTH = 0x00420015

# Overlay Plane Module elements (low 16 bits) that describe the bitmap, not the
# patient: kept with the cleaned Overlay Data, which is useless without them.
OVERLAY_LAYOUT_ELEMENTS = frozenset(
    {
        0x0010,  # Overlay Rows
        0x0011,  # Overlay Columns
        0x0015,  # Number of Frames in Overlay
        0x0040,  # Overlay Type
        0x0050,  # Overlay Origin
        0x0051,  # Image Frame Origin
        0x0100,  # Overlay Bits Allocated
        0x0102,  # Overlay Bit Position
        0x1001,  # Overlay Activation Layer
        0x1301,  # ROI Area
        0x1302,  # ROI Mean
        0x1303,  # ROI Standard Deviation
        0x3000,  # Overlay Data
    }
)
# Overlay elements holding words someone typed: cleaned like any description.
# Overlay Comments (60xx,4000) is not here: the strategy has a row for it.
OVERLAY_TEXT_ELEMENTS = frozenset(
    {
        0x0022,  # Overlay Description
        0x0045,  # Overlay Subtype
        0x1500,  # Overlay Label
    }
)

UpstreamDecision = Literal["keep", "clean"]


def validate_cleaned_upstream(names: Iterable[str]) -> tuple[str, ...]:
    """Known names, deduplicated and sorted, so equal settings make equal (cached) configs.

    Raises
    ------
    ValueError
        Naming the unknown entries: a typo must not silently keep nothing
        (or, worse, be mistaken for a name that keeps something).
    """
    chosen = {str(name).strip() for name in names}
    unknown = sorted(chosen - set(CLEANED_UPSTREAM_NAMES))
    if unknown:
        raise ValueError(
            f"unknown cleaned_upstream names {unknown}; known: {', '.join(CLEANED_UPSTREAM_NAMES)}"
        )
    return tuple(sorted(chosen))


def is_overlay_group(group: int) -> bool:
    """Even groups 6000-601E hold the 16 overlay planes."""
    return 0x6000 <= group <= 0x601E and not group & 1


def upstream_decision(tag: int, cleaned: frozenset[str]) -> UpstreamDecision | None:
    """What a top-level element becomes because a pixel stage cleaned it; ``None``: the strategy.

    ``"keep"``: the element as it is (it is the cleaned copy). ``"clean"``:
    overlay text, cleaned as a description when no strategy row names it.
    """
    if not cleaned:
        return None
    group, element = tag >> 16, tag & 0xFFFF
    if "overlays" in cleaned and is_overlay_group(group):
        if element in OVERLAY_LAYOUT_ELEMENTS:
            return "keep"
        if element in OVERLAY_TEXT_ELEMENTS:
            return "clean"
        return None
    if "documents" in cleaned and tag in (ENCAPSULATED_DOCUMENT, ENCAPSULATED_DOCUMENT_LENGTH):
        return "keep"
    if "icons" in cleaned and tag == ICON_IMAGE_SEQUENCE:
        return "keep"
    return None


def holds_image(item: Dataset) -> bool:
    """Whether a sequence item is an embedded image (it holds pixel data of some kind)."""
    keys = item.keys()  # a dict view: plain int lookups, no Tag conversion per check
    return 0x7FE00010 in keys or 0x7FE00008 in keys or 0x7FE00009 in keys


def drop_images_below(parent: Dataset, tag: int) -> int:
    """Remove image items anywhere under sequence ``tag`` of ``parent``; return how many.

    For sequences the engine keeps without walking them (a private tag kept
    by a catch-all rule): their items get no other look, so this one is
    recursive. A sequence left with no items is removed, as it only held images.
    """
    elem = parent[tag]
    items = list(elem.value or [])
    survivors = [item for item in items if not holds_image(item)]
    removed = len(items) - len(survivors)
    for item in survivors:
        for key in list(item.keys()):
            if element_vr(item, int(key)) == "SQ":
                removed += drop_images_below(item, int(key))
    if removed and len(survivors) < len(items):
        if survivors:
            elem.value = Sequence(survivors)
        else:
            del parent[tag]
    return removed
