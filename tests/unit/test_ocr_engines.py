"""OCR back-ends on synthetic frames: real rapidocr runs (no mocks), registry, adapters.

Every frame carries the kind of text a modality burns in (a name, dates, an
MRN, orientation and scale labels) at the four corners and the edges, ink
touching the border, at the sizes and contrasts where PP-OCR's defaults lose
it. A planted text counts as found when the words whose boxes overlap it
cover all of its ink and read close to what was written (OCR may confuse
``^`` with ``×`` or ``l`` with ``1``; NER copes, a missing box does not).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sparkdeid.boxes import Box
from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ocr import registry
from sparkdeid.ocr.base import OcrEngine, OcrLine, OcrWord, layout_text
from sparkdeid.ocr.paddle import PaddleOcrEngine
from sparkdeid.ocr.rapid import RapidOcrEngine, RapidOcrOptions, line_along_quad, model_files
from sparkdeid.ocr.tesseract import TesseractEngine, group_lines
from tests.ocr_images import (
    SAMPLE_TEXTS,
    Planted,
    coverage,
    font_kinds,
    frame_with_texts,
    similarity,
)

MIN_SIMILARITY = 0.7
MIN_COVERAGE = 0.95


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return registry.get_engine("rapidocr")


def words_on(lines: list[OcrLine], planted: Planted) -> list[OcrWord]:
    """Words whose box overlaps the planted ink box by at least 30 % of the smaller box."""
    out = []
    for line in lines:
        for word in line.words:
            w, p = word.box, planted.box
            inter = max(0.0, min(w.x1, p.x1) - max(w.x0, p.x0)) * max(
                0.0, min(w.y1, p.y1) - max(w.y0, p.y0)
            )
            if inter >= 0.3 * max(min(w.area, p.area), 1.0):
                out.append(word)
    return out


def assert_found(lines: list[OcrLine], planted: list[Planted], skip: tuple[str, ...] = ()) -> None:
    problems = []
    for p in planted:
        if p.text in skip:
            continue
        words = words_on(lines, p)
        read = " ".join(w.text for w in words)
        cov = coverage(p, [w.box for w in words])
        sim = similarity(p.text, read)
        if cov < MIN_COVERAGE or sim < MIN_SIMILARITY:
            problems.append(f"{p.text!r}: read {read!r} (similarity {sim:.2f}), ink {cov:.2f}")
    assert not problems, "; ".join(problems)


# --- rapidocr on the hard cases -------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "value", "bg"),
    [
        (8, 110, "black"),  # 8 px, mid-grey
        (8, 255, "black"),
        (10, 110, "noise"),  # the case PP-OCR's defaults miss: mid-grey on a noisy dark frame
        (10, 130, "noise"),
        (12, 255, "texture"),  # white over anatomy-like texture
        (8, 90, "black"),
    ],
)
def test_small_and_faint_text_at_corners_and_edges_is_found(engine, size, value, bg):
    image, planted = frame_with_texts(size=size, value=value, bg=bg, seed=size)
    assert_found(engine.read(image), planted)


@pytest.mark.parametrize(
    ("font", "size", "value", "bg"),
    [
        ("bitmap", 11, 255, "black"),  # Pillow's fixed bitmap font
        ("bitmap", 11, 110, "noise"),
        ("dejavu-sans", 8, 110, "black"),
        ("dejavu-mono", 12, 90, "black"),
        ("dejavu-sans", 12, 255, "texture"),
    ],
)
def test_other_fonts(engine, font, size, value, bg):
    if font not in font_kinds():
        pytest.skip(f"font {font} is not installed (fonts-dejavu-core)")
    image, planted = frame_with_texts(size=size, value=value, bg=bg, font_kind=font, seed=3)
    # single isolated letters are the detector's weakest case; names, dates and ids are not
    skip = ("R",) if bg == "texture" else ()
    assert_found(engine.read(image), planted, skip=skip)


def test_rgb_frames_read_like_grey_ones(engine):
    grey, planted = frame_with_texts(size=10, value=200)
    rgb, _ = frame_with_texts(size=10, value=200, rgb=True)
    assert rgb.shape == (512, 512, 3)
    lines = engine.read(rgb)
    assert_found(lines, planted)
    assert [line.text for line in lines] == [line.text for line in engine.read(grey)]


def test_words_are_split_with_their_own_boxes(engine):
    image, planted = frame_with_texts(["MRN 12345678", "2013 Jul 13"], size=14, value=255)
    lines = engine.read(image)
    by_text = {line.text: line for line in lines}
    assert set(by_text) == {"MRN 12345678", "2013 Jul 13"}
    for p in planted:
        line = by_text[p.text]
        assert [w.text for w in line.words] == p.text.split()
        # consecutive words meet inside the blank gap between their inks
        ink_columns = np.flatnonzero(p.ink.any(axis=0)) + p.box.x0
        for left, right in zip(line.words, line.words[1:], strict=False):
            assert left.box.x1 <= right.box.x0 + 0.5
            before = ink_columns[ink_columns < left.box.x1]
            after = ink_columns[ink_columns >= right.box.x0]
            assert before.size and after.size
            gap = (before.max() + 1, after.min())
            assert gap[0] - 1 <= left.box.x1 <= gap[1] + 1
        assert coverage(p, [w.box for w in line.words]) == 1.0
        for word in line.words:
            assert 0.0 <= word.confidence <= 1.0
            assert word.box.y0 <= p.box.y0 and word.box.y1 >= p.box.y1


def test_layout_text_of_engine_output_maps_spans_back_to_words(engine):
    image, _ = frame_with_texts(["DOE^JOHN", "06/16/1976"], size=12, value=255)
    frame = layout_text(engine.read(image))
    for word in frame.words:
        assert frame.text[word.begin : word.end] == word.text
    assert "06/16/1976" in frame.text


def test_frames_without_text_give_no_lines(engine):
    assert engine.read(np.zeros((256, 320), np.uint8)) == []
    assert engine.read(np.full((64, 64, 3), 200, np.uint8)) == []


def test_bad_input_is_rejected(engine):
    with pytest.raises(ValueError, match="uint8"):
        engine.read(np.zeros((32, 32), np.uint16))
    with pytest.raises(ValueError, match="H x W"):
        engine.read(np.zeros((32, 32, 4), np.uint8))


def test_upscale_small_keeps_boxes_in_frame_pixels():
    small = RapidOcrEngine({"upscale_small": 2.0, "det_limit_side_len": 256})
    image, planted = frame_with_texts(["06/16/1976", "DOE^JOHN"], size=10, value=160,
                                      shape=(200, 300))
    lines = small.read(image)
    assert_found(lines, planted)
    assert all(0 <= w.box.x0 <= w.box.x1 <= 300 and 0 <= w.box.y0 <= w.box.y1 <= 200
               for line in lines for w in line.words)


def test_detect_returns_line_quads_without_recognition(engine):
    image, planted = frame_with_texts(["AXIAL"], size=12, value=255)
    quads = engine.detect(image)
    assert len(quads) == 1
    assert coverage(planted[0], [Box.around(quads[0].points)]) == 1.0


# --- geometry helpers (pure) ----------------------------------------------------------------


def test_line_along_quad_tiles_the_line_and_splits_at_gaps():
    quad = np.array([[10, 20], [110, 20], [110, 32], [10, 32]], np.float32)
    spans = [(i / 10, (i + 1) / 10) for i in range(10)]  # "AB CD  EFG" laid out evenly
    line = line_along_quad("AB CD  EFG", 0.9, quad, char_spans=spans,
                           char_confs=[1.0, 0.5] + [0.9] * 8)
    assert line is not None
    assert [w.text for w in line.words] == ["AB", "CD", "EFG"]
    boxes = [w.box for w in line.words]
    assert boxes[0].x0 == 10 and boxes[-1].x1 == 110
    assert boxes[0].x1 == pytest.approx(35) and boxes[1].x0 == pytest.approx(35)
    assert boxes[1].x1 == pytest.approx(70) and boxes[2].x0 == pytest.approx(70)
    assert all(b.y0 == 20 and b.y1 == 32 for b in boxes)
    assert line.words[0].confidence == pytest.approx(0.75)
    assert line_along_quad("   ", 0.9, quad) is None


def test_line_along_quad_follows_a_turned_line():
    quad = np.array([[0, 0], [10, 0], [10, 100], [0, 100]], np.float32)  # tall: reads downwards
    line = line_along_quad("AB CD", 0.8, quad, vertical=True)
    assert line is not None
    first, second = (w.box for w in line.words)
    assert first.y0 == 0 and second.y1 == 100 and first.y1 <= second.y0 + 1e-6
    assert first.x0 == 0 and first.x1 == 10


# --- registry ---------------------------------------------------------------------------------


def test_engine_is_loaded_once_per_process_and_options():
    first = registry.get_engine()
    assert registry.get_engine("rapidocr") is first
    assert registry.get_engine("RapidOCR", {}) is first
    tuned = registry.get_engine("rapidocr", {"det_box_thresh": 0.4, "border": 4})
    assert registry.get_engine("rapidocr", {"border": 4, "det_box_thresh": 0.4}) is tuned
    assert tuned is not first
    assert isinstance(first, OcrEngine) and first.name == "rapidocr"


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(ValueError, match="paddleocr.*rapidocr.*tesseract"):
        registry.get_engine("easyocr")


def test_unknown_options_are_an_error():
    with pytest.raises(ValueError, match="det_box_thres"):
        registry.get_engine("rapidocr", {"det_box_thres": 0.3})
    with pytest.raises(ValueError, match="det_limit_type"):
        RapidOcrOptions.from_mapping({"det_limit_type": "middle"})


def test_missing_package_names_what_to_install(monkeypatch):
    spec = registry.EngineSpec(
        "fake", "sparkdeid.ocr.fake:Fake", ("sparkdeid_no_such_module",), "pip install fakeocr"
    )
    monkeypatch.setitem(registry.ENGINES, "fake", spec)
    assert "fake" not in registry.available_engines()
    with pytest.raises(BackendUnavailableError, match="no_such_module.*pip install fakeocr"):
        registry.get_engine("fake")


def test_available_engines_and_frozen_options():
    assert "rapidocr" in registry.available_engines()
    assert set(registry.available_engines()) <= set(registry.known_engines())
    nested = registry.freeze({"b": [1, {"c": 2}], "a": 1})
    assert nested == registry.freeze({"a": 1, "b": (1, {"c": 2})})
    with pytest.raises(ValueError):
        registry.freeze({"a": bytearray(b"x")})


def test_missing_model_files_are_reported_not_downloaded(tmp_path):
    with pytest.raises(BackendUnavailableError, match="det, rec"):
        model_files(str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="model_dir"):
        RapidOcrEngine({"model_dir": str(tmp_path)})


# --- tesseract ------------------------------------------------------------------------------

TESSERACT_MISSING = registry.missing_requirements("tesseract")


@pytest.mark.skipif(
    bool(TESSERACT_MISSING),
    reason=f"tesseract engine needs {', '.join(TESSERACT_MISSING)}: apt-get install tesseract-ocr, "
    "pip install pytesseract",
)
def test_tesseract_reads_lines_of_words():
    tess = registry.get_engine("tesseract")
    image, planted = frame_with_texts(
        ["MRN 12345678", "2013 Jul 13", "AXIAL"], size=16, value=255, margin=6
    )
    lines = tess.read(image)
    assert_found(lines, planted)
    by_text = {line.text: line for line in lines}
    assert [w.text for w in by_text["MRN 12345678"].words] == ["MRN", "12345678"]
    assert all(0.0 <= w.confidence <= 1.0 for line in lines for w in line.words)


def test_tesseract_groups_words_by_block_paragraph_line():
    data = {
        "level": [5, 5, 4, 5, 5],
        "page_num": [1, 1, 1, 1, 1],
        "block_num": [1, 1, 1, 2, 1],
        "par_num": [1, 1, 1, 1, 1],
        "line_num": [1, 1, 1, 1, 2],
        "left": [40, 10, 0, 300, 10],
        "top": [10, 12, 0, 10, 60],
        "width": [20, 20, 100, 30, 40],
        "height": [10, 10, 30, 10, 10],
        "conf": ["91", 95.5, "-1", 40, 70],
        "text": ["DOE", "JOHN", "", "R", "  "],
    }
    lines = group_lines(data, scale=2.0)
    assert [line.text for line in lines] == ["JOHN DOE", "R"]
    assert lines[0].words[0].box == Box(5, 5, 17.5, 11)  # widened to the gap middle, line height
    assert lines[0].words[0].confidence == pytest.approx(0.955)
    assert group_lines(data, scale=1.0, min_confidence=0.5)[-1].text == "JOHN DOE"


def test_tesseract_without_program_names_both_packages(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(BackendUnavailableError, match="pytesseract") as info:
        TesseractEngine({})
    assert "tesseract-ocr" in str(info.value)


# --- paddleocr: only the unavailable paths (the package is not installed in CI) ---------------


def test_paddleocr_without_models_explains_how_to_provide_them(tmp_path):
    with pytest.raises(BackendUnavailableError, match="model_dir.*never downloads|never downloads"):
        PaddleOcrEngine({})
    (tmp_path / "det").mkdir()
    with pytest.raises(BackendUnavailableError, match="missing for det .*rec"):
        PaddleOcrEngine({"model_dir": str(tmp_path)})


def test_paddleocr_registry_names_the_packages(tmp_path):
    for task in ("det", "rec"):
        folder = tmp_path / task
        folder.mkdir()
        (folder / "inference.pdiparams").write_bytes(b"")
        (folder / "inference.pdmodel").write_bytes(b"")
    missing = registry.missing_requirements("paddleocr")
    if not missing:
        pytest.skip("paddleocr is installed here; only the unavailable path is tested")
    with pytest.raises(BackendUnavailableError, match="paddleocr"):
        registry.get_engine("paddleocr", {"model_dir": str(tmp_path)})
    with pytest.raises(BackendUnavailableError, match="pip install paddleocr"):
        PaddleOcrEngine({"model_dir": str(tmp_path)})


def test_sample_texts_cover_the_brief():
    assert {"DOE^JOHN", "06/16/1976", "2013 Jul 13", "MRN 12345678", "R", "5 cm", "AXIAL"} <= set(
        SAMPLE_TEXTS
    )
