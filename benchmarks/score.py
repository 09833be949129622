"""Score a de-identified copy of the benchmark corpus against its answer key.

``benchmarks/corpus.py`` writes inputs and an answer key; a de-identifier
writes its outputs at the same relative paths under an output folder; this
module runs every check of the key on those outputs and prints the share
passed overall and per check type, the pixel table columns (PHI boxes hidden,
share of non-PHI pixels changed) and the failures. Usage::

    python benchmarks/score.py OUTPUT_DIR OUT/answer_key.json [--header-only] [--failures 40]

Failures name the file, the tag path (or box) and the check type, never a
PHI value: a value is shown as ``#`` and the first 8 hex digits of its
SHA-256, so two reports can be compared without either holding PHI.

How checks are judged (see ``corpus.py`` for the key's format):

* A missing output fails all of its file's checks; an unreadable one too.
* ``text_removed`` uses the project's leak detectors
  (:func:`tests.factories.scan_for_strings` over every element, sequence
  item, private and file meta element, and :func:`tests.factories.scan_bytes`
  over the raw bytes, a deflated data set inflated first).
* ``date_shifted``: the days a date moved are compared with the most common
  shift of the same patient's dates; a date passes when it moved, by that
  common shift (so intervals survive).
* ``uid_consistent`` / ``patid_consistent``: the new values seen for one
  original (one patient) are grouped; a check passes when its value is the
  group's single most common one and no other original (patient) got it.
* ``pixels_hidden`` (Pixel Data): an ink pixel is masked when it moved by
  more than the check's ``threshold`` (8 % of the stored range; luma for
  colour), or when the whole box is one flat fill in the output; the box
  passes with at least :data:`HIDDEN_SHARE` of its ink masked on every
  listed frame taken together. Originals are read from the key's
  ``input_root``. Overlay planes: ink bits that are no longer set (a
  removed overlay hides everything; an embedded overlay's bit is read from
  the output's Pixel Data words).
* The non-PHI change share counts, over every file with a pixel check,
  pixels outside the PHI boxes (padded by the key's ``non_phi_padding``, on
  the frames each box is drawn on) whose value differs by more than the
  file's tolerance (0 for lossless originals).

``header_only=True`` leaves out both pixel check types and the pixel
columns, for tools that do not touch pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from pydicom import Dataset, dcmread  # noqa: E402
from pydicom.tag import Tag  # noqa: E402

from benchmarks.corpus import (  # noqa: E402
    CHECK_TYPES,
    AnswerKey,
    Check,
    FileInfo,
    resolve,
    value_text,
)
from tests.factories import scan_bytes, scan_for_strings  # noqa: E402
from tests.pixel_factory import dataset_frames  # noqa: E402

__all__ = ["HIDDEN_SHARE", "PIXEL_CHECKS", "Failure", "Score", "Tally", "score"]

#: A PHI box is hidden when at least this share of its ink is masked.
HIDDEN_SHARE = 0.95
PIXEL_CHECKS = frozenset({"pixels_hidden", "pixels_retained"})
_LUMA = np.asarray([0.299, 0.587, 0.114])


class Tally(NamedTuple):
    """``passed`` of ``total``; unpacks like a pair."""

    passed: int
    total: int

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else math.nan


@dataclass(frozen=True)
class Failure:
    """One failed check, described without PHI."""

    file: str
    check: str
    tag: str
    detail: str

    def line(self) -> str:
        return f"{self.check:16s} {self.file}  {self.tag}  {self.detail}"


@dataclass
class Score:
    """Results of every check of an answer key on one output folder.

    ``by_type`` maps each check type present to its :class:`Tally`;
    ``phi_boxes_hidden`` counts ``pixels_hidden`` checks passed (Pixel Data
    and overlay boxes); ``non_phi_changed_share`` is NaN when no pixels were
    compared (``header_only`` or no readable image output).
    """

    total: int
    passed: int
    by_type: dict[str, Tally]
    failures: list[Failure]
    phi_boxes_hidden: Tally
    non_phi_changed_share: float
    files: int = 0
    missing: list[str] = field(default_factory=list)
    header_only: bool = False

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else math.nan

    def failures_of(self, check: str) -> list[Failure]:
        return [f for f in self.failures if f.check == check]

    def summary(self, max_failures: int = 40) -> str:
        """The printed report: shares, pixel columns, then failures."""

        def pct(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"

        lines = [
            f"checks passed: {self.passed}/{self.total} = {pct(self.share)}"
            f" over {self.files - len(self.missing)}/{self.files} output files"
            + (" (header only)" if self.header_only else ""),
        ]
        for check_type, tally in self.by_type.items():
            lines.append(
                f"  {check_type:17s} {tally.passed:6d}/{tally.total:<6d} {pct(tally.share)}"
            )
        if not self.header_only:
            boxes = self.phi_boxes_hidden
            lines.append(f"PHI boxes hidden: {boxes.passed}/{boxes.total} = {pct(boxes.share)}")
            lines.append(f"non-PHI pixels changed: {pct(self.non_phi_changed_share)}")
        if self.missing:
            lines.append(f"missing outputs: {len(self.missing)}")
        if self.failures:
            per_type = Counter(f.check for f in self.failures)
            lines.append(
                f"failures: {len(self.failures)} ("
                + ", ".join(f"{t} {n}" for t, n in per_type.items())
                + ")"
            )
            lines.extend("  " + f.line() for f in self.failures[:max_failures])
            if len(self.failures) > max_failures:
                lines.append(f"  ... {len(self.failures) - max_failures} more")
        return "\n".join(lines)


def value_hash(value: str) -> str:
    """``#`` and 8 hex digits: names a PHI value in a report without showing it."""
    return "#" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


