"""PDF redaction end to end: real pdfium, real rapidocr, synthetic reports with planted PHI.

The cleaned PDF is checked the way an attacker would read it: every text
pdfium can still extract, its metadata, annotations and attachments, every
byte of the file and of its inflated streams, and what OCR reads on the
rendered output pages. The findings sentence must stay readable, and its
words searchable in the invisible text layer, or the cleaner would be useless.
"""

from __future__ import annotations

import io
import re
import time
import zlib

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
    IMPRESSION,
    PlantedDocument,
    corrupt_pdf,
    encapsulated_pdf,
    encrypted_pdf,
    searchable_report,
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


def test_output_has_no_phi_text_metadata_or_annotations(
    planted: PlantedDocument, cleaned: tuple[bytes, int, float]
) -> None:
    out, regions, _ = cleaned
    assert out.startswith(b"%PDF-") and regions >= 3
    text = extracted_text(out)
    assert leaks(text, planted.phi + planted.image_phi) == []
    assert leaks(text, FINDINGS_WORDS) == list(FINDINGS_WORDS)  # the invisible layer
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


def test_the_same_document_gives_the_same_bytes(
    planted: PlantedDocument, cleaned: tuple[bytes, int, float]
) -> None:
    """No clock in the output: re-runs and streaming replays write identical files."""
    again, _ = redact_pdf(
        planted.document, PhiDetector(), get_engine("rapidocr"), header_terms_of(planted.ds),
        PdfOptions(dpi=DPI),
    )
    assert again == cleaned[0]
    assert b"CreationDate" not in again


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
    # the hidden words were never seen on the page: they stay out of the text layer
    assert leaks(extracted_text(out), ("Impression", "normal", "study", "Zorvaxel")) == []


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


# --------------------------------------------------------------------------- searchable output


def inflated_streams(data: bytes) -> list[bytes]:
    """Every FlateDecode stream of a PDF, inflated (each one must inflate)."""
    streams = []
    for match in re.finditer(rb"(?<!end)stream\r?\n", data):
        head = data[data.rfind(b" obj", 0, match.start()) : match.start()]
        if b"/FlateDecode" not in head:
            continue
        length = re.search(rb"/Length\s+(\d+)(?!\s+\d+\s+R)", head)
        assert length is not None, "stream length not given directly"
        body = data[match.end() : match.end() + int(length.group(1))]
        streams.append(zlib.decompress(body))
    return streams


def pdf_strings(data: bytes) -> str:
    """Text of every hex and literal string in ``data`` (UTF-16 when it says so, else cp1252)."""
    texts = []
    raw = [bytes.fromhex(h.decode()) for h in re.findall(rb"<([0-9A-Fa-f\s]+)>", data)]
    raw += [s.replace(b"\\", b"") for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\)", data)]
    for value in raw:
        if value.startswith(b"\xfe\xff"):
            texts.append(value[2:].decode("utf-16-be", "replace"))
        else:
            texts.append(value.decode("cp1252", "replace"))
    return " ".join(texts)


def word_box(data: bytes, word: str) -> tuple[float, float, float, float]:
    """Loose box (points) of the first ``word`` on page 1, as pdfium extracts it."""
    textpage = pdfium.PdfDocument(data)[0].get_textpage()
    count = textpage.count_chars()
    chars = [textpage.get_text_range(i, 1) for i in range(count)]
    text = "".join(c[:1] or " " for c in chars)
    start = text.index(word)
    boxes = [textpage.get_charbox(i, loose=True) for i in range(start, start + len(word))]
    return (
        min(b[0] for b in boxes), min(b[1] for b in boxes),
        max(b[2] for b in boxes), max(b[3] for b in boxes),
    )


@pytest.fixture(scope="module")
def report() -> PlantedDocument:
    return searchable_report(seed=11)


@pytest.fixture(scope="module")
def searchable(report: PlantedDocument) -> bytes:
    out, _ = redact_pdf(
        report.document, PhiDetector(), get_engine("rapidocr"), header_terms_of(report.ds),
        PdfOptions(dpi=DPI),
    )
    return out


