"""Encapsulated PDF: find the PHI on every page, black it out, rebuild the PDF from images.

Why the output is rasterised (with a new text layer)
----------------------------------------------------
A PDF hides text in many more places than its visible page: the Info
dictionary and XMP metadata, annotations and their pop-ups, form field
values, attachments, JavaScript, earlier revisions kept by incremental
updates, text drawn invisibly or under an image, and the text layer itself
(a black rectangle drawn over a name leaves the name extractable). Editing
the file in place means trusting that every hiding place was found. Instead
each page is rendered, the PHI on the rendered page is painted black, and a
**new** PDF is built that holds nothing but those page images, one per page
at the page's displayed size (rotation applied).

Over each image lies a new, invisible text layer (the "OCR sandwich" of
searchable scans: text render mode 3, Helvetica, WinAnsi) holding only the
words the cleaning kept, each placed and stretched over its box, so the
output can be searched and copied. It is built from the page's findings,
never copied from the source, and fails closed: a text-layer word is kept
only when OCR read the same word on the rendered page (so text hidden from
view stays out), none of its characters is PHI and no mask touches its
middle; an OCR-only word only when no entity touches it and the detector
is confidently sure it is safe (:meth:`~sparkdeid.ner.detect.PhiDetector.confidently_safe`).
Words with characters outside WinAnsi, and words whose direction on the
page cannot be told, are left out. ``redact_all`` leaves the layer empty.

Pages are stored as JPEG (:data:`JPEG_QUALITY`, grey pages as one channel):
pdfium keeps a raw bitmap in memory until it saves, so lossless pages would
cost ~6 MB each at 150 dpi and a 200-page report over a gigabyte; JPEG keeps
only compressed bytes, and the masks are painted before compression, so no
trace of a masked word survives in the coefficients.

How PHI is found on a page
--------------------------
1. Annotations and form fields are flattened into the page, so their text
   joins the text layer and their appearance is rendered.
2. **Text layer** (pdfium's characters and their boxes): exact text, so it is
   judged by :meth:`~sparkdeid.ner.detect.PhiDetector.detect_document` (the
   recognizers: the DICOM header's own values, rules, names); entity spans
   become the boxes of the words they touch through
   :func:`~sparkdeid.ner.finder.locate`.
3. **Rendered page, OCR** (:func:`~sparkdeid.ocr.frame_ocr.read_frame`).
   An OCR word lying on text-layer characters that read the same is judged
   by the text layer; when those characters are PHI its own box is masked
   too, in case a font's character boxes miss some ink. Every other OCR
   word (text inside embedded images and scans, and visible text that
   disagrees with the text layer beneath it: text hidden under an image,
   fonts without a Unicode map) goes through
   :meth:`~sparkdeid.ner.detect.PhiDetector.detect_frame`, which fails
   closed: a word not confidently safe is masked.

Encrypted PDFs (with or without a user password), PDFs pdfium cannot open,
more pages than the limit and pages that fail to render raise
:class:`~sparkdeid.errors.DocumentNotCleanableError`; its message names the
problem, never the document's text.

pdfium is not thread-safe: call this from one thread per process (Spark's
Python workers are processes).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import io
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from sparkdeid.boxes import Box, Region
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.documents.pdf_text import SearchableWord, TextLayerFont, place_words
from sparkdeid.errors import DocumentNotCleanableError
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.ner.detect import REDACT_ALL, PhiDetector
from sparkdeid.ner.finder import locate
from sparkdeid.ocr.base import FrameText, OcrEngine, PlacedWord
from sparkdeid.ocr.frame_ocr import read_frame

logger = logging.getLogger(__name__)

DEFAULT_DPI = 150
DEFAULT_PAGE_LIMIT = 200
# Rendering bounds: below 50 dpi OCR cannot read body text; the pixel cap
# (an A0 poster at 150 dpi is ~35 MP) keeps one huge page from exhausting memory.
MIN_DPI = 50
MAX_DPI = 600
MAX_PAGE_PIXELS = 50_000_000
# Mask padding in points (1/72 in): covers anti-aliased glyph edges at any dpi.
PADDING_POINTS = 1.5
JPEG_QUALITY = 90
# OCR and text layer "read the same" above this similarity (OCR misreads a
# letter or two; text hidden under an image reads as something else entirely).
_SAME_TEXT = 0.75
_POINTS_PER_INCH = 72.0


@dataclass(frozen=True)
class PdfOptions:
    """How pages are rendered and masked.

    Parameters
    ----------
    dpi
        Render resolution for OCR and for the output page images. 150 dpi
        reads 8-point text; higher costs OCR time quadratically.
    page_limit
        PDFs with more pages are not cleaned (OCR costs seconds a page).
    max_page_pixels
        A page larger than this at ``dpi`` is rendered at the resolution that
        fits (never below :data:`MIN_DPI`, else the PDF is not cleanable).
    padding_points
        Added on every side of a masked word, in points.
    """

    dpi: int = DEFAULT_DPI
    page_limit: int = DEFAULT_PAGE_LIMIT
    max_page_pixels: int = MAX_PAGE_PIXELS
    padding_points: float = PADDING_POINTS

    def __post_init__(self) -> None:
        if not MIN_DPI <= self.dpi <= MAX_DPI:
            raise ValueError(f"dpi must be between {MIN_DPI} and {MAX_DPI}")
        if self.page_limit < 1:
            raise ValueError("page_limit must be at least 1")
        if self.max_page_pixels < 1 or self.padding_points < 0:
            raise ValueError("max_page_pixels must be positive and padding_points >= 0")


def redact_pdf(
    data: bytes,
    detector: PhiDetector,
    engine: OcrEngine,
    header: tuple[HeaderTerm, ...] = (),
    options: PdfOptions | None = None,
) -> tuple[bytes, int]:
    """A new PDF of the masked page images, and the number of regions masked.

    Parameters
    ----------
    data
        The PDF file.
    detector
        Decides what is PHI (its ``redact_all`` masks every word, text layer included).
    engine
        OCR back-end for the rendered pages.
    header
        The DICOM file's identifying values (found in the text however written).
    options
        Resolution, page limit, padding.

    Raises
    ------
    DocumentNotCleanableError
        Encrypted, unreadable, empty or too long; a page too large or unrenderable.
    """
    options = options or PdfOptions()
    source = _open(data)
    try:
        pages = len(source)
        if pages == 0:
            raise DocumentNotCleanableError("PDF has no pages", "no-pages")
        if pages > options.page_limit:
            raise DocumentNotCleanableError(
                f"PDF has {pages} pages, more than the limit of {options.page_limit}",
                "too-many-pages",
            )
        out = pdfium.PdfDocument.new()
        try:
            font = TextLayerFont(out)
            masked = kept = 0
            for index in range(pages):
                page = _clean_page(source, index, detector, engine, header, options)
                kept += _append_page(out, page, font)
                masked += page.regions
            buffer = io.BytesIO()
            out.save(buffer)
        finally:
            out.close()
    finally:
        source.close()
    logger.debug("PDF: %d page(s), %d region(s) masked, %d word(s) searchable", pages, masked,
                 kept)
    return _reproducible(buffer.getvalue()), masked


_CREATION_DATE = re.compile(rb"/CreationDate\s*\(D:[0-9+\-Z']{0,30}\)")
_FILE_ID = re.compile(rb"/ID\s*\[\s*<([0-9A-Fa-f]{32})>\s*<([0-9A-Fa-f]{32})>\s*\]")


def _reproducible(pdf: bytes) -> bytes:
    """pdfium's output without the clock: the same input gives the same bytes.

    pdfium stamps the processing time into the document info and draws the
    trailer's file identifier from it; re-runs, streaming replays and
    byte-identity tests need neither, and the time says when a release was
    made. The date becomes spaces and the identifier a digest of the rest of
    the file, each of the same length, so every cross-reference offset stays
    valid.
    """
    pdf = _CREATION_DATE.sub(lambda match: b" " * len(match.group()), pdf)
    found = _FILE_ID.search(pdf)
    if found is None:
        return pdf
    digest = hashlib.md5(pdf[: found.start()], usedforsecurity=False).hexdigest().upper()
    ident = digest.encode("ascii")
    return pdf[: found.start(1)] + ident + pdf[found.end(1) : found.start(2)] + ident + pdf[
        found.end(2) :
    ]


# --------------------------------------------------------------------------- opening


def _open(data: bytes) -> pdfium.PdfDocument:
    """Open with pdfium; refuse encrypted documents, prepare forms for flattening."""
    try:
        pdf = pdfium.PdfDocument(bytes(data))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentNotCleanableError("PDF is password-protected", "encrypted") from None
        raise DocumentNotCleanableError("PDF could not be opened", "unreadable") from None
    # -1: no security handler. An owner-password-only PDF opens, but its author
    # restricted what may be done with it: not ours to rewrite.
    if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf) != -1:
        pdf.close()
        raise DocumentNotCleanableError("PDF is encrypted", "encrypted")
    try:
        pdf.init_forms()  # so form values without an appearance are still drawn
    except Exception:  # a broken form only loses its drawing: nothing leaks
        logger.debug("PDF forms could not be initialised; rendering without them")
    return pdf


def _flattened_page(pdf: pdfium.PdfDocument, index: int) -> pdfium.PdfPage:
    """Page ``index`` with annotations and form fields merged into its content."""
    page = pdf[index]
    status = pdfium_c.FPDFPage_Flatten(page, pdfium_c.FLAT_NORMALDISPLAY)
    if status == pdfium_c.FLATTEN_SUCCESS:
        page.close()  # pdfium: a flattened page must be reloaded
        page = pdf[index]
    elif status == pdfium_c.FLATTEN_FAIL:
        # Annotations are still rendered and OCR'd (fail-closed); only their
        # text is missing from the text layer.
        logger.debug("page %d: annotations could not be flattened", index)
    return page


# --------------------------------------------------------------------------- one page


@dataclass(frozen=True)
class _TextLayer:
    """A page's text, one character per pdfium character index, and each one's pixel box."""

    text: str
    boxes: tuple[Box | None, ...]

    def words(self) -> list[PlacedWord]:
        """Whitespace-separated words with the union of their characters' boxes (OCR shape)."""
        words: list[PlacedWord] = []
        line = 0
        position = 0
        for begin, end in _word_spans(self.text):
            line += self.text.count("\n", position, begin)
            position = begin
            boxes = [b for b in self.boxes[begin:end] if b is not None]
            if not boxes:
                continue
            box = boxes[0]
            for other in boxes[1:]:
                box = box.union(other)
            words.append(PlacedWord(self.text[begin:end], begin, end, 1.0, box, line))
        return words