# --------------------------------------------------------------------------
# Reading outputs


@dataclass
class _Output:
    """One output file, read once; pixels decoded on first use."""

    path: Path
    ds: Dataset | None = None
    raw: bytes = b""
    error: str = ""
    _frames: np.ndarray | None = None

    @classmethod
    def read(cls, path: Path) -> _Output:
        if not path.is_file():
            return cls(path, error="missing output")
        try:
            raw = path.read_bytes()
            return cls(path, ds=dcmread(path), raw=raw)
        except Exception as exc:  # a broken output is a finding, not a crash
            return cls(path, error=f"unreadable output ({type(exc).__name__})")

    def frames(self) -> np.ndarray:
        if self._frames is None:
            assert self.ds is not None
            self._frames = _decode(self.ds)
        return self._frames


def _decode(ds: Dataset) -> np.ndarray:
    """Stored values as ``(frames, rows, columns, samples)`` int32 (YBR decodes to RGB)."""
    return dataset_frames(ds)


def _delta(original: np.ndarray, output: np.ndarray, luma: bool) -> np.ndarray:
    """Per-pixel absolute change, ``(frames, rows, columns)``."""
    diff = (output - original).astype(np.float64)
    if luma and diff.shape[-1] == 3:
        return np.abs(diff @ _LUMA)
    return np.abs(diff).max(axis=-1)


# --------------------------------------------------------------------------
# Judging


@dataclass
class _Verdicts:
    """Pass/fail per check (by position in the key), and the cross-file groups."""

    ok: dict[int, bool] = field(default_factory=dict)
    detail: dict[int, str] = field(default_factory=dict)
    shifts: dict[str, dict[int, int | None]] = field(default_factory=lambda: defaultdict(dict))
    uids: dict[str, dict[int, str | None]] = field(default_factory=lambda: defaultdict(dict))
    patids: dict[str, dict[int, str | None]] = field(default_factory=lambda: defaultdict(dict))

    def set(self, index: int, ok: bool, detail: str = "") -> None:
        self.ok[index] = ok
        if not ok:
            self.detail[index] = detail


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(part) for part in text.split("\\")]
    except ValueError:
        return None


def _retained(check: Check, text: str) -> bool:
    expected = check.value or ""
    if check.match == "words":
        words = set(re.findall(r"\w+", text.lower()))
        return all(w in words for w in re.findall(r"\w+", expected.lower()))
    if text == expected:
        return True
    a, b = _numbers(text), _numbers(expected)
    return a is not None and a == b


