"""The benchmark corpus, its answer key and the scorer (no Spark).

A "perfect" de-identified copy is made here by applying the answer key
literally (PHI values replaced, dates shifted by one offset, UIDs remapped
by a hash, PHI boxes blacked out, overlay data removed): the scorer must pass
all of it. Then one failure of each kind is planted and must be reported
with the right check type, file and tag, and without the PHI value.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.dataelem import DataElement
from pydicom.uid import ExplicitVRLittleEndian

from benchmarks.corpus import CHECK_TYPES, AnswerKey, Check, build_corpus, resolve, value_text
from benchmarks.score import Score, score

SHIFT = timedelta(days=-41)
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("benchmark")
    build_corpus(out, seed=5, n_files=12)
    return out


@pytest.fixture(scope="module")
def key(corpus_dir: Path) -> AnswerKey:
    return AnswerKey.load(corpus_dir / "answer_key.json")


@pytest.fixture(scope="module")
def perfect(key: AnswerKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("perfect")
    for relpath, checks in key.by_file().items():
        _write_perfect(key, relpath, checks, out / relpath)
    return out


# -- a perfect de-identifier, driven by the key -------------------------------


def _new_uid(original: str) -> str:
    return "2.25." + str(int(hashlib.sha256(original.encode()).hexdigest()[:30], 16))


def _scrub(ds: Dataset, phi: list[str], uids: set[str]) -> None:
    """Replace PHI in every text value, drop binary values holding PHI, remap UIDs."""
    pattern = re.compile("|".join(re.escape(v) for v in phi), re.IGNORECASE)
    for tag in list(ds.keys()):
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _scrub(item, phi, uids)
        elif tag == 0x7FE00010 or ((tag >> 16) & 0xFF01 == 0x6000 and tag & 0xFFFF == 0x3000):
            continue
        elif isinstance(elem.value, bytes):
            if pattern.search(elem.value.decode("latin-1")):
                del ds[tag]
        elif elem.VR == "UI":
            if value_text(elem) in uids:
                elem.value = _new_uid(value_text(elem))
        elif elem.VR in ("DA", "DT", "TM") and pattern.search(value_text(elem)):
            elem.value = ""
        elif elem.VR in _TEXT_VRS and pattern.search(value_text(elem)):
            values = elem.value if elem.VM > 1 else [elem.value]
            cleaned = [pattern.sub("X", str(v)) for v in values]
            elem.value = cleaned if elem.VM > 1 else cleaned[0]


def _shift(elem: DataElement) -> None:
    text = value_text(elem)
    moved = (datetime.strptime(text[:8], "%Y%m%d") + SHIFT).strftime("%Y%m%d") + text[8:]
    elem.value = (
        moved.encode() + b" " * (len(moved) % 2) if isinstance(elem.value, bytes) else moved
    )


def _black(ds: Dataset) -> int:
    if ds.PhotometricInterpretation == "MONOCHROME1":
        return (1 << ds.BitsStored) - 1
    return -(1 << (ds.BitsStored - 1)) if ds.PixelRepresentation else 0


def _frames(ds: Dataset) -> np.ndarray:
    """Decoded pixels, frames first, native byte order (big endian files decode as ``>u2``)."""
    arr = np.array(ds.pixel_array)
    arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]


def _set_pixels(ds: Dataset, frames: np.ndarray) -> None:
    """Store decoded frames uncompressed (YBR decodes to RGB), as a masking tool may."""
    photometric = "RGB" if ds.get("SamplesPerPixel", 1) == 3 else ds.PhotometricInterpretation
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    arr = frames if int(ds.get("NumberOfFrames", 1) or 1) > 1 else frames[0]
    ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)


def _save(ds: Dataset, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian:
        dcmwrite(target, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    else:
        ds.save_as(target, enforce_file_format=True)


def _write_perfect(key: AnswerKey, relpath: str, checks: list[Check], target: Path) -> None:
    ds = dcmread(key.root / relpath)
    for check in checks:
        if check.check == "date_shifted":
            elem = resolve(ds, check.tag)
            assert elem is not None
            _shift(elem)
    phi = sorted({c.value or "" for c in checks if c.check == "text_removed"}, key=len)[::-1]
    uids = {c.value or "" for c in key.checks if c.check == "uid_changed"}
    _scrub(ds.file_meta, phi, uids)
    _scrub(ds, phi, uids)
    ds.PatientID = "ID-" + key.files[relpath].patient
    ds.PatientIdentityRemoved = "YES"
    boxes = [c for c in checks if c.check == "pixels_hidden"]
    for check in boxes:
        if check.plane != "pixel":
            assert check.plane and check.bit is None, "no embedded overlay in the small corpus"
            ds.pop(int(check.plane, 16) << 16 | 0x3000, None)
    image = [c for c in boxes if c.plane == "pixel"]
    if image:
        frames = _frames(ds)
        for check in image:
            assert check.box and check.frames
            x0, y0, x1, y1 = check.box
            frames[check.frames, y0:y1, x0:x1] = _black(ds)
        _set_pixels(ds, frames)
    _save(ds, target)


# -- the corpus and key --------------------------------------------------------


def test_corpus_has_every_check_type_and_part(key: AnswerKey) -> None:
    assert len(key.files) >= 12
    assert all(n > 0 for n in key.counts().values()), key.counts()
    assert {info.source for info in key.files.values()} >= {"meta", "pixel", "overlay"}
    assert all((key.root / relpath).is_file() for relpath in key.files)
    planes = {c.plane for c in key.checks if c.check == "pixels_hidden"}
    assert planes == {"pixel", "6000"}
    for check in key.checks:
        assert check.check in CHECK_TYPES
        if check.check == "pixels_hidden":  # ink lies inside its box and is not empty
            assert check.box and check.frames
            x0, y0, x1, y1 = check.box
            assert check.ink_mask().shape == (y1 - y0, x1 - x0) and check.ink_mask().any()


def test_key_has_no_phi_outside_check_values(key: AnswerKey, corpus_dir: Path) -> None:
    """File names and file descriptions carry no planted value."""
    phi = {(c.value or "").lower() for c in key.checks if c.check == "text_removed"}
    described = json.dumps({k: vars(v) for k, v in key.files.items()}).lower()
    assert not [v for v in phi if v in described]


def test_corpus_is_reproducible(corpus_dir: Path, tmp_path: Path) -> None:
    again = build_corpus(tmp_path, seed=5, n_files=12)
    first = AnswerKey.load(corpus_dir / "answer_key.json")
    assert [c.to_json() for c in again.checks] == [c.to_json() for c in first.checks]
    for relpath in first.files:
        assert (again.root / relpath).read_bytes() == (first.root / relpath).read_bytes(), relpath


# -- the scorer ---------------------------------------------------------------


def test_inputs_scored_as_outputs_fail_where_expected(key: AnswerKey) -> None:
    result = score(key.root, key)
    assert result.by_type["text_removed"].passed == 0
    assert result.by_type["date_shifted"].passed == 0
    assert result.by_type["uid_changed"].passed == 0
    assert result.by_type["pixels_retained"].share == 1.0
    assert result.phi_boxes_hidden.passed == 0
    assert result.non_phi_changed_share == 0.0


def test_perfect_output_passes_everything(key: AnswerKey, perfect: Path) -> None:
    result = score(perfect, key)
    assert result.failures == [], result.summary()
    assert (result.passed, result.total) == (len(key.checks), len(key.checks))
    assert result.phi_boxes_hidden.passed == result.phi_boxes_hidden.total > 0
    assert result.non_phi_changed_share == 0.0
    assert not result.missing


def _first(key: AnswerKey, source: str, n: int = 1) -> list[str]:
    return [relpath for relpath, info in key.files.items() if info.source == source][:n]


@pytest.fixture(scope="module")
def planted(key: AnswerKey, perfect: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One failure of each kind in a copy of the perfect output."""
    out = tmp_path_factory.mktemp("planted")
    shutil.copytree(perfect, out, dirs_exist_ok=True)
    leaked, unshifted, forked, deleted = _first(key, "meta", 4)
    unmasked = next(c.file for c in key.checks if c.check == "pixels_hidden" and c.plane == "pixel")

    ds = dcmread(out / leaked)
    ds.PatientName = dcmread(key.root / leaked).PatientName
    _save(ds, out / leaked)

    ds = dcmread(out / unshifted)
    ds.StudyDate = dcmread(key.root / unshifted).StudyDate
    _save(ds, out / unshifted)

    ds = dcmread(out / forked)
    ds.StudyInstanceUID = _new_uid("a different mapping")
    _save(ds, out / forked)

    ds = dcmread(out / unmasked)
    _set_pixels(ds, _frames(dcmread(key.root / unmasked)))
    _save(ds, out / unmasked)

    (out / deleted).unlink()
    names = {
        "leaked": leaked,
        "unshifted": unshifted,
        "forked": forked,
        "unmasked": unmasked,
        "deleted": deleted,
    }
    return {"out": out, **names}


