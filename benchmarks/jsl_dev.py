"""Burned-in PHI on real files made by someone else: score ``jsl-dev`` in one run.

``../shared/data/jsl-dev/`` holds real CT/MR/MG/CR files whose header values
were burned into the pixels by the data set's authors, with a JSON answer key
of key/value boxes (see its README). This script de-identifies the folder with
``sparkdeid deid`` (the full default pipeline, local Spark), optionally runs
Presidio's DICOM redactor beside it on the same files, and scores both the
same way:

* **recall**: a value box counts as hidden when at least 90 % of its text
  pixels changed. Text pixels are the box's pixels that stand out from the
  box's own background (the median of its edge pixels) by more than a
  quarter of the box's contrast range; a box with no such pixels, or one lying outside the image
  (under 2 px wide or tall after clipping), has nothing to hide and is not
  counted. A file that was not written loses every box.
  A pixel inside a flat fill next to a change counts as changed (a black
  fill leaves a glyph's black outline at its old value, yet hides it).
* **over-redaction**: the share of pixels outside every key and value box
  (padded by 2 px) that changed, per written file: median and 95th percentile;
  and the label boxes (``Patient ID:``, which may stay) whose text pixels are
  at most 10 % changed.
* recall by label and by text height, and files per second (job time from the
  tool's own summary, and wall time including start-up).

The set is for finding out why text is missed, not for fitting thresholds to
it; ``--misses`` lists the missed boxes (file stem, label, height, how much was
hidden), never their text. Usage::

    python benchmarks/jsl_dev.py [--data DIR] [--presidio] [--files N] [--misses 30]
                                  [--factory-seed SEED]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "jsl-dev"
HIDDEN_SHARE = 0.9
PADDING = 2
HEIGHT_BINS = ((0, 5, "<= 5 px"), (6, 8, "6-8 px"), (9, 12, "9-12 px"), (13, 10_000, "> 12 px"))


@dataclass(frozen=True)
class ValueBox:
    stem: str
    label: str
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass
class ToolScore:
    tool: str
    files_in: int = 0
    files_written: int = 0
    job_seconds: float = 0.0
    wall_seconds: float = 0.0
    hidden: int = 0
    counted: int = 0
    by_label: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_height: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    outside_changed: list[float] = field(default_factory=list)
    labels_kept: int = 0
    labels_counted: int = 0
    misses: list[tuple[str, str, int, float]] = field(default_factory=list)


def load_key(
    path: Path, shape: tuple[int, int]
) -> tuple[list[ValueBox], list[tuple[int, ...]], list[ValueBox]]:
    """Value boxes to hide, every key and value box (for over-redaction), and the key
    (label) boxes, which may stay."""
    rows, cols = shape
    values: list[ValueBox] = []
    every: list[tuple[int, ...]] = []
    keys: list[ValueBox] = []
    for item in json.loads(path.read_text())["annotation"]:
        for role in ("key", "value"):
            if "bbox" not in item[role]:  # a key that was not drawn
                continue
            x0, y0, x1, y1 = item[role]["bbox"]
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cols), min(y1, rows)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            every.append((x0, y0, x1, y1))
            box = ValueBox(path.stem, item["key"]["text"], x0, y0, x1, y1)
            (values if role == "value" else keys).append(box)
    return values, every, keys


def text_pixels(region: np.ndarray) -> np.ndarray:
    """Pixels that stand out from the box's background (glyph strokes).

    The background is read on the box's edge: dense text can fill most of a
    tight box, so the median of the whole box may be a glyph value.
    """
    ring = np.concatenate([region[0], region[-1], region[:, 0], region[:, -1]])
    background = float(np.median(ring))
    spread = float(region.max()) - float(region.min())
    if spread <= 0:
        return np.zeros(region.shape, bool)
    return np.abs(region - background) > 0.25 * spread


def masked(original: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Pixels that changed, or that lie in a flat area of the output joined to a change.

    A black fill over white text with a black outline, or over text on a
    black band of the image, leaves those black pixels as they were; they
    are hidden all the same, since nothing of a glyph can be read in an area
    of one value, however far it extends.
    """
    changed = output != original
    padded = np.pad(output, 1, mode="edge")
    rows, cols = output.shape
    windows = [padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)]
    flat = np.all([w == output for w in windows], axis=0)
    touched = np.pad(changed, 1)
    near_change = np.any(
        [touched[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)], axis=0
    )
    count, labels = cv2.connectedComponents(flat.astype(np.uint8), connectivity=8)
    joined = np.zeros(count, bool)
    joined[np.unique(labels[flat & near_change])] = True
    joined[0] = False  # label 0 is the non-flat rest
    return changed | (flat & joined[labels])