def _as_date(text: str) -> date | None:
    try:
        return datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _judge_text_removed(checks: list[tuple[int, Check]], out: _Output, verdicts: _Verdicts) -> None:
    """One scan of the file for every value that must be gone."""
    assert out.ds is not None
    values = [c.value or "" for _, c in checks]
    where: dict[str, list[str]] = defaultdict(list)
    for path, needle in scan_for_strings(out.ds, values):
        where[needle.lower()].append(path)
    in_bytes = {v.lower() for v in scan_bytes(out.raw, values)}
    for index, check in checks:
        needle = (check.value or "").lower()
        found = list(dict.fromkeys(where.get(needle, [])))
        if needle in in_bytes and not found:
            found = ["raw bytes"]
        if found:
            shown = ", ".join(found[:3]) + (f" (+{len(found) - 3})" if len(found) > 3 else "")
            verdicts.set(index, False, f"value {value_hash(check.value or '')} found in {shown}")
        else:
            verdicts.set(index, True)


def _judge_header(index: int, check: Check, ds: Dataset, verdicts: _Verdicts) -> None:
    elem = resolve(ds, check.tag)
    text = value_text(elem)
    kind = check.check
    if kind == "tag_retained":
        verdicts.set(index, elem is not None, "tag missing")
    elif kind == "text_notnull":
        verdicts.set(index, bool(text), "tag missing" if elem is None else "value empty")
    elif kind == "text_retained":
        if elem is None:
            verdicts.set(index, False, "tag missing")
        else:
            verdicts.set(index, _retained(check, text), f"value changed (expected {check.value!r})")
    elif kind == "uid_changed":
        # a profile may remove a reference: only a UID still there is judged
        same = elem is not None and text == check.value
        verdicts.set(index, not same, f"uid {value_hash(check.value or '')} unchanged")
    elif kind == "uid_consistent":
        if elem is not None and not text:
            verdicts.set(index, False, "uid emptied")
        verdicts.uids[check.value or ""][index] = text if elem is not None else None
    elif kind == "patid_consistent":
        verdicts.patids[check.patient or ""][index] = text or None
    elif kind == "date_shifted":
        original, new = _as_date(check.value or ""), _as_date(text)
        if new is None:
            verdicts.set(index, False, "tag missing" if elem is None else "no date in value")
        verdicts.shifts[check.patient or ""][index] = (
            (new - original).days if new is not None and original is not None else None
        )
    elif kind == "pixels_retained":
        data = ds.get("PixelData")
        same = data is not None and hashlib.md5(bytes(data)).hexdigest() == check.value
        verdicts.set(index, same, "no Pixel Data" if data is None else "Pixel Data changed")


def _judge_groups(verdicts: _Verdicts) -> None:
    """Dates, UIDs and patient ids are judged across files once all are read."""
    for shifts in verdicts.shifts.values():
        common = Counter(s for s in shifts.values() if s is not None).most_common(1)
        usual = common[0][0] if common else None
        for index, shift in shifts.items():
            if index in verdicts.ok:  # already failed (missing, no date)
                continue
            if shift is None:
                verdicts.set(index, False, "no date")
            elif shift == 0:
                verdicts.set(index, False, "date not shifted")
            elif shift != usual:
                verdicts.set(
                    index,
                    False,
                    f"shift differs by {shift - (usual or 0):+d} days from the patient's",
                )
            else:
                verdicts.set(index, True)
    _judge_mapping(verdicts.uids, verdicts, "uid", hashed=True)
    _judge_mapping(verdicts.patids, verdicts, "PatientID", hashed=False)


