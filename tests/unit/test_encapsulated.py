"""The DICOM side: find (0042,0011), clean or remove it; length, MIME type and padding right."""

from __future__ import annotations

import copy

import pypdfium2 as pdfium
import pytest
from pydicom import Dataset

from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.documents.encapsulated import (
    NO_DOCUMENT,
    DocumentOutcome,
    clean_encapsulated_document,
    document_kind,
)
from sparkdeid.documents.pdf import PdfOptions
from sparkdeid.errors import DocumentNotCleanableError
from sparkdeid.ner.detect import PhiDetector
from tests.document_factory import (
    ENCAPSULATED_CDA_STORAGE,
    ENCAPSULATED_PDF_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    PlantedDocument,
    corrupt_pdf,
    dicom_bytes,
    encapsulated_cda,
    encapsulated_dataset,
    encapsulated_pdf,
    encrypted_pdf,
)

OPTIONS = PdfOptions(dpi=100)


@pytest.fixture(scope="module")
def detector() -> PhiDetector:
    return PhiDetector()


def document_of(ds: Dataset) -> bytes:
    """The stored document, trimmed to its declared length."""
    return bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]


def assert_well_formed(ds: Dataset) -> None:
    """Length tag = document length; value padded to even; the file writes and reads back."""
    value = bytes(ds.EncapsulatedDocument)
    length = int(ds.EncapsulatedDocumentLength)
    assert len(value) % 2 == 0
    assert len(value) == length + length % 2
    again = read_dataset(write_dataset(ds))
    assert bytes(again.EncapsulatedDocument or b"") == value  # empty OB reads back as None
    assert int(again.EncapsulatedDocumentLength) == length


