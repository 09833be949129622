"""Landing-folder streaming: exactly-once outputs and manifest rows across a SIGKILL.

The stream runs in a child process (``tests/stream_worker.py``) so the test
can kill its whole process group -- Python driver, JVM and Python workers --
while a micro-batch is half written, then restart it on the same checkpoint.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file

from sparkdeid.jobs.manifest import QUARANTINE_DIR
from sparkdeid.jobs.streaming import (
    STREAM_MANIFEST_DIR,
    read_stream_manifest,
    relative_to,
    trigger_kwargs,
    write_batch_manifest,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, "tests", "stream_worker.py")
BAD_NAME = "notes.txt"


def test_triggers() -> None:
    assert trigger_kwargs("available-now") == {"availableNow": True}
    assert trigger_kwargs("once") == {"once": True}
    assert trigger_kwargs("interval:5") == {"processingTime": "5 seconds"}
    for bad in ("interval:0", "interval:x", "continuous"):
        with pytest.raises(ValueError):
            trigger_kwargs(bad)


def test_relative_names_are_deterministic(tmp_path) -> None:
    root = str(tmp_path)
    assert relative_to(root, f"file:{root}/a/b.dcm") == os.path.join("a", "b.dcm")
    assert relative_to(root, f"{root}/c.dcm") == "c.dcm"
    with pytest.raises(ValueError):
        relative_to(os.path.join(root, "x"), f"file:{root}/c.dcm")


def test_replayed_batch_overwrites_and_latest_batch_wins(tmp_path) -> None:
    def rows(*paths: str) -> pd.DataFrame:
        return pd.DataFrame({"input_path": list(paths), "status": "ok", "input_id": "x"})

    write_batch_manifest(rows("/l/a", "/l/b"), str(tmp_path), 0)
    write_batch_manifest(rows("/l/a", "/l/b"), str(tmp_path), 0)  # replay
    write_batch_manifest(rows("/l/a"), str(tmp_path), 3)  # re-landed later
    manifest = read_stream_manifest(str(tmp_path))
    assert list(manifest["input_path"]) == ["/l/a", "/l/b"]
    assert list(manifest["batch_id"]) == [3, 0]
    assert read_stream_manifest(str(tmp_path / "none")).empty


def _land(landing: str) -> dict[str, str]:
    """24 DICOM copies in two sub-folders plus one non-DICOM file; relative -> source."""
    sources = {"ct": get_testdata_file("CT_small.dcm"), "mr": get_testdata_file("MR_small.dcm")}
    landed: dict[str, str] = {}
    for index in range(24):
        kind = "ct" if index % 2 else "mr"
        relative = os.path.join(kind, f"{kind}_{index:02d}.dcm")
        os.makedirs(os.path.join(landing, kind), exist_ok=True)
        shutil.copy(str(sources[kind]), os.path.join(landing, relative))
        landed[relative] = str(sources[kind])
    with open(os.path.join(landing, BAD_NAME), "w", encoding="utf-8") as handle:
        handle.write("not a DICOM file\n")
    landed[BAD_NAME] = ""
    return landed


def _visible_outputs(output: str) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(output):
        dirs[:] = [d for d in dirs if d not in (STREAM_MANIFEST_DIR, QUARANTINE_DIR)]
        found.update(os.path.relpath(os.path.join(folder, f), output) for f in files)
    return found


def _raw_manifest(output: str) -> pd.DataFrame:
    names = sorted(glob.glob(os.path.join(output, STREAM_MANIFEST_DIR, "batch-*.csv")))
    if not names:
        return pd.DataFrame(columns=["input_path", "status", "output_path"])
    return pd.concat([pd.read_csv(n) for n in names], ignore_index=True)


def _start(args: list[str], delay: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               STREAM_WORKER_ROW_DELAY=str(delay), SPARKDEID_DRIVER_MEMORY="1g")
    return subprocess.Popen([sys.executable, WORKER, *args], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


@pytest.mark.spark
@pytest.mark.slow
def test_sigkill_mid_batch_then_resume_is_exactly_once(tmp_path, secret_file) -> None:
    landing, output, checkpoint = (str(tmp_path / n) for n in ("landing", "out", "ckpt"))
    landed = _land(landing)
    args = [landing, output, checkpoint, secret_file]

    first = _start(args, delay=0.5)
    killed_state: tuple[set[str], pd.DataFrame] | None = None
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and first.poll() is None:
            # outputs before the manifest: a batch committing in between only makes
            # the condition below harder to meet, never a false "mid-batch"
            outputs = _visible_outputs(output) if os.path.isdir(output) else set()
            manifest = _raw_manifest(output)
            batches = len(glob.glob(os.path.join(output, STREAM_MANIFEST_DIR, "batch-*.csv")))
            # at least two batches committed their manifests, and the next one has
            # written some but not all of its outputs
            if batches >= 2 and len(outputs) > int((manifest["status"] == "ok").sum()):
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(timeout=30)
                killed_state = (_visible_outputs(output), _raw_manifest(output))
                break
            time.sleep(0.05)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    log = first.stdout.read().decode(errors="replace") if first.stdout else ""
    assert killed_state is not None, f"never caught a batch in progress:\n{log[-3000:]}"
    outputs_at_kill, manifest_at_kill = killed_state
    in_manifest = {os.path.relpath(p, output) for p in manifest_at_kill["output_path"].dropna()}
    assert outputs_at_kill - in_manifest, "the kill did not land mid-batch"
    assert len(manifest_at_kill) < len(landed)

    second = _start(args, delay=0)
    try:
        out, _ = second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    assert second.returncode == 0, out.decode(errors="replace")[-3000:]

    # exactly one manifest row per landed file, even before de-duplication
    raw = _raw_manifest(output)
    assert sorted(relative_to(landing, p) for p in raw["input_path"]) == sorted(landed)
    manifest = read_stream_manifest(output)
    assert len(manifest) == len(landed)
    statuses = {relative_to(landing, p): s for p, s in zip(manifest["input_path"],
                                                           manifest["status"], strict=True)}
    assert statuses.pop(BAD_NAME) == "error"
    assert set(statuses.values()) == {"ok"}

    # exactly one output per DICOM file, one quarantine copy for the bad one, no temps
    dicom_names = {r for r in landed if r != BAD_NAME}
    assert _visible_outputs(output) == dicom_names
    assert os.listdir(os.path.join(output, QUARANTINE_DIR)) == [BAD_NAME]
    leftovers = [f for _, _, files in os.walk(output) for f in files if f.startswith(".tmp-")]
    assert leftovers == []
    for relative in dicom_names:
        result = pydicom.dcmread(os.path.join(output, relative))
        source = pydicom.dcmread(landed[relative])
        assert result.PixelData == source.PixelData
        assert result.SOPInstanceUID != source.SOPInstanceUID


@pytest.mark.spark
def test_stream_cli_takes_deid_options_and_refuses_mixing_releases(spark, tmp_path,
                                                                    secret_file) -> None:
    """``stream`` with deid's options: uids names, the frame-by-frame route, --overwrite."""
    from pydicom.data import get_testdata_file

    from sparkdeid import cli
    from tests.cine_factory import build_cine

    landing, output = tmp_path / "landing", tmp_path / "out"
    cine = build_cine(landing / "QUORNBY_loop.dcm", frames=12, late_label_at=5)
    shutil.copy(str(get_testdata_file("CT_small.dcm")), landing / "QUORNBY_ct.dcm")
    (landing / BAD_NAME).write_text("not a DICOM file\n", encoding="utf-8")

    def stream(checkpoint: str, *extra: str) -> int:
        return cli.main(["stream", "--landing", str(landing), "--output", str(output),
                         "--checkpoint", str(tmp_path / checkpoint), "--secret-file",
                         secret_file, "--output-layout", "uids", "--large-file-mb", "1",
                         "--no-progress", *extra])

    assert stream("ck1") == 0
    manifest = read_stream_manifest(str(output))
    assert sorted(manifest["status"]) == ["error", "ok", "ok"]
    written = sorted(_visible_outputs(str(output)))
    assert len(written) == 2 and not any("QUORNBY" in name for name in written)
    loop = next(pydicom.dcmread(output / name) for name in written
                if pydicom.dcmread(output / name, stop_before_pixels=True).get(
                    "NumberOfFrames", 1) == 12)
    assert written[0].count(os.sep) == 2  # <study>/<series>/<instance>.dcm
    original = pydicom.dcmread(cine.path).pixel_array
    for text in cine.phi:  # masked on its frames by the frame-by-frame route
        x0, y0, x1, y1 = text.box
        for f in range(text.frames[0], text.frames[1] + 1):
            ink = original[f, y0:y1, x0:x1] >= 128
            assert (loop.pixel_array[f, y0:y1, x0:x1][ink] <= 16).mean() >= 0.99, text.text

    # a new checkpoint over this output would mix two releases in one manifest
    assert stream("ck2") == 2
    assert len(read_stream_manifest(str(output))) == 3
    # --overwrite: a fresh release, every landed file done again, one manifest
    assert stream("ck1", "--overwrite") == 0
    again = read_stream_manifest(str(output))
    assert len(again) == 3 and set(again["batch_id"]) == {0}
    assert sorted(_visible_outputs(str(output))) == written