def _judge_mapping(
    groups: dict[str, dict[int, str | None]], verdicts: _Verdicts, what: str, *, hashed: bool
) -> None:
    """Each group (an original UID, a patient) must map to one value of its own."""
    majority: dict[str, str | None] = {}
    owners: dict[str, set[str]] = defaultdict(set)
    for original, values in groups.items():
        counts = Counter(v for v in values.values() if v)
        top = counts.most_common(2)
        unique_top = bool(top) and (len(top) == 1 or top[0][1] > top[1][1])
        majority[original] = top[0][0] if unique_top else None
        for new in counts:
            owners[new].add(original)
    for original, values in groups.items():
        label = value_hash(original) if hashed else original
        for index, got in values.items():
            if index in verdicts.ok:
                continue
            if got is None:
                if what == "uid":  # removed with its sequence: nothing to map
                    verdicts.set(index, True)
                else:
                    verdicts.set(index, False, f"{what} missing or empty")
            elif got != majority[original]:
                n = len({v for v in values.values() if v})
                verdicts.set(index, False, f"{what} of {label} mapped to {n} different values")
            elif len(owners[got]) > 1:
                verdicts.set(index, False, f"{what} of {label} shares its new value with another")
            else:
                verdicts.set(index, True)


# --------------------------------------------------------------------------
# Pixels


@dataclass
class _PixelFile:
    """Original and output pixels of one file, compared once."""

    info: FileInfo
    original: np.ndarray
    output: np.ndarray

    @property
    def same_shape(self) -> bool:
        return self.original.shape == self.output.shape


def _masked_share(pix: _PixelFile, check: Check) -> float:
    assert check.box is not None and check.frames is not None and check.threshold is not None
    x0, y0, x1, y1 = check.box
    ink = check.ink_mask()
    masked = total = 0
    for f in check.frames:
        total += int(ink.sum())
        region = pix.output[f, y0:y1, x0:x1]
        spread = (region.max(axis=(0, 1)) - region.min(axis=(0, 1))).max()
        if spread <= check.threshold:  # one flat fill over the box
            masked += int(ink.sum())
            continue
        moved = _delta(pix.original[f : f + 1, y0:y1, x0:x1], region[None], luma=True)[0]
        masked += int((moved > check.threshold)[ink].sum())
    return masked / total if total else 1.0


def _non_phi_counts(pix: _PixelFile, boxes: list[Check], padding: int) -> tuple[int, int]:
    """(changed, counted) pixels outside the padded PHI boxes of each frame."""
    frames, rows, cols = pix.original.shape[:3]
    if not pix.same_shape:
        return frames * rows * cols, frames * rows * cols
    changed = _delta(pix.original, pix.output, luma=pix.info.lossy) > pix.info.tolerance
    counted = moved = 0
    for f in range(frames):
        outside = np.ones((rows, cols), dtype=bool)
        for check in boxes:
            assert check.box is not None and check.frames is not None
            if f in check.frames:
                x0, y0, x1, y1 = check.box
                outside[
                    max(0, y0 - padding) : min(rows, y1 + padding),
                    max(0, x0 - padding) : min(cols, x1 + padding),
                ] = False
        counted += int(outside.sum())
        moved += int((changed[f] & outside).sum())
    return moved, counted


def _overlay_share(check: Check, ds: Dataset) -> float:
    """Share of an overlay text's ink bits no longer set in the output."""
    assert check.box is not None and check.frames is not None and check.plane is not None
    group = int(check.plane, 16)
    x0, y0, x1, y1 = check.box
    ink = check.ink_mask()
    if check.bit is not None:  # embedded: the bit lives in the Pixel Data words
        words = _pixel_words(ds)
        if words is None:
            return 1.0
        row0, col0 = (check.origin or [1, 1])[0] - 1, (check.origin or [1, 1])[1] - 1
        crop = words[0, row0 + y0 : row0 + y1, col0 + x0 : col0 + x1]
        if crop.shape != ink.shape:
            return 0.0
        still = ((crop >> check.bit) & 1).astype(bool)
    else:
        bits = _overlay_bits(ds, group)
        if bits is None:
            return 1.0  # the overlay is gone
        frame = check.frames[0]
        if frame >= bits.shape[0]:
            return 0.0
        still = bits[frame, y0:y1, x0:x1]
        if still.shape != ink.shape:
            return 0.0
    total = int(ink.sum())
    return 1.0 - int((still & ink).sum()) / total if total else 1.0


