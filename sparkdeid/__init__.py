"""sparkdeid: de-identify DICOM metadata and pixels at scale as Spark ML stages."""

import logging

from sparkdeid.errors import (
    BackendUnavailableError,
    DicomDecodeError,
    DicomEncodeError,
    JavaUnavailableError,
    SecretError,
    SparkDeidError,
    StrategyError,
)
from sparkdeid.metadata.dicom_to_metadata import DicomToMetadata
from sparkdeid.metadata.metadata_deidentifier import DicomMetadataDeidentifier

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "DicomDecodeError",
    "DicomEncodeError",
    "DicomMetadataDeidentifier",
    "DicomToMetadata",
    "JavaUnavailableError",
    "SecretError",
    "SparkDeidError",
    "StrategyError",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