@pytest.fixture(scope="module")
def planted_score(key: AnswerKey, planted: dict) -> Score:
    return score(planted["out"], key)


def _failed(result: Score) -> set[tuple[str, str]]:
    return {(f.file, f.check) for f in result.failures}


def test_each_planted_failure_is_reported_with_its_type(
    key: AnswerKey, planted: dict, planted_score: Score
) -> None:
    failed = _failed(planted_score)
    assert (planted["leaked"], "text_removed") in failed
    assert (planted["unshifted"], "date_shifted") in failed
    assert (planted["forked"], "uid_consistent") in failed
    assert (planted["unmasked"], "pixels_hidden") in failed
    deleted_checks = {(c.file, c.check) for c in key.checks if c.file == planted["deleted"]}
    assert deleted_checks <= failed
    assert planted_score.missing == [planted["deleted"]]
    # nothing else failed: the planted faults do not spill over to other files or types
    expected = {
        (planted["leaked"], "text_removed"),
        (planted["unshifted"], "date_shifted"),
        (planted["forked"], "uid_consistent"),
        (planted["unmasked"], "pixels_hidden"),
    } | deleted_checks
    assert failed == expected


def test_failures_name_the_tag_and_hide_the_value(
    key: AnswerKey, planted: dict, planted_score: Score
) -> None:
    by_file = {(f.file, f.check): f for f in planted_score.failures}
    assert "(0008,0020)" in by_file[(planted["unshifted"], "date_shifted")].tag
    assert "(0020,000D)" in by_file[(planted["forked"], "uid_consistent")].tag
    assert by_file[(planted["unmasked"], "pixels_hidden")].tag.startswith("box [")
    assert all(
        f.detail == "missing output" for f in planted_score.failures if f.file == planted["deleted"]
    )
    report = planted_score.summary(max_failures=10_000)
    name = str(dcmread(key.root / planted["leaked"]).PatientName)
    for part in [name, *name.split("^")]:
        assert part.lower() not in report.lower()
    assert "(0010,0010)" in report and "#" in by_file[(planted["leaked"], "text_removed")].detail


def test_shares_and_pixel_columns(key: AnswerKey, planted_score: Score) -> None:
    s = planted_score
    assert s.passed < s.total and 0.5 < s.share < 1.0
    assert sum(t.total for t in s.by_type.values()) == s.total == len(key.checks)
    hidden = s.by_type["pixels_hidden"]
    assert s.phi_boxes_hidden == hidden and hidden.passed < hidden.total
    assert 0.0 <= s.non_phi_changed_share < 0.01


def test_header_only_leaves_out_pixel_checks(key: AnswerKey, planted: dict) -> None:
    result = score(planted["out"], key, header_only=True)
    assert "pixels_hidden" not in result.by_type and "pixels_retained" not in result.by_type
    assert result.phi_boxes_hidden == (0, 0)
    assert result.non_phi_changed_share != result.non_phi_changed_share  # NaN
    assert (planted["unmasked"], "pixels_hidden") not in _failed(result)