def _overlay_bits(ds: Dataset, group: int) -> np.ndarray | None:
    """``(frames, rows, columns)`` bits of an overlay plane's Overlay Data, or None."""
    data_tag = Tag(group, 0x3000)
    if data_tag not in ds or Tag(group, 0x0010) not in ds:
        return None
    rows = int(ds[Tag(group, 0x0010)].value)
    cols = int(ds[Tag(group, 0x0011)].value)
    n_frames = int(ds[Tag(group, 0x0015)].value) if Tag(group, 0x0015) in ds else 1
    elem = ds[data_tag]
    raw = bytes(elem.value or b"")
    if elem.VR == "OW" and not ds.file_meta.TransferSyntaxUID.is_little_endian:
        raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw) - 1, 2))
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    wanted = n_frames * rows * cols
    bits = np.pad(bits[:wanted], (0, max(0, wanted - bits.size)))
    return bits.reshape(n_frames, rows, cols).astype(bool)


def _pixel_words(ds: Dataset) -> np.ndarray | None:
    """Stored words with every bit (native syntaxes), or the decoded values."""
    if "PixelData" not in ds:
        return None
    ts = ds.file_meta.TransferSyntaxUID
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not ts.is_compressed and int(ds.BitsAllocated) == 16:
        dtype = "<u2" if ts.is_little_endian else ">u2"
        words = np.frombuffer(bytes(ds.PixelData), dtype=dtype)
        return words[: frames * ds.Rows * ds.Columns].reshape(frames, ds.Rows, ds.Columns)
    return _decode(ds)[..., 0].astype(np.uint32)


def _judge_pixels(
    file_checks: list[tuple[int, Check]],
    info: FileInfo,
    original_path: Path,
    out: _Output,
    verdicts: _Verdicts,
    padding: int,
) -> tuple[int, int] | None:
    """Judge a file's pixel checks; return its (changed, counted) non-PHI pixels."""
    assert out.ds is not None
    ds = out.ds
    image_boxes = [c for _, c in file_checks if c.check == "pixels_hidden" and c.plane == "pixel"]
    retained = [(i, c) for i, c in file_checks if c.check == "pixels_retained"]
    for index, check in file_checks:
        if check.check == "pixels_retained":
            _judge_header(index, check, ds, verdicts)
        elif check.plane != "pixel":
            share = _overlay_share(check, ds)
            verdicts.set(index, share >= HIDDEN_SHARE, f"{share:.0%} of ink cleared")
    if not image_boxes and not retained:
        return None
    frames, rows, cols = info.frames, info.rows, info.columns
    if retained and all(verdicts.ok[i] for i, _ in retained) and not image_boxes:
        return 0, frames * rows * cols  # byte-identical: nothing changed, no decoding
    try:
        pix = _PixelFile(info, _decode(dcmread(original_path)), out.frames())
    except Exception as exc:  # output pixels that do not decode hide nothing and keep nothing
        for index, check in file_checks:
            if check.check == "pixels_hidden" and check.plane == "pixel":
                verdicts.set(index, False, f"pixels unreadable ({type(exc).__name__})")
        return frames * rows * cols, frames * rows * cols
    for index, check in file_checks:
        if check.check != "pixels_hidden" or check.plane != "pixel":
            continue
        if not pix.same_shape:
            verdicts.set(index, False, "pixel array shape changed")
            continue
        share = _masked_share(pix, check)
        verdicts.set(index, share >= HIDDEN_SHARE, f"{share:.0%} of ink masked")
    return _non_phi_counts(pix, image_boxes, padding)


# --------------------------------------------------------------------------
# Scoring


