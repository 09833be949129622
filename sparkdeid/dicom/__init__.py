"""DICOM codec layer: bytes <-> pydicom Dataset, preserving what we do not change."""

from sparkdeid.dicom.codec import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    looks_like_dicom,
    read_dataset,
    write_dataset,
)

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "looks_like_dicom",
    "read_dataset",
    "write_dataset",
]
