"""The DICOM side of document cleaning: find the Encapsulated Document, clean it, store it back.

Encapsulated PDF (1.2.840.10008.5.1.4.1.1.104.1) and CDA (...104.2) files
carry a whole report in Encapsulated Document (0042,0011); metadata
de-identification leaves those bytes alone, so the patient's name in the
report would survive it. :func:`clean_encapsulated_document` decides the
type from MIME Type of Encapsulated Document (0042,0012), else the SOP
Class, cleans the document with the matching cleaner
(:mod:`~sparkdeid.documents.pdf`, :mod:`~sparkdeid.documents.cda`, plain
text through the detector) and writes it back with Encapsulated Document
Length (0042,0015) set to its length and the value padded to even length.

What cannot be cleaned (STL/OBJ/MTL models, unknown types, encrypted or
unreadable PDFs, malformed XML) is removed: the element is kept with a
zero-length value and length 0, and the outcome names the reason by a
short slug, never by the document's content. ``on_uncleanable="error"``
raises instead, so a job can fail such files rather than ship them empty.

The header terms are read from the dataset before anything changes; run
this on the original header (before metadata de-identification), or pass
the terms explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from sparkdeid.documents.cda import clean_cda
from sparkdeid.documents.pdf import PdfOptions, redact_pdf
from sparkdeid.errors import DocumentNotCleanableError
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.detect import PhiDetector
from sparkdeid.ner.header import header_terms_of
from sparkdeid.ocr.registry import DEFAULT_ENGINE, get_engine

logger = logging.getLogger(__name__)

ENCAPSULATED_DOCUMENT = 0x00420011
MIME_TYPE = 0x00420012
ENCAPSULATED_DOCUMENT_LENGTH = 0x00420015

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
ENCAPSULATED_CDA_STORAGE = "1.2.840.10008.5.1.4.1.1.104.2"
_SOP_CLASS_KINDS = {
    ENCAPSULATED_PDF_STORAGE: "pdf",
    ENCAPSULATED_CDA_STORAGE: "cda",
    "1.2.840.10008.5.1.4.1.1.104.3": "stl",
    "1.2.840.10008.5.1.4.1.1.104.4": "obj",
    "1.2.840.10008.5.1.4.1.1.104.5": "mtl",
}
_MIME_KINDS = {
    "application/pdf": "pdf",
    "text/xml": "cda",
    "application/xml": "cda",
    "application/hl7-cda+xml": "cda",
    "text/plain": "text",
    "model/stl": "stl",
    "application/sla": "stl",
    "model/obj": "obj",
    "model/mtl": "mtl",
}
#: The MIME type written back for each kind we clean (DICOM uses text/XML for CDA).
MIME_OF_KIND = {"pdf": "application/pdf", "cda": "text/XML", "text": "text/plain"}
ON_UNCLEANABLE_CHOICES = ("remove", "error")


@dataclass(frozen=True)
class DocumentOutcome:
    """What happened to a file's encapsulated document.

    Attributes
    ----------
    action
        ``none`` (no document), ``redacted`` (rewritten clean; ``redactions``
        may be 0: a PDF is always rebuilt from page images) or ``removed``.
    kind
        ``pdf``, ``cda``, ``text``, ``stl``, ``obj``, ``mtl`` or ``other``.
    redactions
        Regions masked (PDF) or values masked and spans removed (CDA, text).
    reason
        Why a document was removed: a short slug such as ``encrypted``.
    """

    action: str
    kind: str = ""
    redactions: int = 0
    reason: str = ""

    def label(self) -> str | None:
        """``redacted:pdf:5`` / ``removed:cda:malformed-xml``; None when there was no document."""
        if self.action == "redacted":
            return f"redacted:{self.kind}:{self.redactions}"
        if self.action == "removed":
            return f"removed:{self.kind}:{self.reason}"
        return None


NO_DOCUMENT = DocumentOutcome("none")


def has_document(ds: Dataset) -> bool:
    """True when ``ds`` holds a non-empty Encapsulated Document."""
    if ENCAPSULATED_DOCUMENT not in ds:
        return False
    value = ds.get_item(ENCAPSULATED_DOCUMENT).value
    return bool(value)


def document_kind(mime_type: str, sop_class_uid: str) -> str:
    """The cleaner to use: from the MIME type, else from the SOP Class; ``other`` when unknown."""
    mime = mime_type.split(";")[0].strip().lower()
    if mime:
        return _MIME_KINDS.get(mime, "other")
    return _SOP_CLASS_KINDS.get(sop_class_uid.strip(), "other")


def clean_encapsulated_document(
    ds: Dataset,
    *,
    detector: PhiDetector,
    engine_name: str = DEFAULT_ENGINE,
    engine_options: Mapping[str, Any] | None = None,
    on_uncleanable: str = "remove",
    pdf_options: PdfOptions | None = None,
    header: tuple[HeaderTerm, ...] | None = None,
) -> DocumentOutcome:
    """Clean (or remove) ``ds``'s Encapsulated Document in place.

    Parameters
    ----------
    ds
        The dataset; changed only when it holds a document.
    detector
        Decides what is PHI in the document's text.
    engine_name, engine_options
        OCR back-end for PDF pages (loaded, once per process, only when a PDF comes).
    on_uncleanable
        ``remove`` (default) empties a document that cannot be cleaned;
        ``error`` raises :class:`~sparkdeid.errors.DocumentNotCleanableError`.
    pdf_options
        Resolution, page limit and padding for PDFs; None: the defaults.
    header
        Identifying values to look for; default: read from ``ds`` now.
    """
    if on_uncleanable not in ON_UNCLEANABLE_CHOICES:
        raise ValueError(f"on_uncleanable must be one of {ON_UNCLEANABLE_CHOICES}")
    if not has_document(ds):
        return NO_DOCUMENT
    terms = header_terms_of(ds) if header is None else header
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "") or "")
    kind = document_kind(mime, str(ds.get("SOPClassUID", "") or ""))
    data = _document_bytes(ds)
    try:
        cleaned, redactions = _clean(
            data, kind, detector, terms, engine_name, engine_options, pdf_options
        )
    except DocumentNotCleanableError as exc:
        if on_uncleanable == "error":
            raise
        remove_document(ds)
        logger.info("encapsulated %s document removed: %s", kind, exc.reason)
        return DocumentOutcome("removed", kind, 0, exc.reason)
    _store(ds, cleaned, MIME_OF_KIND[kind])
    logger.info("encapsulated %s document cleaned: %d redaction(s)", kind, redactions)
    return DocumentOutcome("redacted", kind, redactions)


def remove_document(ds: Dataset) -> None:
    """Keep the element but empty it (zero length; length tag 0)."""
    ds.EncapsulatedDocument = b""
    ds.EncapsulatedDocumentLength = 0


def _document_bytes(ds: Dataset) -> bytes:
    """The document without DICOM's pad byte, using the declared length when it is sane."""
    data = bytes(ds.get_item(ENCAPSULATED_DOCUMENT).value)
    declared = ds.get("EncapsulatedDocumentLength")
    if isinstance(declared, int) and 0 < declared <= len(data):
        return data[:declared]
    if len(data) % 2 == 0 and data.endswith(b"\x00"):
        return data[:-1]  # no usable length: drop the pad byte (no PDF or XML ends in NUL)
    return data


