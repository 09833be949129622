"""The burned-in-text corpus and its answer key, and the pixel masking metrics."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from tests.pixel_factory import (
    FONT_HEIGHTS,
    LOSSY_TRANSFER_SYNTAXES,
    NON_PHI_PADDING,
    PixelCase,
    PixelCorpus,
    TextMark,
    black_value,
    build_pixel_corpus,
    changed_non_phi_share,
    decode_frames,
    phi_box_masked_share,
    pixel_data_identical,
    pixel_transfer_syntaxes,
    score_corpus,
    write_masked_reference,
    write_with_pixels,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PixelCorpus:
    return build_pixel_corpus(tmp_path_factory.mktemp("pixels"))


@pytest.fixture(scope="module")
def reference(corpus: PixelCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    write_masked_reference(corpus, out)
    return out


def _first(corpus: PixelCorpus, **wanted: object) -> PixelCase:
    for case in corpus:
        if all(getattr(case, k) == v for k, v in wanted.items()) and case.phi:
            return case
    raise LookupError(wanted)


def _range(case: PixelCase) -> int:
    return (1 << case.bits_stored) - 1


# -- the corpus ------------------------------------------------------------


def test_default_corpus_has_the_promised_size_and_every_usable_syntax(
    corpus: PixelCorpus,
) -> None:
    assert 40 <= len(corpus) <= 60
    assert corpus.transfer_syntaxes() == set(pixel_transfer_syntaxes())
    assert set(LOSSY_TRANSFER_SYNTAXES) & corpus.transfer_syntaxes()
    for case in corpus:
        assert case.lossy == (case.transfer_syntax in LOSSY_TRANSFER_SYNTAXES)
        assert (case.tolerance > 0) == case.lossy
    assert len({c.relpath for c in corpus}) == len(corpus)


def test_every_file_reads_and_decodes_to_the_recorded_geometry(corpus: PixelCorpus) -> None:
    for case in corpus:
        ds = dcmread(case.path)
        assert ds.file_meta.TransferSyntaxUID == case.transfer_syntax, case.describe()
        assert (ds.Rows, ds.Columns) == (case.rows, case.columns)
        assert ds.PhotometricInterpretation == case.photometric
        assert (ds.BitsAllocated, ds.BitsStored) == (case.bits_allocated, case.bits_stored)
        assert ds.PixelRepresentation == int(case.signed)
        assert int(ds.get("NumberOfFrames", 1)) == case.frames
        assert ds.SOPInstanceUID == case.sop_instance_uid
        assert ("LossyImageCompression" in ds) == case.lossy
        assert ("WindowCenter" in ds) == case.windowed
        assert ("RescaleSlope" in ds) == case.rescaled
        pixels = decode_frames(case.path)
        assert pixels.shape == (case.frames, case.rows, case.columns, case.samples_per_pixel)
        low = -(1 << (case.bits_stored - 1)) if case.signed else 0
        assert low <= pixels.min() and pixels.max() <= low + _range(case)


def test_composition_covers_formats_frames_and_sizes(corpus: PixelCorpus) -> None:
    photometrics = {c.photometric for c in corpus}
    assert {"MONOCHROME1", "MONOCHROME2", "RGB"} <= photometrics
    if JPEGBaseline8Bit in pixel_transfer_syntaxes():
        assert {c.photometric for c in corpus if c.transfer_syntax == JPEGBaseline8Bit} == {
            "YBR_FULL_422",
            "MONOCHROME2",
        }
    twelve = [c for c in corpus if c.bits_stored == 12]
    assert {c.signed for c in twelve} == {True, False}
    assert {c.windowed for c in twelve} == {True, False}
    assert any(c.rescaled for c in twelve)
    assert any(c.bits_stored == 8 and c.samples_per_pixel == 1 for c in corpus)

    multi = [c for c in corpus if c.frames > 1 and c.has_text]
    assert all(3 <= c.frames <= 5 for c in corpus if c.frames > 1)
    assert any(c.text_on_some_frames_only for c in multi)
    assert any(not c.text_on_some_frames_only for c in multi)
    assert all(not c.text_on_some_frames_only for c in corpus if c.frames == 1)

    for case in corpus:
        assert 256 <= case.rows <= 768 and 256 <= case.columns <= 768
    assert sum((c.rows, c.columns) == (512, 512) for c in corpus) > len(corpus) / 2
    assert {c.identity_source for c in corpus} == {"pseudo", "faker"}


def test_a_fifth_of_the_files_have_no_text_across_syntaxes(corpus: PixelCorpus) -> None:
    blank = corpus.no_text_cases()
    assert len(blank) >= len(corpus) / 5
    syntaxes = {c.transfer_syntax for c in blank}
    assert len(syntaxes) >= 5
    assert any(ts.is_compressed for ts in syntaxes) and any(not ts.is_compressed for ts in syntaxes)
    assert any(c.lossy for c in blank)
    for case in blank:
        assert case.phi == case.safe == case.labels == ()
        assert dcmread(case.path).get("BurnedInAnnotation") in (None, "NO")
    # and text files carry enough text to be worth scoring
    for case in corpus.text_cases():
        assert len(case.phi) >= 2 and case.safe, case.describe()


def _marks_and_frames(case: PixelCase) -> list[tuple[TextMark, int]]:
    return [(m, f) for m in case.marks for f in m.frames]


def test_boxes_are_tight_around_ink_inside_the_image_and_apart(corpus: PixelCorpus) -> None:
    for case in corpus:
        for mark in case.marks:
            x0, y0, x1, y1 = mark.bounds
            assert (x0, y0, x1, y1) == (mark.box.x0, mark.box.y0, mark.box.x1, mark.box.y1)
            assert 0 <= x0 < x1 <= case.columns and 0 <= y0 < y1 <= case.rows
            crop = mark.ink_crop
            assert crop.dtype == bool and crop.shape == (y1 - y0, x1 - x0)
            # tight: ink on every edge of the box
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
            full = mark.ink
            assert full.shape == (case.rows, case.columns)
            assert full.sum() == crop.sum() == mark.ink_pixels > 0
            assert not full[:y0].any() and not full[y1:].any()
            assert not full[:, :x0].any() and not full[:, x1:].any()
            assert mark.frames and set(mark.frames) <= set(range(case.frames))
        # a padded PHI box never reaches safe text (labels sit one space from their value)
        for phi in case.phi:
            grown = phi.box.padded(NON_PHI_PADDING)
            for safe in case.safe:
                if set(safe.frames) & set(phi.frames):
                    assert not grown.overlaps(safe.box), (case.describe(), phi.kind, safe.kind)


def test_the_drawn_text_is_in_the_decoded_pixels_only_on_its_frames(
    corpus: PixelCorpus,
) -> None:
    checked_absent = 0
    for case in corpus.text_cases():
        pixels = decode_frames(case.path).astype(np.float64)
        low = -(1 << (case.bits_stored - 1)) if case.signed else 0
        values = (pixels - low) / _range(case)
        for mark in case.marks:
            x0, y0, x1, y1 = mark.box.padded(2).clipped(case.columns, case.rows).pixel_bounds()
            for f in range(case.frames):
                any_ink = np.zeros((case.rows, case.columns), dtype=bool)
                for other in case.marks_on(f):
                    any_ink |= other.ink
                region, ink = values[f, y0:y1, x0:x1], mark.ink[y0:y1, x0:x1]
                background = region[~any_ink[y0:y1, x0:x1]]  # (pixels, samples)
                contrast = np.abs(region[ink].mean(axis=0) - np.median(background, axis=0)).max()
                if f in mark.frames:
                    assert contrast > 0.2, (case.describe(), mark.kind, mark.contrast, f)
                else:
                    assert contrast < 0.1, (case.describe(), mark.kind, f)
                    checked_absent += 1
    assert checked_absent > 0


def test_text_varies_in_size_font_contrast_and_wording(corpus: PixelCorpus) -> None:
    phi = [m for c in corpus for m in c.phi]
    safe = [m for c in corpus for m in c.safe]
    assert set(FONT_HEIGHTS) <= {m.height for m in phi}
    fonts = {m.font for m in phi}
    assert {"pil-default", "pil-bitmap"} <= fonts
    if Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").is_file():
        assert {"dejavu-sans", "dejavu-mono", "dejavu-serif"} <= fonts
    assert {"white-on-black", "grey-on-dark", "white-on-texture", "dark-on-bright"} <= {
        m.contrast for m in phi
    }
    assert any(m.contrast.startswith("colour") for m in phi)

    kinds = Counter(m.kind for m in phi)
    for kind in (
        "patient_name", "patient_id", "birth_date", "study_date", "study_time",
        "accession", "institution", "physician", "other_name", "other_date",
    ):  # fmt: skip
        assert kinds[kind] >= 3, kind
    names = [m.text for m in phi if m.kind == "patient_name"]
    assert any(re.fullmatch(r"[A-Z' -]+\^[A-Z' -]+", n) for n in names)
    assert any(re.fullmatch(r"[A-Z' -]+, [A-Z' -]+", n) for n in names)
    assert any(re.fullmatch(r"[A-Z][a-z'-]+ [A-Z][a-z'-]+", n) for n in names)
    dates = [m.text for m in phi if m.kind.endswith("date")]
    for pattern in (
        r"\d\d/\d\d/\d{4}",
        r"\d{4} [A-Z][a-z]{2} \d\d",
        r"\d{8}",
        r"\d\d-[A-Z]{3}-\d{4}",
    ):
        assert any(re.fullmatch(pattern, d) for d in dates), pattern
    labels = {m.text for c in corpus for m in c.labels}
    assert {"MRN", "ID:"} <= labels
    assert any(not m.in_header for m in phi) and any(m.in_header for m in phi)

    words = {m.text for m in safe}
    assert {"R", "L", "5 cm", "L12-5", "36Hz", "2D", "60%", "MI 1.4"} <= words
    assert {"AXIAL", "SAG", "HFS", "kV 120", "W 400 L 40"} & words


def _as_da(text: str) -> str:
    for form in ("%m/%d/%Y", "%Y %b %d", "%Y%m%d", "%d-%b-%Y"):
        try:
            return datetime.strptime(text.title(), form).strftime("%Y%m%d")
        except ValueError:
            continue
    raise AssertionError(f"unexpected date form {text!r}")


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[\^, ]+", text.upper()) if w}


def test_header_phi_is_planted_and_matches_the_burned_text(corpus: PixelCorpus) -> None:
    for case in corpus:
        ds = dcmread(case.path, stop_before_pixels=True)
        for keyword, value in case.header_phi.items():
            assert str(ds[keyword].value) == value, keyword
        header = case.header_phi
        dates = {header["PatientBirthDate"], header["StudyDate"]}
        for mark in case.phi:
            kind, text = mark.kind, mark.text
            if kind in ("birth_date", "study_date", "other_date"):
                assert (_as_da(text) in dates) == mark.in_header, (kind, text)
            elif kind in ("patient_name", "physician", "other_name"):
                names = _words(header["PatientName"]), _words(header["ReferringPhysicianName"])
                assert (_words(text) in names) == mark.in_header, (kind, text)
            elif kind == "study_time":
                assert header["StudyTime"].startswith(text.replace(":", ""))
            elif kind in ("patient_id", "accession", "institution"):
                assert text in header.values()
            else:
                raise AssertionError(f"unknown PHI kind {kind}")


def test_build_is_deterministic_and_honours_its_arguments(tmp_path: Path) -> None:
    first = build_pixel_corpus(tmp_path / "a", seed=3, n_files=4)
    again = build_pixel_corpus(tmp_path / "b", seed=3, n_files=4)
    other = build_pixel_corpus(tmp_path / "c", seed=4, n_files=4)
    assert len(first) == 4
    for x, y, z in zip(first, again, other, strict=True):
        assert x.path.read_bytes() == y.path.read_bytes()
        assert x.path.read_bytes() != z.path.read_bytes()
        assert [(m.text, m.box) for m in x.marks] == [(m.text, m.box) for m in y.marks]
        assert all(
            np.array_equal(m.ink_crop, n.ink_crop) for m, n in zip(x.marks, y.marks, strict=True)
        )

    rle = build_pixel_corpus(tmp_path / "rle", n_files=3, transfer_syntaxes=[RLELossless])
    assert {c.transfer_syntax for c in rle} == {RLELossless}
    with pytest.raises(ValueError, match="cannot write transfer syntax"):
        build_pixel_corpus(tmp_path / "bad", n_files=1, transfer_syntaxes=["1.2.3.4"])


# -- metrics ---------------------------------------------------------------


def test_an_unchanged_copy_masks_nothing_and_changes_nothing(
    corpus: PixelCorpus, tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(corpus.root, out)
    for case in corpus.cases[:6]:
        copy = out / case.relpath
        assert phi_box_masked_share(case, copy) == [0.0] * len(case.phi)
        assert changed_non_phi_share(case, copy) == 0.0
        assert pixel_data_identical(case, copy)
    score = score_corpus(corpus, out)
    assert score.phi_marks == sum(len(c.phi) for c in corpus)
    assert score.phi_masked_rate == 0.0
    assert score.safe_kept_rate == 1.0
    assert score.non_phi_changed_share == 0.0
    assert score.no_text_identical_rate == 1.0
    assert not score.missing and not score.errors


def test_the_masked_reference_scores_perfectly(corpus: PixelCorpus, reference: Path) -> None:
    one_per_syntax = {c.transfer_syntax: c for c in corpus.text_cases()}.values()
    for case in one_per_syntax:
        output = reference / case.relpath
        assert phi_box_masked_share(case, output) == [1.0] * len(case.phi), case.describe()
        assert changed_non_phi_share(case, output) == 0.0, case.describe()
        assert not pixel_data_identical(case, output)
    score = score_corpus(corpus, reference)
    assert not score.missing and not score.errors
    assert [m.share for m in score.marks if m.category == "phi"] == [1.0] * score.phi_marks
    assert score.phi_masked_rate == 1.0
    assert score.safe_kept_rate == 1.0
    assert score.non_phi_changed_share == 0.0
    assert score.no_text_files == len(corpus.no_text_cases())
    assert score.no_text_identical_rate == 1.0
    summary = score.summary()
    assert "PHI marks masked" in summary and "100.0 %" in summary
    assert not any(m.text in summary for c in corpus for m in c.phi)  # no PHI in reports


def test_half_masked_marks_score_in_between_and_are_not_counted_masked(
    corpus: PixelCorpus, tmp_path: Path
) -> None:
    case = _first(corpus, lossy=False, frames=1)
    pixels = decode_frames(case.path)
    for mark in case.phi:
        x0, y0, x1, y1 = mark.bounds
        pixels[0, y0:y1, x0 : (x0 + x1) // 2] = black_value(case)
    output = write_with_pixels(case, pixels, tmp_path / "half.dcm")
    shares = phi_box_masked_share(case, output)
    assert all(0.1 < s < 0.9 for s in shares), shares
    assert changed_non_phi_share(case, output) == 0.0
    score = score_corpus(corpus, {case.relpath: output})
    assert score.phi_masked_rate == 0.0
    assert len(score.missing) == len(corpus) - 1


def test_a_flat_fill_in_the_ink_colour_still_counts_as_masked(
    corpus: PixelCorpus, tmp_path: Path
) -> None:
    case = _first(corpus, lossy=False, samples_per_pixel=1)
    pixels = decode_frames(case.path)
    for mark in case.phi:
        x0, y0, x1, y1 = mark.bounds
        ink_value = np.median(pixels[mark.frames[0], y0:y1, x0:x1][mark.ink_crop])
        pixels[list(mark.frames), y0:y1, x0:x1] = int(ink_value)
    output = write_with_pixels(case, pixels, tmp_path / "flat.dcm")
    assert phi_box_masked_share(case, output) == [1.0] * len(case.phi)


def test_masking_everything_or_the_wrong_frames_changes_non_phi_pixels(
    corpus: PixelCorpus, tmp_path: Path
) -> None:
    case = _first(corpus, lossy=False, samples_per_pixel=1)
    pixels = decode_frames(case.path)
    inverted = -1 - pixels if case.signed else _range(case) - pixels  # no value maps to itself
    output = write_with_pixels(case, inverted, tmp_path / "inverted.dcm")
    assert changed_non_phi_share(case, output) == 1.0
    assert not pixel_data_identical(case, output)

    partial = next(c for c in corpus if c.text_on_some_frames_only and c.phi and not c.lossy)
    pixels = decode_frames(partial.path)
    for mark in partial.phi:
        x0, y0, x1, y1 = mark.bounds
        pixels[:, y0:y1, x0:x1] = black_value(partial)  # every frame, not just the mark's
    output = write_with_pixels(partial, pixels, tmp_path / "all_frames.dcm")
    assert phi_box_masked_share(partial, output) == [1.0] * len(partial.phi)
    assert changed_non_phi_share(partial, output) > 0.0


def test_lossy_cases_tolerate_small_differences_and_lossless_ones_do_not(
    corpus: PixelCorpus, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    lossy = [c for c in corpus if c.lossy]
    assert lossy
    for case in lossy[:4]:
        pixels = decode_frames(case.path)
        step = max(1, case.tolerance // 2)
        noisy = pixels + rng.integers(-step, step + 1, pixels.shape)
        output = write_with_pixels(case, noisy, tmp_path / f"lossy_{case.relpath}")
        assert changed_non_phi_share(case, output) == 0.0, case.describe()
        assert phi_box_masked_share(case, output) == [0.0] * len(case.phi)

    case = _first(corpus, lossy=False, signed=False)
    pixels = decode_frames(case.path)
    noisy = pixels + np.where(pixels < _range(case), 1, -1)
    output = write_with_pixels(case, noisy, tmp_path / "lossless_noisy.dcm")
    assert changed_non_phi_share(case, output) == 1.0


def test_score_reports_missing_and_broken_outputs(corpus: PixelCorpus, tmp_path: Path) -> None:
    case = _first(corpus, frames=1)
    cropped = decode_frames(case.path)[:, 8:]  # a cropped image cannot be compared
    target = write_with_pixels(case, cropped, tmp_path / "out" / case.relpath)
    assert dcmread(target).Rows == case.rows - 8

    score = score_corpus(corpus, tmp_path / "out")
    assert list(score.errors) == [case.relpath]
    assert "shape" in score.errors[case.relpath]
    assert sorted(score.missing) == sorted(c.relpath for c in corpus if c is not case)
    assert score.phi_marks == 0 and score.non_phi_pixels == 0
    assert "1 unreadable" in score.summary()
    with pytest.raises(ValueError, match="shape"):
        phi_box_masked_share(case, target)

    by_original_path = score_corpus(corpus, {str(case.path): case.path})
    assert by_original_path.phi_marks == len(case.phi)
    assert by_original_path.phi_masked_rate == 0.0
