"""PDF redaction end to end: real pdfium, real rapidocr, synthetic reports with planted PHI.

The cleaned PDF is checked the way an attacker would read it: every text
pdfium can still extract, its metadata, annotations and attachments, and
what OCR reads on the rendered output pages. The findings sentence must
stay readable, or the cleaner would be useless.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from fpdf import FPDF

from sparkdeid.documents.pdf import PdfOptions, redact_pdf
from sparkdeid.errors import DocumentNotCleanableError, SparkDeidError
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ner.header import header_terms_of
from sparkdeid.ocr.base import OcrLine, layout_text
from sparkdeid.ocr.registry import get_engine
from tests.document_factory import (
    FINDINGS_WORDS,
    PlantedDocument,
    corrupt_pdf,
    encapsulated_pdf,
    encrypted_pdf,
    text_image,
)

DPI = 100  # 11-point text is ~15 px high: OCR reads it, and a page costs ~1 s


class NoTextEngine:
    """An OCR engine that sees nothing: isolates the text-layer path and costs nothing."""

    name = "none"

    def read(self, image: np.ndarray) -> list[OcrLine]:
        return []


def compact(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def leaks(text: str, needles: tuple[str, ...]) -> list[str]:
    """Needles found in ``text``, ignoring case, spaces and punctuation."""
    haystack = compact(text)
    return [n for n in needles if compact(n) and compact(n) in haystack]


def ocr_pages(data: bytes, dpi: int = DPI, rotation: int = 0) -> list[str]:
    """What OCR reads on every page of a PDF rendered at ``dpi`` (turned by ``rotation``)."""
    engine = get_engine("rapidocr")
    pdf = pdfium.PdfDocument(data)
    texts = []
    for index in range(len(pdf)):
        image = np.asarray(pdf[index].render(scale=dpi / 72, rotation=rotation).to_pil())
        texts.append(layout_text(engine.read(image)).text)
    return texts


def extracted_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


@pytest.fixture(scope="module")
def planted() -> PlantedDocument:
    return encapsulated_pdf(seed=7)


@pytest.fixture(scope="module")
def cleaned(planted: PlantedDocument) -> tuple[bytes, int, float]:
    """Output, regions masked, seconds taken (OCR engine already loaded by then)."""
    engine = get_engine("rapidocr")
    started = time.perf_counter()
    out, regions = redact_pdf(
        planted.document, PhiDetector(), engine, header_terms_of(planted.ds), PdfOptions(dpi=DPI)
    )
    return out, regions, time.perf_counter() - started


@pytest.fixture(scope="module")
def output_ocr(cleaned: tuple[bytes, int, float]) -> str:
    return "\n".join(ocr_pages(cleaned[0]))


def test_the_original_leaks_everything_we_look_for(planted: PlantedDocument) -> None:
    """The checks below are meaningful: the input shows every planted string."""
    text = extracted_text(planted.document)
    assert sorted(leaks(text, planted.phi)) == sorted(planted.phi)
    assert leaks(text, planted.image_phi) == []  # image text is not in the text layer
    assert sorted(leaks("\n".join(ocr_pages(planted.document)), planted.image_phi)) == sorted(
        planted.image_phi
    )


def test_output_has_no_text_layer_metadata_or_annotations(
    planted: PlantedDocument, cleaned: tuple[bytes, int, float]
) -> None:
    out, regions, _ = cleaned
    assert out.startswith(b"%PDF-") and regions >= 3
    assert extracted_text(out).strip() == ""
    pdf = pdfium.PdfDocument(out)
    metadata = " ".join(pdf.get_metadata_dict().values())
    assert leaks(metadata, planted.phi) == []
    assert pdf.count_attachments() == 0
    assert all(pdfium_c.FPDFPage_GetAnnotCount(pdf[i]) == 0 for i in range(len(pdf)))
    assert all(needle.encode() not in out for needle in planted.phi + planted.image_phi)


def test_no_planted_phi_is_readable_by_ocr(planted: PlantedDocument, output_ocr: str) -> None:
    assert leaks(output_ocr, planted.phi) == []
    assert leaks(output_ocr, planted.image_phi) == []  # found by fail-closed OCR only


def test_findings_stay_readable(output_ocr: str) -> None:
    assert leaks(output_ocr, FINDINGS_WORDS) == list(FINDINGS_WORDS)
    assert "Radiology Report" in output_ocr


def test_pages_keep_their_size(planted: PlantedDocument, cleaned: tuple[bytes, int, float]) -> None:
    original, out = pdfium.PdfDocument(planted.document), pdfium.PdfDocument(cleaned[0])
    assert len(out) == len(original) == 1
    assert out[0].get_size() == pytest.approx(original[0].get_size())


def test_rotated_pages_are_masked_where_the_text_is() -> None:
    """/Rotate 90: character boxes map through the same transform as the rendering."""
    planted = encapsulated_pdf(seed=3)
    pdf = pdfium.PdfDocument(planted.document)
    pdf[0].set_rotation(90)
    buffer = io.BytesIO()
    pdf.save(buffer)
    out, regions = redact_pdf(
        buffer.getvalue(), PhiDetector(), NoTextEngine(), header_terms_of(planted.ds),
        PdfOptions(dpi=DPI),
    )
    assert regions >= 1  # stacked PHI words of neighbouring lines merge into one region
    page = pdfium.PdfDocument(out)[0]
    assert page.get_size() == pytest.approx((792.0, 612.0))
    text = "\n".join(ocr_pages(out, rotation=270))  # upright again for OCR
    assert leaks(text, planted.phi) == []
    assert "fracture" in text


def test_text_hidden_under_an_image_does_not_vouch_for_the_image() -> None:
    """The text layer says "normal study" where an opaque image shows a name: OCR decides."""
    pdf = FPDF(unit="pt", format="letter")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.text(72, 100, "Impression: normal study without change.")
    pdf.image(io.BytesIO(text_image("Zorvaxel Quintrak", size=16)), x=68, y=86, w=190)
    out, regions = redact_pdf(
        bytes(pdf.output()), PhiDetector(), get_engine("rapidocr"), (), PdfOptions(dpi=DPI)
    )
    text = "\n".join(ocr_pages(out))
    assert regions >= 1
    assert leaks(text, ("Zorvaxel", "Quintrak")) == []


def test_redact_all_masks_every_word() -> None:
    planted = encapsulated_pdf(seed=5)
    detector = PhiDetector(DetectorConfig(redact_all=True))
    out, regions = redact_pdf(planted.document, detector, NoTextEngine(), (), PdfOptions(dpi=DPI))
    assert regions >= 3
    image = np.asarray(pdfium.PdfDocument(out)[0].render(scale=DPI / 72).to_pil().convert("L"))
    # every text line of the report is a black bar now: no light pixel between glyphs
    line_y = int((200 - 4) * DPI / 72)  # the findings line, baseline at 200 pt
    row = image[line_y, int(72 * DPI / 72) : int(300 * DPI / 72)]
    assert (row < 60).all()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encrypted_pdf(user_password=True), "encrypted"),
        (encrypted_pdf(user_password=False), "encrypted"),
        (corrupt_pdf(), "unreadable"),
        (b"", "unreadable"),
        (b"not a pdf at all", "unreadable"),
    ],
)
def test_documents_that_cannot_be_cleaned(data: bytes, reason: str) -> None:
    with pytest.raises(DocumentNotCleanableError) as info:
        redact_pdf(data, PhiDetector(), NoTextEngine())
    assert info.value.reason == reason
    assert isinstance(info.value, SparkDeidError)
    assert "VRAXOLIN" not in str(info.value) and "KEZZEL" not in str(info.value)


def test_page_limit() -> None:
    planted = encapsulated_pdf(seed=9, pages=3)
    with pytest.raises(DocumentNotCleanableError) as info:
        redact_pdf(planted.document, PhiDetector(), NoTextEngine(), (), PdfOptions(page_limit=2))
    assert info.value.reason == "too-many-pages"


def test_pages_too_large_to_render() -> None:
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(14_400, 14_400)  # 200 x 200 inches
    buffer = io.BytesIO()
    pdf.save(buffer)
    with pytest.raises(DocumentNotCleanableError) as info:
        redact_pdf(buffer.getvalue(), PhiDetector(), NoTextEngine(),
                   options=PdfOptions(max_page_pixels=1_000_000))
    assert info.value.reason == "page-too-large"


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        PdfOptions(dpi=10)
    with pytest.raises(ValueError):
        PdfOptions(page_limit=0)


def test_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(DocumentNotCleanableError("PDF is encrypted", "encrypted")))
    assert (str(error), error.reason) == ("PDF is encrypted", "encrypted")