def score(
    output_dir: str | os.PathLike[str],
    key: AnswerKey | str | os.PathLike[str],
    *,
    header_only: bool = False,
) -> Score:
    """Run every check of ``key`` on the outputs under ``output_dir``.

    Parameters
    ----------
    output_dir
        Outputs at the inputs' relative paths.
    key
        An :class:`~benchmarks.corpus.AnswerKey` or the path of its JSON;
        the originals must be at ``key.root`` for the pixel checks.
    header_only
        Leave out ``pixels_hidden`` and ``pixels_retained`` (for tools that
        de-identify headers only); the pixel columns are then empty.
    """
    if not isinstance(key, AnswerKey):
        key = AnswerKey.load(key)
    out_root = Path(output_dir)
    verdicts = _Verdicts()
    position = {id(c): i for i, c in enumerate(key.checks)}
    scored: list[int] = []
    missing: list[str] = []
    changed = counted = 0
    for relpath, checks in key.by_file().items():
        numbered = [
            (position[id(c)], c) for c in checks if not (header_only and c.check in PIXEL_CHECKS)
        ]
        scored.extend(i for i, _ in numbered)
        out = _Output.read(out_root / relpath)
        if out.ds is None:
            missing.append(relpath)
            for index, check in numbered:
                _fail_unread(index, check, out.error, verdicts)
            continue
        removed = [(i, c) for i, c in numbered if c.check == "text_removed"]
        if removed:
            _judge_text_removed(removed, out, verdicts)
        for index, check in numbered:
            if check.check not in PIXEL_CHECKS and check.check != "text_removed":
                _judge_header(index, check, out.ds, verdicts)
        pixel_checks = [(i, c) for i, c in numbered if c.check in PIXEL_CHECKS]
        if pixel_checks and relpath in key.files:
            counts = _judge_pixels(
                pixel_checks,
                key.files[relpath],
                key.root / relpath,
                out,
                verdicts,
                key.non_phi_padding,
            )
            if counts is not None:
                changed += counts[0]
                counted += counts[1]
    _judge_groups(verdicts)
    return _result(key, scored, verdicts, missing, changed, counted, header_only)


def _fail_unread(index: int, check: Check, reason: str, verdicts: _Verdicts) -> None:
    verdicts.set(index, False, reason)
    # still counted in its group, so the other files' verdicts see it missing
    if check.check == "date_shifted":
        verdicts.shifts[check.patient or ""][index] = None
    elif check.check == "uid_consistent":
        verdicts.uids[check.value or ""][index] = None
    elif check.check == "patid_consistent":
        verdicts.patids[check.patient or ""][index] = None


def _where(check: Check) -> str:
    if check.check == "pixels_hidden" and check.box is not None:
        plane = "" if check.plane == "pixel" else f" overlay {check.plane}"
        frames = check.frames or []
        span = f"{frames[0]}" if len(frames) == 1 else f"{frames[0]}-{frames[-1]}"
        return f"box {check.box} frames {span}{plane} ({check.kind})"
    return f"{check.tag} {check.keyword}".strip()


def _result(
    key: AnswerKey,
    scored: Iterable[int],
    verdicts: _Verdicts,
    missing: list[str],
    changed: int,
    counted: int,
    header_only: bool,
) -> Score:
    tallies: dict[str, list[int]] = {t: [0, 0] for t in CHECK_TYPES}
    failures = []
    for index in sorted(scored):
        check = key.checks[index]
        ok = verdicts.ok.get(index, False)
        tally = tallies[check.check]
        tally[0] += ok
        tally[1] += 1
        if not ok:
            detail = verdicts.detail.get(index, "not judged")
            failures.append(Failure(check.file, check.check, _where(check), detail))
    by_type = {t: Tally(p, n) for t, (p, n) in tallies.items() if n}
    passed = sum(t.passed for t in by_type.values())
    total = sum(t.total for t in by_type.values())
    return Score(
        total=total,
        passed=passed,
        by_type=by_type,
        failures=failures,
        phi_boxes_hidden=by_type.get("pixels_hidden", Tally(0, 0)),
        non_phi_changed_share=changed / counted if counted else math.nan,
        files=len(key.files),
        missing=missing,
        header_only=header_only,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="de-identified outputs")
    parser.add_argument("answer_key", type=Path, help="answer_key.json written by corpus.py")
    parser.add_argument("--header-only", action="store_true", help="skip the pixel checks")
    parser.add_argument("--failures", type=int, default=40, help="failures to list")
    args = parser.parse_args(argv)
    result = score(args.output_dir, args.answer_key, header_only=args.header_only)
    print(result.summary(args.failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
