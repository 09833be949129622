"""The Spark ML stages: thin edges over the typed per-file core.

Each stage turns Spark cells into core values (:mod:`sparkdeid.stages.cells`),
calls the core once per file or frame, and turns the result back into
cells. The per-file plumbing (error column, ``handleInvalid``, output
schema) is :mod:`sparkdeid.stages.rows`; shared parameters are
:mod:`sparkdeid.stages.params`.

A saved pipeline names each stage's class by its module path. The stages
lived beside their core before 0.2; :func:`install_legacy_paths` makes those
paths name the modules here, so pipelines saved by 0.1 load unchanged.
"""

from __future__ import annotations

import importlib
import sys

# where each stage module lived in 0.1 -> where it lives now
LEGACY_PATHS = {
    "sparkdeid.dicom.dicom_to_image": "sparkdeid.stages.dicom_to_image",
    "sparkdeid.metadata.dicom_to_metadata": "sparkdeid.stages.dicom_to_metadata",
    "sparkdeid.metadata.metadata_deidentifier": "sparkdeid.stages.metadata_deidentifier",
    "sparkdeid.ocr.text_detector": "sparkdeid.stages.text_detector",
    "sparkdeid.ner.ner_deid": "sparkdeid.stages.ner_deid",
    "sparkdeid.regions.position_finder": "sparkdeid.stages.position_finder",
    "sparkdeid.regions.draw_regions": "sparkdeid.stages.draw_regions",
    "sparkdeid.documents.document_cleaner": "sparkdeid.stages.document_cleaner",
    "sparkdeid.verify.residual_gate": "sparkdeid.stages.residual_gate",
}


def install_legacy_paths() -> None:
    """Make each 0.1 module path import the stage module that replaced it."""
    for old, new in LEGACY_PATHS.items():
        sys.modules.setdefault(old, importlib.import_module(new))
