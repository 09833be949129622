"""sparkdeid: de-identify DICOM metadata and pixels at scale as Spark ML stages."""

import logging

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
from sparkdeid.stages import install_legacy_paths
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.dicom_to_metadata import DicomToMetadata
from sparkdeid.stages.document_cleaner import DicomDocumentCleaner
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector
from sparkdeid.verify.residual import ResidualPhiError

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
install_legacy_paths()  # pipelines saved by 0.1 name the stages' old module paths
install_library_guards()  # pydicom quotes element values in its warnings: withhold them
