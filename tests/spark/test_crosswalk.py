"""``--crosswalk``: complete, consistent with the outputs, never among them, once per original."""

from __future__ import annotations

import glob
import os

import pandas as pd
import pydicom
import pytest

from sparkdeid import schemas
from sparkdeid.cli import main
from sparkdeid.jobs import crosswalk
from sparkdeid.jobs.streaming import process_landed, read_stream_manifest
from sparkdeid.pipeline import metadata_pipeline
from tests.factories import write_corpus

pytestmark = pytest.mark.spark


def _uids_of(path: str) -> set[str]:
    return set(crosswalk._uids(pydicom.dcmread(path)))


def test_batch_crosswalk_maps_every_replaced_uid_and_id_to_what_the_outputs_hold(
        tmp_path, secret_file):
    corpus = write_corpus(tmp_path / "in", n_patients=2, seed=11)
    output, table = tmp_path / "out", tmp_path / "broker" / "crosswalk.csv"
    args = ["deid", "--input", str(corpus.root), "--output", str(output), "--secret-file",
            secret_file, "--metadata-only", "--no-progress"]
    # inside the output (or the input) it is refused before anything is written
    assert main([*args, "--crosswalk", str(output / "crosswalk.csv")]) == 2
    assert main([*args, "--crosswalk", str(corpus.root / "crosswalk.csv")]) == 2
    assert not output.exists()
    # off by default: the output holds only outputs and manifests
    assert main(args) == 0
    assert not glob.glob(str(tmp_path / "**" / "*crosswalk*"), recursive=True)
    assert main([*args, "--overwrite", "--crosswalk", str(table)]) == 0

    rows = pd.read_csv(table, dtype=str, keep_default_na=False)
    assert list(rows.columns) == crosswalk.COLUMNS
    assert not rows.duplicated(["kind", "original"]).any()
    uid_map = dict(zip(rows[rows.kind == "UID"].original, rows[rows.kind == "UID"].replacement,
                       strict=True))
    written = {}
    for item in corpus:
        target = os.path.join(output, os.path.relpath(item.path, corpus.root))
        written[item.sop_instance_uid] = pydicom.dcmread(target)
    # complete: every UID in the outputs (DICOM's own class and syntax UIDs aside) is the
    # replacement of an original in the crosswalk, and no planted UID survives
    out_uids = set().union(*(set(crosswalk._uids(ds)) for ds in written.values()))
    assert {u for u in out_uids if not u.startswith("1.2.840.10008.")} <= set(uid_map.values())
    assert not corpus.original_uids() & out_uids
    assert len(set(uid_map.values())) == len(uid_map)  # one original per pseudonym
    # consistent: each output's identifiers are the crosswalk's replacements of its own
    for item in corpus:
        ds = written[item.sop_instance_uid]
        assert uid_map[item.sop_instance_uid] == ds.SOPInstanceUID
        original = pydicom.dcmread(item.path)
        assert uid_map[original.StudyInstanceUID] == ds.StudyInstanceUID
        assert uid_map[original.SeriesInstanceUID] == ds.SeriesInstanceUID
        for keyword in crosswalk.PAIRED_KEYWORDS:  # a replaced id maps; an emptied one has none
            found = rows[(rows.kind == keyword) & (rows.original == original.get(keyword))]
            assert list(found.replacement) == ([ds.get(keyword)] if ds.get(keyword) else [])
        assert ds.PatientID  # tcia replaces the patient id by a pseudonym
    # nothing under the output names or holds the mapping
    for path in glob.glob(str(output / "**" / "*"), recursive=True):
        assert "crosswalk" not in os.path.basename(path)
    manifest = pd.read_csv(output / "_manifest.csv")
    assert crosswalk.CROSSWALK_COL not in manifest.columns


def test_stream_crosswalk_has_one_row_per_original_after_a_replayed_batch(
        spark, tmp_path, secret_file):
    corpus = write_corpus(tmp_path / "landing", n_patients=1, seed=12)
    output, checkpoint = str(tmp_path / "out"), str(tmp_path / "ck")
    table = str(tmp_path / "crosswalk.csv")
    empty = spark.createDataFrame([], "path string, relative_path string")
    model = metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                              secret_file=secret_file).fit(empty)

    def run() -> pd.DataFrame:
        process_landed(spark, str(corpus.root), output, checkpoint, model,
                       max_files_per_trigger=3, crosswalk=table)
        return pd.read_csv(table, dtype=str, keep_default_na=False)

    first = run()
    assert {f.sop_instance_uid for f in corpus} <= set(first.original)
    # forget the last batch's commit: Spark replays it on the next start
    commits = sorted(glob.glob(os.path.join(checkpoint, "commits", "[0-9]*")),
                     key=lambda p: int(os.path.basename(p)))
    assert len(commits) >= 2
    last = commits[-1]
    for name in (last, os.path.join(os.path.dirname(last), f".{os.path.basename(last)}.crc")):
        if os.path.exists(name):
            os.remove(name)
    again = run()
    assert len(again) == len(first) and not again.duplicated(["kind", "original"]).any()
    assert again.equals(first)
    assert len(read_stream_manifest(output)) == len(corpus.files)
    manifest = read_stream_manifest(output)
    out = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
           for p in manifest["output_path"]}
    mapped = dict(zip(first.original, first.replacement, strict=True))
    assert {mapped[f.sop_instance_uid] for f in corpus} == out
