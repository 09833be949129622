"""Encapsulated documents (PDF, CDA, plain text) de-identified rather than dropped.

:func:`clean_encapsulated_document` works on one pydicom Dataset;
:class:`~sparkdeid.stages.document_cleaner.DicomDocumentCleaner` is the
Spark stage over file bytes. The PDF cleaner rebuilds the document from
masked page images under an invisible text layer of the kept words (see
:mod:`sparkdeid.documents.pdf` for why).
"""

from sparkdeid.documents.cda import clean_cda
from sparkdeid.documents.encapsulated import (
    DocumentOutcome,
    clean_encapsulated_document,
    clean_plain_text,
)
from sparkdeid.documents.pdf import PdfOptions, redact_pdf

__all__ = [
    "DocumentOutcome",
    "PdfOptions",
    "clean_cda",
    "clean_encapsulated_document",
    "clean_plain_text",
    "redact_pdf",
]