def _clean(
    data: bytes,
    kind: str,
    detector: PhiDetector,
    terms: tuple[HeaderTerm, ...],
    engine_name: str,
    engine_options: Mapping[str, Any] | None,
    pdf_options: PdfOptions | None,
) -> tuple[bytes, int]:
    if kind == "pdf":
        engine = get_engine(engine_name, engine_options)  # loaded only when a PDF comes
        return redact_pdf(data, detector, engine, terms, pdf_options)
    if kind == "cda":
        return clean_cda(data, detector, terms)
    if kind == "text":
        return clean_plain_text(data, detector, terms)
    raise DocumentNotCleanableError(
        f"no cleaner for encapsulated {kind} documents", "unsupported-type"
    )


def clean_plain_text(
    data: bytes, detector: PhiDetector, header: tuple[HeaderTerm, ...] = ()
) -> tuple[bytes, int]:
    """A text/plain document through the detector, line by line; returned as UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # every byte is a character: nothing is skipped
    if detector.config.redact_all:
        return b"", int(bool(text.strip()))
    entities = detector.detect_document(text, header)
    return detector.redact_text(text, entities).encode("utf-8"), len(entities)


def _store(ds: Dataset, document: bytes, mime_type: str) -> None:
    """Write the document back: length without the pad byte, value padded to even length."""
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + b"\x00" * (len(document) % 2)
    ds.MIMETypeOfEncapsulatedDocument = mime_type