def test_the_searchable_report_hides_phi_everywhere(report: PlantedDocument) -> None:
    """The input has the PHI in its text layer, Info, XMP and an attachment."""
    source = pdfium.PdfDocument(report.document)
    assert sorted(leaks(extracted_text(report.document), report.phi)) == sorted(
        set(report.phi) - {report.phi[-1]}  # the referring physician is in Info only
    )
    assert leaks(" ".join(source.get_metadata_dict().values()), report.phi)
    assert b"xmpmeta" in report.document and source.count_attachments() == 1


def test_text_layer_holds_kept_words_and_no_phi(report: PlantedDocument, searchable: bytes) -> None:
    text = extracted_text(searchable)
    assert leaks(text, report.phi) == []
    assert "Impression" in text and "cardiopulmonary" in text
    assert leaks(text, (IMPRESSION,)) == [IMPRESSION]
    assert "Patient:" in text  # the label is kept, the name beside it is not


def test_text_layer_reads_the_same_with_pypdf(report: PlantedDocument, searchable: bytes) -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(searchable))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Impression" in text and "cardiopulmonary" in text
    assert leaks(text, report.phi) == []
    assert reader.xmp_metadata is None and not reader.attachments
    assert leaks(" ".join(str(v) for v in (reader.metadata or {}).values()), report.phi) == []


def test_no_phi_in_any_byte_or_stream(report: PlantedDocument, searchable: bytes) -> None:
    streams = inflated_streams(searchable)
    assert streams  # the page content, with the text layer
    assert any(b" 3 Tr" in s for s in streams)
    layers = [searchable, *streams]
    everything = " ".join(
        part for data in layers for part in (data.decode("latin-1"), pdf_strings(data))
    )
    assert leaks(everything, report.phi) == []
    assert "cardiopulmonary" in pdf_strings(b"".join(streams))  # the search reaches the layer
    assert b"/Metadata" not in searchable and b"xmpmeta" not in b"".join(layers)
    assert b"/EmbeddedFiles" not in searchable and b"/Annots" not in searchable


def test_pages_hold_the_image_and_invisible_helvetica_only(searchable: bytes) -> None:
    pdf = pdfium.PdfDocument(searchable)
    assert pdf.count_attachments() == 0
    objects = list(pdf[0].get_objects())
    kinds = [obj.type for obj in objects]
    assert kinds.count(pdfium_c.FPDF_PAGEOBJ_IMAGE) == 1
    texts = [obj for obj in objects if obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT]
    assert len(texts) == len(objects) - 1 >= 10
    for obj in texts:
        assert pdfium_c.FPDFTextObj_GetTextRenderMode(obj) == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
        assert obj.get_font().get_base_name() == "Helvetica"


@pytest.mark.parametrize("word", ["Impression", "cardiopulmonary", "Radiology"])
def test_kept_words_land_where_the_page_shows_them(
    report: PlantedDocument, searchable: bytes, word: str
) -> None:
    before, after = word_box(report.document, word), word_box(searchable, word)
    assert after == pytest.approx(before, abs=1.0)  # points; a pixel at 100 dpi is 0.72


def test_searchable_output_renders(searchable: bytes) -> None:
    pdf = pdfium.PdfDocument(searchable)
    assert pdf[0].get_size() == pytest.approx((612.0, 792.0))
    image = np.asarray(pdf[0].render(scale=DPI / 72).to_pil().convert("L"))
    assert image.shape == (round(792 * DPI / 72), round(612 * DPI / 72))
    assert (image < 60).any() and (image > 200).mean() > 0.5  # ink and masks on white


def test_redact_all_leaves_the_text_layer_empty(report: PlantedDocument) -> None:
    detector = PhiDetector(DetectorConfig(redact_all=True))
    out, _ = redact_pdf(report.document, detector, get_engine("rapidocr"), (),
                        PdfOptions(dpi=DPI))
    assert extracted_text(out).strip() == ""
