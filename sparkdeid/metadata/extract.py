"""Metadata as JSON, and the free-text document that NER cleans.

The tag document is one line per element that the strategy cleans
(``cleanTag`` or ``C`` on a text VR), in dataset order, nested ones
included; the tag mapping says which element each line came from and where it
sits, so a cleaned document (same lines) or NER spans map back to tags.
"""

from __future__ import annotations

import json
from typing import Any

from pydicom.dataset import Dataset

from sparkdeid.metadata.actions import TEXT_VRS, values_of
from sparkdeid.metadata.strategy import Strategy

CLEANING_ACTIONS = frozenset({"cleanTag", "C"})
_BULK_THRESHOLD = 1024


def metadata_json(ds: Dataset) -> str:
    """DICOM JSON (PS3.18 F) with bulk data replaced by a marker, not inlined."""
    as_dict = ds.to_json_dict(
        bulk_data_threshold=_BULK_THRESHOLD, bulk_data_element_handler=lambda _elem: "omitted"
    )
    return json.dumps(as_dict, separators=(",", ":"))


def tag_document(ds: Dataset, strategy: Strategy) -> tuple[str, list[dict[str, Any]]]:
    """Texts of elements to clean, one per line, and where each line came from."""
    lines: list[str] = []
    mapping: list[dict[str, Any]] = []
    position = 0

    def walk(dataset: Dataset, prefix: str) -> None:
        nonlocal position
        for elem in dataset:
            tag = int(elem.tag)
            path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value or []):
                    walk(item, f"{path}[{index}].")
                continue
            rule = strategy.rule_for(tag)
            if rule is None or rule.action not in CLEANING_ACTIONS or elem.VR not in TEXT_VRS:
                continue
            text = " ".join(" ".join(str(v) for v in values_of(elem)).split())
            if not text:
                continue
            lines.append(text)
            mapping.append(
                {"tag_path": path, "keyword": elem.keyword or "", "begin": position,
                 "end": position + len(text)}
            )
            position += len(text) + 1

    walk(ds, "")
    return "\n".join(lines), mapping
