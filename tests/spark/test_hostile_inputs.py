"""Hostile inputs: every malformed file is a clear error row or a correct output.

The corpus of :mod:`tests.hostile_factory` (truncated, not DICOM, broken
transfer syntax, VRs, lengths, sequences, encapsulation, pixel module,
character sets) goes through ``run_batch`` twice, once with the full pixel
pipeline and once with the metadata-only one. Each run must finish, account
for every input in the manifest, quarantine failed inputs byte for byte with
a message that names the problem, write outputs pydicom reads back, and never
let a planted PHI value reach an output, a manifest cell or a driver log line.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from sparkdeid import schemas
from sparkdeid.jobs.batch import RELPATH_COL, BatchSummary, run_batch
from sparkdeid.jobs.manifest import QUARANTINE_DIR, read_manifest
from sparkdeid.pipeline import full_pipeline, metadata_pipeline
from tests.hostile_factory import HostileCase, dataset_text, hostile_corpus, phi_in

pytestmark = pytest.mark.spark

PIPELINES = ("full", "metadata")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass(frozen=True)
class Run:
    summary: BatchSummary
    output: Path
    log_text: str


@pytest.fixture(scope="module")
def hostile(spark, tmp_path_factory) -> Iterator[tuple[Path, list[HostileCase], dict[str, Run]]]:
    root = tmp_path_factory.mktemp("hostile")
    inbox = root / "in"
    cases = hostile_corpus(inbox)
    secret = root / "secret.key"
    secret.write_text("hostile-secret-0123456789")
    empty = spark.createDataFrame([], "path string, relative_path string")
    models = {
        "full": full_pipeline(input_col=schemas.PATH_COL,
                              agg_cols=(schemas.PATH_COL, RELPATH_COL),
                              strategy="tcia", secret_file=str(secret)).fit(empty),
        "metadata": metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                                      secret_file=str(secret)).fit(empty),
    }
    collect = _Collect()
    collect.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    watched = [logging.getLogger(name) for name in ("sparkdeid", "pydicom")]
    levels = [logger.level for logger in watched]
    logging.getLogger().addHandler(collect)
    for logger in watched:
        logger.setLevel(logging.DEBUG)
    runs: dict[str, Run] = {}
    try:
        for kind, model in models.items():
            output = root / f"out-{kind}"
            start = len(collect.lines)
            summary = run_batch(spark, str(inbox), str(output), model)
            runs[kind] = Run(summary, output, "\n".join(collect.lines[start:]))
    finally:
        logging.getLogger().removeHandler(collect)
        for logger, level in zip(watched, levels, strict=True):
            logger.setLevel(level)
    yield inbox, cases, runs


def _rows(run: Run) -> dict[str, pd.Series]:
    return {Path(row["input_path"]).name: row for _, row in run.summary.manifest.iterrows()}


def test_corpus_has_at_least_thirty_distinct_malformations(tmp_path):
    cases = hostile_corpus(tmp_path)
    assert len(cases) >= 32
    assert len({c.data for c in cases}) == len(cases)  # no two files alike
    assert all(c.full in ("ok", "error", "either") for c in cases)
    assert all(c.metadata in ("ok", "error", "either") for c in cases)
    assert all(c.problem for c in cases if "error" in (c.full, c.metadata))


@pytest.mark.parametrize("kind", PIPELINES)
def test_every_input_is_accounted_for_once(hostile, kind):
    inbox, cases, runs = hostile
    run = runs[kind]
    manifest = run.summary.manifest
    assert run.summary.total == len(cases) and run.summary.accounted
    assert len(manifest) == len(cases)
    assert sorted(manifest["input_path"]) == sorted(str(inbox / c.path_name) for c in cases)
    assert set(manifest["status"]) <= {"ok", "error"}
    on_disk = read_manifest(str(run.output))
    assert len(on_disk) == len(cases)


@pytest.mark.parametrize("kind", PIPELINES)
def test_each_case_gets_its_expected_outcome_and_a_message_naming_the_problem(hostile, kind):
    _, cases, runs = hostile
    rows = _rows(runs[kind])
    wrong = []
    for case in cases:
        row = rows[case.path_name]
        expected = getattr(case, kind)
        if expected != "either" and row["status"] != expected:
            wrong.append((case.name, expected, row["status"], row["error"]))
            continue
        if row["status"] == "error":
            message = str(row["error"])
            if message.startswith("internal error") or not re.search(case.problem, message,
                                                                     re.IGNORECASE):
                wrong.append((case.name, case.problem, message))
    assert not wrong, wrong


@pytest.mark.parametrize("kind", PIPELINES)
def test_failed_inputs_are_quarantined_byte_for_byte(hostile, kind):
    inbox, cases, runs = hostile
    run = runs[kind]
    by_name = {c.path_name: c for c in cases}
    for name, row in _rows(run).items():
        if row["status"] != "error":
            continue
        quarantined = Path(row["output_path"])
        assert quarantined == run.output / QUARANTINE_DIR / name
        assert quarantined.read_bytes() == by_name[name].data, name
        assert not (run.output / name).exists(), name


@pytest.mark.parametrize("kind", PIPELINES)
def test_outputs_read_back_and_hold_no_planted_phi(hostile, kind):
    _, _, runs = hostile
    run = runs[kind]
    written = 0
    for name, row in _rows(run).items():
        if row["status"] != "ok":
            continue
        data = Path(row["output_path"]).read_bytes()
        text = dataset_text(data)  # plain dcmread, no force: a valid Part 10 file
        assert not phi_in(text), (name, phi_in(text))
        assert not phi_in(data), (name, phi_in(data))
        written += 1
    assert written >= 10


@pytest.mark.parametrize("kind", PIPELINES)
def test_no_planted_phi_in_manifest_messages_or_logs(hostile, kind):
    _, _, runs = hostile
    run = runs[kind]
    for column in run.summary.manifest.columns:
        for cell in run.summary.manifest[column].dropna().astype(str):
            assert not phi_in(cell), (column, cell)
    csv = (run.output / "_manifest.csv").read_bytes()
    assert not phi_in(csv)
    assert not phi_in(run.log_text), phi_in(run.log_text)


def test_no_output_outside_the_manifest(hostile):
    _, _, runs = hostile
    for run in runs.values():
        listed = {os.path.normpath(str(p)) for p in run.summary.manifest["output_path"].dropna()}
        for folder, _, files in os.walk(run.output):
            for name in files:
                path = os.path.normpath(os.path.join(folder, name))
                if name.startswith("_manifest") or "/." in path:
                    continue
                assert path in listed, path