def pixels(path: Path) -> np.ndarray:
    array = pydicom.dcmread(path).pixel_array.astype(np.float64)
    return array.mean(axis=-1) if array.ndim == 3 else array


def height_bin(height: int) -> str:
    return next(name for low, high, name in HEIGHT_BINS if low <= height <= high)


def score_tool(score: ToolScore, inputs: list[Path], output_dir: Path, data: Path) -> None:
    for source in inputs:
        original = pixels(source)
        values, every, keys = load_key(data / f"{source.stem}.json", original.shape)
        target = output_dir / source.name
        output = None
        if target.exists():
            try:
                output = pixels(target)
                score.files_written += 1
            except Exception:  # noqa: BLE001 - an unreadable output hides nothing
                output = None
        if output is not None and output.shape != original.shape:
            output = None
        changed = None if output is None else masked(original, output)
        for box in values:
            region = original[box.y0 : box.y1, box.x0 : box.x1]
            ink = text_pixels(region)
            if not ink.any():
                continue
            share = 0.0
            if changed is not None:
                share = float(changed[box.y0 : box.y1, box.x0 : box.x1][ink].mean())
            hidden = share >= HIDDEN_SHARE
            score.counted += 1
            score.hidden += hidden
            for table, name in ((score.by_label, box.label), (score.by_height,
                                                              height_bin(box.height))):
                table[name][0] += hidden
                table[name][1] += 1
            if not hidden:
                score.misses.append((box.stem[:40], box.label, box.height, share))
        for box in keys if output is not None else ():
            region = original[box.y0 : box.y1, box.x0 : box.x1]
            ink = text_pixels(region)
            if ink.any():
                touched = (output != original)[box.y0 : box.y1, box.x0 : box.x1][ink].mean()
                score.labels_counted += 1
                score.labels_kept += float(touched) <= 1 - HIDDEN_SHARE
        if changed is not None:
            outside = np.ones(original.shape, bool)
            for x0, y0, x1, y1 in every:
                top, left = max(y0 - PADDING, 0), max(x0 - PADDING, 0)
                outside[top : y1 + PADDING, left : x1 + PADDING] = 0
            if outside.any():
                # pixels really changed: a flat area joined to a mask hides text inside a
                # box, but outside the boxes it is the image left as it was (black around
                # a CT), not over-redaction
                score.outside_changed.append(float((output != original)[outside].mean()))


def run_sparkdeid(input_dir: Path, output_dir: Path, master: str) -> tuple[float, float]:
    """``sparkdeid deid`` as a user runs it: (job seconds from its summary, wall seconds)."""
    command = [
        sys.executable, "-m", "sparkdeid.cli", "deid", "--input", str(input_dir),
        "--output", str(output_dir), "--secret-file", str(REPO / "samples" / "demo-secret.txt"),
        "--no-progress", "--master", master,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    found = re.search(r" in ([\d.]+) s ", done.stdout)
    if done.returncode not in (0, 1) or not found:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"sparkdeid deid failed (exit {done.returncode}): {tail[:200]}")
    return float(found.group(1)), wall


def score_factory(seed: int, work: Path, master: str) -> str:
    """The project's synthetic corpus at ``seed``, through the same CLI: PHI boxes masked,
    safe marks (``R``, ``AXIAL``, ``5 cm``) kept, no-text files left byte-identical."""
    sys.path.insert(0, str(REPO))
    from tests.pixel_factory import build_pixel_corpus, score_corpus

    corpus = build_pixel_corpus(work / "factory-input", seed=seed)
    run_sparkdeid(work / "factory-input", work / "factory-output", master)
    return score_corpus(corpus, work / "factory-output").summary()


def manifest_errors(output_dir: Path) -> dict[str, int]:
    manifest = output_dir / "_manifest.csv"
    causes: dict[str, int] = defaultdict(int)
    if manifest.exists():
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("status") != "ok":
                    causes[(row.get("error") or "unknown")[:80]] += 1
    return dict(causes)


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "n/a"


