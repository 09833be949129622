"""The verify report in a real headless browser: every image loads, the PHI warning shows
exactly when original crops are included, and the page is not blank."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sparkdeid.jobs.verify import verify
from sparkdeid.jobs.verify_report import NO_ORIGINALS_NOTE, PHI_WARNING, write_report
from tests.unit.test_verify import make_folders

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs Debian chromium: apt-get install chromium"
)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    root = tmp_path_factory.mktemp("verify-browser")
    make_folders(root)
    written = {}
    for include in (False, True):
        result = verify(str(root / "originals"), str(root / "deid"), include_originals=include)
        path = root / f"report-{include}.html"
        write_report(result, str(path))
        written[include] = path
    return written


@pytest.mark.parametrize("include", [False, True])
def test_every_image_loads_and_warning_matches(
    reports: dict[bool, Path], include: bool, tmp_path: Path
) -> None:
    dom = _chromium(tmp_path / "profile", "--dump-dom", reports[include].as_uri()).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, "the report's script did not run"
    done, total = int(loaded.group(1)), int(loaded.group(2))
    assert total > 0 and done == total
    assert (PHI_WARNING in dom) is include
    assert (NO_ORIGINALS_NOTE in dom) is not include


def test_screenshot_is_not_blank(reports: dict[bool, Path], tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,1600",
              reports[True].as_uri())
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 10
