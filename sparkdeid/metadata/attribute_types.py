"""Resolve the PS3.15 combined action codes (``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``).

PS3.15 Table E.1-1a says a combined code means the first code unless
conformance to the IOD needs the next: a Type 2 attribute must be present (so
``Z`` rather than ``X``), a Type 1 attribute must have a value (so ``D``, or
``U`` for UID-bearing sequences). The answer therefore depends on the
attribute's Type in the IOD of the file being de-identified, which is what this
module knows.

Scope, chosen to be small and correct rather than large and guessed:

* :data:`SHARED_TYPES` — top-level Types from the modules the composite IODs
  share (Patient, General Study, General Series, General Equipment, General
  Acquisition, General Image, General Reference, SOP Common, Contrast/Bolus,
  Acquisition Context, Approval, the Content Identification Macro), for every
  attribute that has a combined code in Table E.1-1, plus a few Type 1/2
  anchors of those modules;
* :data:`IOD_TYPES` — per SOP Class overrides where an IOD's own module is
  stricter (PET Series, Enhanced General Equipment, Multi-frame Functional
  Groups, SR Document General/Series, Encapsulated Document).

An attribute the tables do not know, or a SOP Class that is not a standard
Storage SOP Class, resolves to the **last** code of the chain. That code
always yields a conformant file (it is the one the standard falls back to for
the strictest Type), and since ``D``/``Z``/``U`` values are dummies, empty or
fresh UIDs, it discloses nothing; the only cost is an attribute kept present
that could have been removed.

The Types describe attributes of the top-level data set; inside sequences the
macros differ and the same fallback applies if the caller passes no SOP Class.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from pydicom import uid as _uid
from pydicom.uid import UID

__all__ = [
    "COMBINED_CODES",
    "IOD_TYPES",
    "SHARED_TYPES",
    "attribute_type",
    "is_combined",
    "resolve_combined",
]

COMBINED_CODES = frozenset({"Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
"""The combined codes used in PS3.15 Table E.1-1 (2024b)."""

SHARED_TYPES: Mapping[int, str] = MappingProxyType(
    {
        # SOP Common
        0x00080012: "3",  # Instance Creation Date (X/D)
        0x00080013: "3",  # Instance Creation Time (X/Z/D)
        0x00080016: "1",  # SOP Class UID
        0x00080018: "1",  # SOP Instance UID
        # Patient
        0x00100010: "2",  # Patient's Name
        0x00100020: "2",  # Patient ID (Z/D)
        0x00100030: "2",  # Patient's Birth Date
        0x00100040: "2",  # Patient's Sex
        0x00102203: "2C",  # Patient's Sex Neutered (X/Z), non-human patients
        # General Study
        0x0020000D: "1",  # Study Instance UID
        0x00080020: "2",  # Study Date
        0x00080030: "2",  # Study Time
        0x00080050: "2",  # Accession Number
        0x00080090: "2",  # Referring Physician's Name
        0x00200010: "2",  # Study ID
        0x00081110: "3",  # Referenced Study Sequence (X/Z)
        # General Series
        0x00080060: "1",  # Modality
        0x0020000E: "1",  # Series Instance UID
        0x00200011: "2",  # Series Number
        0x00080021: "3",  # Series Date (X/D)
        0x00080031: "3",  # Series Time (X/D)
        0x00081070: "3",  # Operators' Name (X/Z/D)
        0x00081072: "3",  # Operator Identification Sequence (X/D)
        0x00081111: "3",  # Referenced Performed Procedure Step Sequence (X/Z/D)
        0x00181030: "3",  # Protocol Name (X/D)
        # General Equipment
        0x00080070: "2",  # Manufacturer
        0x00080080: "3",  # Institution Name (X/Z/D)
        0x00081010: "3",  # Station Name (X/Z/D)
        0x00181000: "3",  # Device Serial Number (X/Z/D)
        # General Acquisition
        0x00080022: "3",  # Acquisition Date (X/Z)
        0x00080032: "3",  # Acquisition Time (X/Z)
        0x0008002A: "3",  # Acquisition DateTime (X/Z/D)
        # General Image
        0x00200013: "2",  # Instance Number
        0x00080023: "2C",  # Content Date (Z/D), temporally related series
        0x00080033: "2C",  # Content Time (Z/D)
        # General Reference
        0x00081140: "3",  # Referenced Image Sequence (X/Z/U*)
        0x00082112: "3",  # Source Image Sequence (X/Z/U*)
        # Frame of Reference
        0x00200052: "1",  # Frame of Reference UID
        0x00201040: "2",  # Position Reference Indicator
        # Contrast/Bolus
        0x00180010: "2",  # Contrast/Bolus Agent (Z/D)
        # Acquisition Context
        0x00400555: "2",  # Acquisition Context Sequence (X/Z)
        # Approval
        0x300E0008: "2C",  # Reviewer Name (X/Z), when approved or rejected
        # Content Identification Macro
        0x00700084: "2",  # Content Creator's Name (Z/D)
    }
)
"""Type of top-level attributes in the modules shared by composite IODs."""


def _overrides(
    classes: tuple[str, ...], types: Mapping[int, str]
) -> dict[str, Mapping[int, str]]:
    frozen = MappingProxyType(dict(types))
    return {str(sop_class): frozen for sop_class in classes}


# Multi-frame Functional Groups: Content Date/Time Type 1; Enhanced General
# Equipment: Device Serial Number Type 1.
_ENHANCED = {0x00080023: "1", 0x00080033: "1", 0x00181000: "1"}
# Enhanced CT/MR Image modules: Acquisition DateTime 1C (original images).
_ENHANCED_ACQUIRED = {**_ENHANCED, 0x0008002A: "1C"}
# SR Document General / Key Object Document: Content Date/Time Type 1;
# SR Document Series / Key Object Document Series: Referenced PPS Sequence Type 2.
_STRUCTURED = {0x00080023: "1", 0x00080033: "1", 0x00081111: "2"}
# Encapsulated Document module: Content Date/Time, Acquisition DateTime Type 2.
_ENCAPSULATED = {0x00080023: "2", 0x00080033: "2", 0x0008002A: "2"}
# PET Series: Series Date/Time Type 1; PET Image: Acquisition Date/Time Type 2.
_PET = {0x00080021: "1", 0x00080031: "1", 0x00080022: "2", 0x00080032: "2"}

IOD_TYPES: Mapping[str, Mapping[int, str]] = MappingProxyType(
    {
        **_overrides(
            (_uid.EnhancedCTImageStorage, _uid.EnhancedMRImageStorage),
            _ENHANCED_ACQUIRED,
        ),
        **_overrides(
            (
                _uid.EnhancedMRColorImageStorage,
                _uid.EnhancedXAImageStorage,
                _uid.EnhancedXRFImageStorage,
                _uid.EnhancedPETImageStorage,
            ),
            _ENHANCED,
        ),
        **_overrides(
            (
                _uid.BasicTextSRStorage,
                _uid.EnhancedSRStorage,
                _uid.ComprehensiveSRStorage,
                _uid.Comprehensive3DSRStorage,
                _uid.ExtensibleSRStorage,
                _uid.ProcedureLogStorage,
                _uid.MammographyCADSRStorage,
                _uid.KeyObjectSelectionDocumentStorage,
                _uid.ChestCADSRStorage,
                _uid.XRayRadiationDoseSRStorage,
                _uid.RadiopharmaceuticalRadiationDoseSRStorage,
                _uid.ColonCADSRStorage,
                _uid.ImplantationPlanSRStorage,
                _uid.AcquisitionContextSRStorage,
                _uid.SimplifiedAdultEchoSRStorage,
                _uid.PatientRadiationDoseSRStorage,
                _uid.PlannedImagingAgentAdministrationSRStorage,
                _uid.PerformedImagingAgentAdministrationSRStorage,
                _uid.EnhancedXRayRadiationDoseSRStorage,
            ),
            _STRUCTURED,
        ),
        **_overrides(
            (
                _uid.EncapsulatedPDFStorage,
                _uid.EncapsulatedCDAStorage,
                _uid.EncapsulatedSTLStorage,
                _uid.EncapsulatedOBJStorage,
                _uid.EncapsulatedMTLStorage,
            ),
            _ENCAPSULATED,
        ),
        **_overrides((_uid.PositronEmissionTomographyImageStorage,), _PET),
    }
)
"""Per SOP Class UID: Types that differ from :data:`SHARED_TYPES` in that IOD."""


@lru_cache(maxsize=256)
def _is_storage_class(sop_class_uid: str) -> bool:
    """Whether the UID is a standard Storage SOP Class (composite IOD) pydicom knows."""
    known = UID(sop_class_uid)
    return known.type == "SOP Class" and "Storage" in known.name


def attribute_type(tag: int, sop_class_uid: str | None) -> str | None:
    """Type (``1``, ``1C``, ``2``, ``2C``, ``3``) of a top-level attribute, if known.

    Parameters
    ----------
    tag
        The attribute, e.g. ``0x00100020``.
    sop_class_uid
        SOP Class UID of the file. ``None``, a private or an unknown UID give
        ``None``: the shared Types only hold for standard composite IODs.
    """
    if not sop_class_uid:
        return None
    sop_class_uid = sop_class_uid.strip().rstrip("\0")
    override = IOD_TYPES.get(sop_class_uid)
    if override is not None and tag in override:
        return override[tag]
    if not _is_storage_class(sop_class_uid):
        return None
    return SHARED_TYPES.get(tag)


def is_combined(code: str) -> bool:
    """Whether ``code`` is a chain such as ``X/Z/D`` that needs resolving."""
    return "/" in code


def resolve_combined(code: str, tag: int, sop_class_uid: str | None) -> str:
    """The single PS3.15 code (``D``, ``Z``, ``X`` or ``U``) to apply in this IOD.

    Type 1/1C: the code that gives a value (``U`` if the chain has it, else
    ``D``). Type 2/2C: ``Z`` if the chain has it, else ``D``. Type 3: the
    first code. Unknown attribute or IOD: the last code (see the module
    docstring for why). A code without ``/`` is returned unchanged.
    """
    if not is_combined(code):
        return code
    chain = [part.strip().rstrip("*") for part in code.split("/")]
    kind = attribute_type(tag, sop_class_uid)
    if kind is None:
        return chain[-1]
    if kind.startswith("1"):
        return "U" if "U" in chain else "D"
    if kind.startswith("2"):
        return "Z" if "Z" in chain else "D"
    return chain[0]
