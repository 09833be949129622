"""The CLI's progress line: counts, rate, errors, time left; redraw vs log lines."""

from __future__ import annotations

import io

from sparkdeid.jobs.batch import BatchProgress
from sparkdeid.jobs.progress import ProgressLine, describe


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_describe_gives_counts_rate_errors_and_time_left():
    line = describe(BatchProgress(total=1000, done=120, errors=2, skipped=20, seconds=25.0))
    assert line.startswith("sparkdeid: 120/1000 files (12 %)")
    assert "20 done before" in line
    assert "4.0 files/s" in line  # 100 processed this run in 25 s
    assert "2 errors" in line
    assert "about 4 min left" in line  # 880 files at 4 files/s = 220 s, rounded


def test_describe_before_the_first_wave_says_starting():
    line = describe(BatchProgress(total=10, done=0, errors=0, skipped=0, seconds=3.0))
    assert line == "sparkdeid: 0/10 files (0 %), starting, 0 errors"


def test_a_log_file_gets_whole_lines_at_most_every_interval_and_the_last_one():
    stream = io.StringIO()
    show = ProgressLine(stream, log_interval=3600)
    for done in (0, 5, 9, 10):
        show(BatchProgress(total=10, done=done, errors=1, skipped=0, seconds=1.0 + done))
    lines = stream.getvalue().splitlines()
    assert [line.split(" files")[0] for line in lines] == ["sparkdeid: 0/10", "sparkdeid: 10/10"]
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_line_redrawn_in_place():
    stream = _Terminal()
    show = ProgressLine(stream)
    show(BatchProgress(total=4, done=0, errors=0, skipped=0, seconds=1.0))
    show(BatchProgress(total=4, done=2, errors=1, skipped=0, seconds=2.0))
    show(BatchProgress(total=4, done=4, errors=1, skipped=0, seconds=3.0))
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "2/4 files (50 %), 1.0 files/s, 1 error," in text


def test_streaming_prints_each_batch_and_running_totals():
    import pandas as pd

    from sparkdeid.jobs.streaming import BatchLines

    stream = io.StringIO()
    show = BatchLines(stream)
    show(0, pd.DataFrame({"status": ["ok", "error", "ok"]}))
    show(1, pd.DataFrame({"status": ["ok"]}))
    first, second = stream.getvalue().splitlines()
    assert first.startswith("sparkdeid: batch 0: 3 files, 1 errors; 3 files so far (")
    assert second.startswith("sparkdeid: batch 1: 1 files, 0 errors; 4 files so far (")
    assert second.endswith("files/s), 1 errors")