@dataclass(frozen=True)
class _CleanPage:
    """One page's output: the masked image, its displayed size in points, what was found."""

    image: np.ndarray
    size: tuple[float, float]
    regions: int
    words: tuple[SearchableWord, ...]


def _clean_page(
    pdf: pdfium.PdfDocument,
    index: int,
    detector: PhiDetector,
    engine: OcrEngine,
    header: tuple[HeaderTerm, ...],
    options: PdfOptions,
) -> _CleanPage:
    """The masked page image, the page's displayed size, the regions masked, the words kept."""
    try:
        page = _flattened_page(pdf, index)
    except pdfium.PdfiumError:
        raise DocumentNotCleanableError(f"PDF page {index + 1} could not be loaded",
                                        "render-failed") from None
    try:
        width, height = page.get_size()  # displayed size: /Rotate already applied
        scale = _render_scale(width, height, options)
        try:
            bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=True)
            image = np.array(bitmap.to_numpy()[..., :3], dtype=np.uint8)  # own copy
            layer = _text_layer(page, bitmap.get_posconv(page))
        except pdfium.PdfiumError:
            raise DocumentNotCleanableError(
                f"PDF page {index + 1} could not be rendered", "render-failed"
            ) from None
    finally:
        page.close()
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise DocumentNotCleanableError(f"PDF page {index + 1} rendered empty", "render-failed")
    pad = options.padding_points * scale
    regions, words = _phi_regions(image, layer, detector, engine, header, pad)
    for region in regions:
        x0, y0, x1, y1 = region.box.pixel_bounds()
        image[max(y0, 0) : y1, max(x0, 0) : x1] = 0
    logger.debug("page %d: %d character(s), %d region(s) masked, %d word(s) kept", index,
                 len(layer.text), len(regions), len(words))
    return _CleanPage(image, (float(width), float(height)), len(regions), tuple(words))