def compact(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


@pytest.fixture(scope="module")
def cleaned_pdf(detector: PhiDetector) -> tuple[PlantedDocument, Dataset, DocumentOutcome]:
    planted = encapsulated_pdf(seed=7)
    ds = read_dataset(dicom_bytes(planted.ds))
    outcome = clean_encapsulated_document(ds, detector=detector, pdf_options=OPTIONS)
    return planted, ds, outcome


def test_pdf_is_redacted(cleaned_pdf: tuple[PlantedDocument, Dataset, DocumentOutcome]) -> None:
    planted, ds, outcome = cleaned_pdf
    assert (outcome.action, outcome.kind, outcome.reason) == ("redacted", "pdf", "")
    assert outcome.redactions >= 3
    assert outcome.label() == f"redacted:pdf:{outcome.redactions}"
    document = document_of(ds)
    assert document != planted.document and document.startswith(b"%PDF-")
    pdf = pdfium.PdfDocument(document)
    layer = compact(pdf[0].get_textpage().get_text_range())
    assert len(pdf) == 1 and "fracture" in layer and "impression" in layer  # searchable
    assert [p for p in planted.phi if compact(p) in layer] == []
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert_well_formed(ds)


def test_header_terms_are_read_before_anything_changes(
    cleaned_pdf: tuple[PlantedDocument, Dataset, DocumentOutcome],
) -> None:
    """The stage changes only the document: the header is for the metadata stage."""
    planted, ds, _ = cleaned_pdf
    assert str(ds.PatientName) == planted.patient.name
    assert ds.PatientID == planted.patient.patient_id


def test_cda_is_redacted(detector: PhiDetector) -> None:
    planted = encapsulated_cda(seed=8)
    ds = read_dataset(dicom_bytes(planted.ds))
    outcome = clean_encapsulated_document(ds, detector=detector)
    assert (outcome.action, outcome.kind) == ("redacted", "cda")
    text = document_of(ds).decode("utf-8").lower()
    assert [p for p in planted.phi if p.lower() in text] == []
    assert all(k.lower() in text for k in planted.keep)
    assert ds.MIMETypeOfEncapsulatedDocument == "text/XML"
    assert_well_formed(ds)


def test_plain_text_is_redacted(detector: PhiDetector) -> None:
    planted = encapsulated_pdf(seed=4)
    p = planted.patient
    text = f"Patient {p.given_name} {p.family_name}, MRN {p.patient_id}.\nNo acute fracture.\n"
    ds = encapsulated_dataset(text.encode(), ENCAPSULATED_PDF_STORAGE, "text/plain", p)
    outcome = clean_encapsulated_document(ds, detector=detector)
    assert outcome.label() == f"redacted:text:{outcome.redactions}" and outcome.redactions >= 2
    cleaned = document_of(ds).decode("utf-8")
    assert "No acute fracture." in cleaned
    assert p.given_name not in cleaned and p.patient_id not in cleaned
    assert_well_formed(ds)


@pytest.mark.parametrize(
    ("document", "mime", "sop_class", "kind", "reason"),
    [
        (corrupt_pdf(), "application/pdf", ENCAPSULATED_PDF_STORAGE, "pdf", "unreadable"),
        (encrypted_pdf(), "application/pdf", ENCAPSULATED_PDF_STORAGE, "pdf", "encrypted"),
        (b"solid x\n facet normal 0 0 1\nendsolid x\n", "model/stl", ENCAPSULATED_STL_STORAGE,
         "stl", "unsupported-type"),
        (b"<not-xml", "text/XML", ENCAPSULATED_CDA_STORAGE, "cda", "malformed-xml"),
        (b"\x00\x01binary", "application/octet-stream", ENCAPSULATED_PDF_STORAGE, "other",
         "unsupported-type"),
    ],
)
def test_uncleanable_documents_are_removed_or_raise(
    document: bytes, mime: str, sop_class: str, kind: str, reason: str, detector: PhiDetector
) -> None:
    patient = encapsulated_pdf(seed=2).patient
    ds = encapsulated_dataset(document, sop_class, mime, patient)
    strict = copy.deepcopy(ds)
    outcome = clean_encapsulated_document(ds, detector=detector, pdf_options=OPTIONS)
    assert outcome == DocumentOutcome("removed", kind, 0, reason)
    assert outcome.label() == f"removed:{kind}:{reason}"
    assert bytes(ds.EncapsulatedDocument) == b"" and ds.EncapsulatedDocumentLength == 0
    assert_well_formed(ds)
    with pytest.raises(DocumentNotCleanableError) as info:
        clean_encapsulated_document(strict, detector=detector, on_uncleanable="error",
                                    pdf_options=OPTIONS)
    assert info.value.reason == reason
    assert patient.family_name.lower() not in str(info.value).lower()
    assert bytes(strict.EncapsulatedDocument)[: len(document)] == document  # untouched


def test_files_without_a_document_are_left_alone(detector: PhiDetector) -> None:
    ds = Dataset()
    ds.PatientName = "VRAXOLIN^KEZZEL"
    assert clean_encapsulated_document(ds, detector=detector) is NO_DOCUMENT
    assert NO_DOCUMENT.label() is None
    ds.EncapsulatedDocument = b""
    assert clean_encapsulated_document(ds, detector=detector) is NO_DOCUMENT
    assert "EncapsulatedDocumentLength" not in ds


def test_kind_comes_from_mime_type_then_sop_class() -> None:
    assert document_kind("application/pdf", "") == "pdf"
    assert document_kind("TEXT/XML", ENCAPSULATED_PDF_STORAGE) == "cda"
    assert document_kind("", ENCAPSULATED_CDA_STORAGE) == "cda"
    assert document_kind("", ENCAPSULATED_PDF_STORAGE) == "pdf"
    assert document_kind("model/obj", "") == "obj"
    assert document_kind("", "1.2.3") == "other"


def test_missing_mime_type_and_length_are_handled(detector: PhiDetector) -> None:
    """Older files: no MIME type, no length tag, a pad byte after the XML."""
    planted = encapsulated_cda(seed=8)
    ds = encapsulated_dataset(planted.document, ENCAPSULATED_CDA_STORAGE, None, planted.patient)
    ds.EncapsulatedDocument = planted.document + b"\x00" * (len(planted.document) % 2 + 2)
    del ds.EncapsulatedDocumentLength
    outcome = clean_encapsulated_document(ds, detector=detector)
    assert (outcome.action, outcome.kind) == ("redacted", "cda")
    assert ds.MIMETypeOfEncapsulatedDocument == "text/XML"
    assert_well_formed(ds)


def test_on_uncleanable_is_validated(detector: PhiDetector) -> None:
    with pytest.raises(ValueError):
        clean_encapsulated_document(Dataset(), detector=detector, on_uncleanable="ignore")