def report(scores: list[ToolScore], misses: int) -> str:
    lines = ["", f"{'':28s}" + "".join(f"{s.tool:>24s}" for s in scores)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"{name:28s}" + "".join(f"{c:>24s}" for c in cells))

    row("files written", [f"{s.files_written}/{s.files_in}" for s in scores])
    row("value boxes hidden", [_rate(s.hidden, s.counted) for s in scores])
    labels = sorted({name for s in scores for name in s.by_label})
    for label in labels:
        row(f"  {label}", [_rate(*s.by_label.get(label, [0, 0])) for s in scores])
    for _, _, name in HEIGHT_BINS:
        row(f"  text {name}", [_rate(*s.by_height.get(name, [0, 0])) for s in scores])
    for title, pick in (("changed outside boxes, median", 0.5),
                        ("changed outside boxes, p95", 0.95)):
        cells = []
        for s in scores:
            values = sorted(s.outside_changed)
            cells.append(f"{values[min(int(pick * len(values)), len(values) - 1)]:.4f}"
                         if values else "n/a")
        row(title, cells)
    row("label boxes kept (<10% changed)", [_rate(s.labels_kept, s.labels_counted) for s in scores])
    row("files/s (job)", [f"{s.files_in / s.job_seconds:.2f}" if s.job_seconds else "n/a"
                          for s in scores])
    row("files/s (wall, incl. start)", [f"{s.files_in / s.wall_seconds:.2f}"
                                        if s.wall_seconds else "n/a" for s in scores])
    for s in scores:
        if misses and s.misses:
            lines.append(f"\n{s.tool}: first {min(misses, len(s.misses))} of {len(s.misses)} "
                         "missed boxes (file, label, height px, share hidden)")
            lines.extend(f"  {stem:40s} {label:18s} {h:3d} {share:.2f}"
                         for stem, label, h, share in s.misses[:misses])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", type=int, default=0, help="first N files only (0 = all)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--presidio", action="store_true",
                        help="also run Presidio's DICOM redactor (needs '.[bench]' and tesseract)")
    parser.add_argument("--misses", type=int, default=0, help="list this many missed boxes")
    parser.add_argument("--keep", type=Path, default=None, help="write outputs here and keep them")
    parser.add_argument("--factory-seed", type=int, default=None, metavar="SEED",
                        help="also score the synthetic corpus made with SEED (pick one the "
                        "method was not tuned on): PHI masked, safe words kept")
    args = parser.parse_args(argv)

    inputs = sorted(args.data.glob("*.dcm"))
    if args.files:
        inputs = inputs[: args.files]
    if not inputs:
        raise SystemExit(f"no .dcm files under {args.data}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="jsl-dev-"))
    try:
        source = work / "input"
        source.mkdir(parents=True, exist_ok=True)
        for path in inputs:  # the JSON keys stay out of the de-identifier's input
            if not (source / path.name).exists():
                shutil.copyfile(path, source / path.name)
        scores = []
        ours = ToolScore("sparkdeid", files_in=len(inputs))
        ours.job_seconds, ours.wall_seconds = run_sparkdeid(source, work / "sparkdeid", args.master)
        score_tool(ours, inputs, work / "sparkdeid", args.data)
        scores.append(ours)
        errors = manifest_errors(work / "sparkdeid")
        if args.presidio:
            sys.path.insert(0, str(REPO))
            from benchmarks.peers import run_presidio

            run = run_presidio(source, work / "presidio")
            theirs = ToolScore("presidio (1 core)", files_in=len(inputs))
            if run.status == "ok":
                theirs.job_seconds, theirs.wall_seconds = run.seconds, run.seconds + (
                    run.startup_seconds or 0.0)
                score_tool(theirs, inputs, work / "presidio", args.data)
                scores.append(theirs)
            else:
                print(f"presidio: {run.status}: {run.note}")
        print(report(scores, args.misses))
        if errors:
            print("\nsparkdeid error rows by cause:")
            for cause, count in sorted(errors.items(), key=lambda item: -item[1]):
                print(f"  {count:4d}  {cause}")
        print(f"\n{len(inputs)} files, master {args.master}; "
              f"hidden = at least {HIDDEN_SHARE:.0%} of a box's text pixels changed")
        if args.factory_seed is not None:
            print(f"\nsynthetic corpus, seed {args.factory_seed}:")
            print(score_factory(args.factory_seed, work, args.master))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