def _render_scale(width: float, height: float, options: PdfOptions) -> float:
    """Pixels per point: the requested dpi, lowered for pages too large to hold in memory."""
    if not (width > 0 and height > 0 and math.isfinite(width * height)):
        raise DocumentNotCleanableError("PDF page has no usable size", "render-failed")
    scale = options.dpi / _POINTS_PER_INCH
    if width * height * scale * scale > options.max_page_pixels:
        scale = math.sqrt(options.max_page_pixels / (width * height))
        if scale * _POINTS_PER_INCH < MIN_DPI:
            raise DocumentNotCleanableError("PDF page is too large to render", "page-too-large")
    return scale


def _text_layer(page: pdfium.PdfPage, to_pixels: Any) -> _TextLayer:
    """pdfium's characters and their loose boxes (font ascent to descent) in bitmap pixels."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range(0, count) if count > 0 else ""
        if len(text) != count:  # keep one character per index so spans map to boxes
            text = "".join((textpage.get_text_range(i, 1) or " ")[0] for i in range(count))
        text = "".join(_normal_char(c) for c in text)
        boxes: list[Box | None] = []
        for i, char in enumerate(text):
            if char.isspace():
                boxes.append(None)
                continue
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
            if not right > left or not top > bottom:
                boxes.append(None)
                continue
            corners = [to_pixels.to_bitmap(x, y) for x in (left, right) for y in (bottom, top)]
            boxes.append(Box.around(corners))
    finally:
        textpage.close()
    return _TextLayer(text, tuple(boxes))


def _normal_char(char: str) -> str:
    # pdfium ends lines with \r\n and marks soft hyphens with control codes;
    # spaces keep every character index where it was.
    if char == "\n":
        return char
    return " " if not char.isprintable() else char


def _phi_regions(
    image: np.ndarray,
    layer: _TextLayer,
    detector: PhiDetector,
    engine: OcrEngine,
    header: tuple[HeaderTerm, ...],
    pad: float,
) -> tuple[list[Region], list[SearchableWord]]:
    """Regions to paint (text-layer PHI, OCR words on that PHI, unvouched OCR words), words kept."""
    height, width = image.shape[:2]
    layer_words = layer.words()
    if detector.config.redact_all:
        layer_entities = [
            Entity(w.begin, w.end, REDACT_ALL, "redact_all") for w in layer_words
        ]
    else:
        layer_entities = detector.detect_document(layer.text, header)
    regions = _regions(layer_words, layer_entities, width, height, pad)

    phi_chars = np.zeros(len(layer.text), dtype=bool)
    for entity in layer_entities:
        phi_chars[entity.begin : entity.end] = True
    ocr = read_frame(engine, RenderedFrame(image, 1.0, height, width))
    on_phi, elsewhere, seen = _split_by_layer(ocr.words, layer, phi_chars)
    on_phi_rows = _relaid(on_phi)
    regions += _regions(
        on_phi_rows,
        [Entity(w.begin, w.end, "TEXT_LAYER", "text_layer") for w in on_phi_rows],
        width, height, pad,
    )
    rest = _relaid(elsewhere)
    frame = FrameText(_text_of(rest), tuple(rest), width, height)
    frame_entities = detector.detect_frame(frame, header)
    regions += _regions(rest, frame_entities, width, height, pad)
    if detector.config.redact_all:
        return regions, []
    kept = _kept_layer_words(layer, layer_words, phi_chars, seen)
    kept += _kept_ocr_words(frame.words, frame_entities, detector)
    masks = [region.box for region in regions]
    return regions, [w for w in kept if not _touches_mask(w.box, masks, pad)]


def _kept_layer_words(
    layer: _TextLayer, words: Sequence[PlacedWord], phi_chars: np.ndarray, seen: np.ndarray
) -> list[SearchableWord]:
    """Text-layer words with no PHI character whose every character OCR read on the page."""
    kept: list[SearchableWord] = []
    for word in words:
        begin, end = word.begin, word.end
        boxed = [i for i in range(begin, end) if layer.boxes[i] is not None]
        if not boxed or phi_chars[begin:end].any() or not seen[boxed].all():
            continue
        turn = _reading_turn([b for b in layer.boxes[begin:end] if b is not None])
        if turn is None:
            continue
        kept.append(SearchableWord(word.text, word.box, turn))
    return kept


def _kept_ocr_words(
    words: Sequence[PlacedWord], entities: Sequence[Entity], detector: PhiDetector
) -> list[SearchableWord]:
    """OCR-only words no entity touches and the detector is sure are safe.

    OCR boxes are upright: a word taller than wide (text turned on the
    page) cannot be oriented and is left out.
    """
    kept: list[SearchableWord] = []
    for word in words:
        if any(e.begin < word.end and e.end > word.begin for e in entities):
            continue
        if not detector.confidently_safe(word):
            continue
        if len(word.text) > 1 and word.box.height > word.box.width:
            continue
        kept.append(SearchableWord(word.text, word.box, 0))
    return kept


def _reading_turn(boxes: Sequence[Box]) -> int | None:
    """Clockwise quarter turns of a word's reading direction, from its characters' centres.

    One character cannot show a direction: it is taken as upright when its
    box is not taller than twice its width (else None: turned or unknown).
    """
    if len(boxes) == 1:
        return 0 if boxes[0].height <= 2 * boxes[0].width else None
    first, last = boxes[0], boxes[-1]
    dx = (last.x0 + last.x1 - first.x0 - first.x1) / 2
    dy = (last.y0 + last.y1 - first.y0 - first.y1) / 2
    if abs(dx) > 2 * abs(dy):
        return 0 if dx > 0 else 2
    if abs(dy) > 2 * abs(dx):
        return 1 if dy > 0 else 3
    return None  # slanted text: its box is no place to put it


def _touches_mask(box: Box, masks: Sequence[Box], pad: float) -> bool:
    """True when a mask reaches the word's core (the box less the padding and a quarter height).

    A neighbour's padded mask grazing the edge of a word leaves it readable
    on the page; one reaching its middle hides it, so it is left out.
    """
    inset_y = min(box.height / 4, box.height / 2 - 0.5)
    inset_x = min(pad, box.width / 2 - 0.5)
    core = Box(box.x0 + max(inset_x, 0.0), box.y0 + max(inset_y, 0.0),
               box.x1 - max(inset_x, 0.0), box.y1 - max(inset_y, 0.0))
    return any(core.overlaps(mask) for mask in masks)


def _regions(
    words: list[PlacedWord], entities: Sequence[Entity], width: int, height: int, pad: float
) -> list[Region]:
    if not words or not entities:
        return []
    return locate(FrameText("", tuple(words), width, height), entities,
                  padding=pad, merge_gap=pad)


def _split_by_layer(
    words: Sequence[PlacedWord], layer: _TextLayer, phi_chars: np.ndarray
) -> tuple[list[PlacedWord], list[PlacedWord], np.ndarray]:
    """OCR words on text-layer PHI, OCR words the text layer cannot vouch for, characters seen.

    An OCR word is on the text layer when characters of the layer have their
    centres inside its box and read the same; such a word is judged by the
    layer (exact text) and only kept for masking when those characters are PHI.
    Those characters are *seen*: shown on the rendered page as the layer says.
    """
    seen = np.zeros(len(layer.text), dtype=bool)
    indices = np.array([i for i, b in enumerate(layer.boxes) if b is not None], dtype=np.int64)
    centres = np.array(
        [((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2) for b in layer.boxes if b is not None],
        dtype=np.float64,
    ).reshape(-1, 2)
    on_phi: list[PlacedWord] = []
    elsewhere: list[PlacedWord] = []
    for word in words:
        inside = (
            (centres[:, 0] >= word.box.x0) & (centres[:, 0] < word.box.x1)
            & (centres[:, 1] >= word.box.y0) & (centres[:, 1] < word.box.y1)
        )
        under = np.sort(indices[inside])
        if under.size and _same_text(word.text, "".join(layer.text[i] for i in under)):
            seen[under] = True
            if phi_chars[under].any():
                on_phi.append(word)
        else:
            elsewhere.append(word)
    return on_phi, elsewhere, seen


def _compact(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _same_text(ocr_text: str, layer_text: str) -> bool:
    a, b = _compact(ocr_text), _compact(layer_text)
    if a == b:
        return True
    if not a or not b:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= _SAME_TEXT


def _relaid(words: Sequence[PlacedWord]) -> list[PlacedWord]:
    """A subset of a page's OCR words with spans renumbered into a text of their own.

    Words keep their line numbers (the detector groups by line); words of one
    line are joined by a space, lines by a newline.
    """
    out: list[PlacedWord] = []
    position = 0
    for word in words:
        if out:
            position += 1
        begin = position
        position += len(word.text)
        out.append(dataclasses.replace(word, begin=begin, end=position))
    return out


def _text_of(words: Sequence[PlacedWord]) -> str:
    parts: list[str] = []
    for index, word in enumerate(words):
        if index:
            parts.append("\n" if word.line != words[index - 1].line else " ")
        parts.append(word.text)
    return "".join(parts)


def _word_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    begin = -1
    for index, char in enumerate(text):
        if char.isspace():
            if begin >= 0:
                spans.append((begin, index))
                begin = -1
        elif begin < 0:
            begin = index
    if begin >= 0:
        spans.append((begin, len(text)))
    return spans


# --------------------------------------------------------------------------- output


def _append_page(out: pdfium.PdfDocument, cleaned: _CleanPage, font: TextLayerFont) -> int:
    """Add a page of the masked image (JPEG; one channel when grey) and its invisible words.

    Returns the number of words placed in the page's text layer.
    """
    image, size = cleaned.image, cleaned.size
    picture = Image.fromarray(image)
    if np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(
        image[..., 1], image[..., 2]
    ):
        picture = picture.convert("L")
    encoded = io.BytesIO()
    picture.save(encoded, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    encoded.seek(0)
    width, height = size
    page = out.new_page(width, height)
    try:
        obj = pdfium.PdfImage.new(out)
        obj.load_jpeg(encoded, inline=False, autoclose=True)
        obj.set_matrix(pdfium.PdfMatrix().scale(width, height))
        page.insert_obj(obj)
        placed = place_words(page, font, cleaned.words, (image.shape[1], image.shape[0]), size)
        page.gen_content()
    finally:
        page.close()
    return placed
