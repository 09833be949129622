"""The pseudonym crosswalk: found by comparing input and output, merged once per original."""

from __future__ import annotations

import io

import pandas as pd
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from sparkdeid.jobs import crosswalk
from sparkdeid.metadata.engine import deidentify_bytes
from tests.factories import SyntheticPatient, build_study, dataset_bytes, engine_config

SECRET = b"crosswalk-unit-secret"


def _uids(ds: pydicom.Dataset) -> set[str]:
    return set(crosswalk._uids(ds))


@pytest.mark.parametrize("strategy", ["tcia", "basic"])
def test_every_replaced_identifier_has_a_row_whose_replacement_the_output_holds(strategy):
    config = engine_config(strategy, SECRET)
    patient = SyntheticPatient.from_seed(3301)
    for original in build_study(patient, seed=3301, n_series=2, n_instances=2,
                                transfer_syntax=ExplicitVRLittleEndian, image_size=8):
        data = dataset_bytes(original)
        out, _ = deidentify_bytes(data, config)
        before = pydicom.dcmread(io.BytesIO(data))
        after = pydicom.dcmread(io.BytesIO(out))
        rows = crosswalk.file_rows(before, after, config)
        mapped = {(kind, old): new for kind, old, new in rows}
        uid_rows = {old: new for (kind, old), new in mapped.items() if kind == "UID"}
        gone = _uids(before) - _uids(after)
        assert {before.SOPInstanceUID, before.StudyInstanceUID, before.SeriesInstanceUID,
                before.FrameOfReferenceUID} <= set(uid_rows) <= gone
        assert set(uid_rows.values()) <= _uids(after)
        # a UID gone without a row was removed: no pseudonym of it is anywhere in the output
        pseudonyms = crosswalk.Pseudonymizer(SECRET)
        assert not {pseudonyms.uid(u) for u in gone - set(uid_rows)} & _uids(after)
        for keyword in ("PatientID", "AccessionNumber"):
            # tcia replaces them with pseudonyms; basic empties them (nothing to map)
            if after.get(keyword):
                assert mapped[(keyword, before.get(keyword))] == after.get(keyword)
            else:
                assert (keyword, before.get(keyword)) not in mapped
        if strategy == "tcia":
            assert ("PatientID", before.PatientID) in mapped
        # the JSON the executors send carries the same rows
        assert crosswalk.file_rows_json(_write(data), out, config) == \
            crosswalk.json.dumps(rows, separators=(",", ":"))


def _write(data: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as handle:
        handle.write(data)
    return handle.name


def test_a_retained_uid_has_no_row():
    config = engine_config("basic+retain-uids", SECRET)
    original = build_study(SyntheticPatient.from_seed(3302), seed=3302, n_series=1,
                           n_instances=1, image_size=8)[0]
    data = dataset_bytes(original)
    out, _ = deidentify_bytes(data, config)
    rows = crosswalk.file_rows(pydicom.dcmread(io.BytesIO(data)),
                               pydicom.dcmread(io.BytesIO(out)), config)
    assert [r for r in rows if r[0] == "UID"] == []


def test_the_crosswalk_is_refused_inside_an_output_or_input_folder(tmp_path):
    out, inp = tmp_path / "out", tmp_path / "in"
    for bad in (out / "map.csv", out / "sub" / "map.csv", out, inp / "map.csv"):
        with pytest.raises(crosswalk.CrosswalkError, match="PHI|folder"):
            crosswalk.check_location(str(bad), str(out), str(inp))
    with pytest.raises(crosswalk.CrosswalkError):
        crosswalk.check_location("s3://bucket/map.csv", str(out))
    beside = tmp_path / "outside" / "map.csv"
    assert crosswalk.check_location(str(beside), str(out), str(inp)) == str(beside)
    # a sibling whose name starts like the output folder is outside it
    assert crosswalk.check_location(str(tmp_path / "out-map.csv"), str(out))


def test_merging_keeps_one_row_per_original(tmp_path):
    path = str(tmp_path / "map.csv")
    first = [["UID", "1.2.3", "2.25.1"], ["PatientID", "P1", "77"]]
    assert crosswalk.merge(path, first) == 2
    assert crosswalk.merge(path, first + [["UID", "1.2.4", "2.25.2"]]) == 3  # a replay
    table = pd.read_csv(path, dtype=str)
    assert list(table.columns) == crosswalk.COLUMNS
    assert not table.duplicated(["kind", "original"]).any()
    assert crosswalk.merge(path, [], fresh=True) == 0


def test_manifest_rows_give_up_their_crosswalk_column():
    rows = pd.DataFrame({"input_path": ["a", "b"], crosswalk.CROSSWALK_COL:
                         ['[["UID","1.2.3","2.25.9"]]', None]})
    manifest, found = crosswalk.take_rows(rows)
    assert crosswalk.CROSSWALK_COL not in manifest.columns
    assert found == [["UID", "1.2.3", "2.25.9"]]
