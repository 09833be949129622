"""sparkdeid: de-identify DICOM metadata and pixels at scale as Spark ML stages."""

import logging

from sparkdeid.dicom.dicom_to_image import DicomToImage
from sparkdeid.documents.document_cleaner import DicomDocumentCleaner
from sparkdeid.errors import (
    BackendUnavailableError,
    DicomDecodeError,
    DicomEncodeError,
    DocumentNotCleanableError,
    JavaUnavailableError,
    ResourceLimitError,
    SecretError,
    SparkDeidError,
    StrategyError,
)
from sparkdeid.log_safety import install_library_guards
from sparkdeid.metadata.dicom_to_metadata import DicomToMetadata
from sparkdeid.metadata.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.ner.ner_deid import NerDeid
from sparkdeid.ocr.text_detector import TextDetector
from sparkdeid.regions.draw_regions import DicomDrawRegions
from sparkdeid.regions.position_finder import PositionFinder
from sparkdeid.verify.residual_gate import ResidualPhiError, ResidualPhiGate

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "DicomDecodeError",
    "DicomDocumentCleaner",
    "DicomDrawRegions",
    "DicomEncodeError",
    "DicomMetadataDeidentifier",
    "DicomToImage",
    "DicomToMetadata",
    "DocumentNotCleanableError",
    "JavaUnavailableError",
    "NerDeid",
    "PositionFinder",
    "ResidualPhiError",
    "ResidualPhiGate",
    "ResourceLimitError",
    "SecretError",
    "SparkDeidError",
    "StrategyError",
    "TextDetector",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
install_library_guards()  # pydicom quotes element values in its warnings: withhold them
