"""The pseudonym secret: keyed, never written anywhere, and the only way to the mapping.

* A saved pipeline (stages and fitted model) holds the secret's *source* (a
  file path or an environment variable's name), never the secret, whether
  it came from a file, a variable or ``setSecret`` (a literal is kept in
  memory only and is not saved).
* A batch run writes it into no output, manifest or log line.
* Two secrets give unrelated pseudonyms for every file.
* Output ids are keyed: hashing candidate values with SHA-256, SHA-1, MD5 or
  an HMAC with an empty key reproduces none of them; the HMAC with the right
  secret reproduces every one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparkdeid import DicomMetadataDeidentifier, pipeline, schemas
from sparkdeid.jobs.batch import RELPATH_COL, run_batch
from sparkdeid.metadata.pseudonyms import Pseudonymizer
from tests.factories import write_corpus

pytestmark = pytest.mark.spark

FILE_SECRET = b"file-secret-7c1d0e9a4b2f6e83"
ENV_SECRET = b"env-secret-52a9f1c07d3e8b46"
LITERAL_SECRET = b"literal-secret-9e4b7a1c2d5f"
ENV_VAR = "SPARKDEID_TEST_KEY_FOR_SAVE"


def _forms(secret: bytes) -> list[bytes]:
    """The secret as bytes, hex (both cases) and base64 (standard, url-safe, unpadded)."""
    b64 = base64.b64encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b32encode(secret).rstrip(b"="),
    ]


def _files_containing(root: Path, secret: bytes) -> list[str]:
    forms = _forms(secret)
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(form in data for form in forms):
                found.append(str(path.relative_to(root)))
    return found


def _all_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def _deidentifier(stages) -> DicomMetadataDeidentifier:
    (stage,) = [s for s in stages if isinstance(s, DicomMetadataDeidentifier)]
    return stage


@pytest.fixture
def secret_path(tmp_path) -> str:
    path = tmp_path / "keys" / "deid.key"
    path.parent.mkdir()
    path.write_bytes(FILE_SECRET + b"\n")
    return str(path)


def test_saved_pipelines_hold_the_source_not_the_secret(spark, tmp_path, secret_path,
                                                        monkeypatch):
    monkeypatch.setenv(ENV_VAR, ENV_SECRET.decode())
    monkeypatch.delenv("SPARKDEID_SECRET", raising=False)
    empty = spark.createDataFrame([], "path string, relative_path string")

    from_file = pipeline.full_pipeline(input_col=schemas.PATH_COL, secret_file=secret_path)
    from_file.write().overwrite().save(str(tmp_path / "file-pipeline"))
    from_file.fit(empty).write().overwrite().save(str(tmp_path / "file-model"))

    from_env = pipeline.metadata_pipeline(input_col=schemas.PATH_COL)
    _deidentifier(from_env.getStages()).setSecretEnvVar(ENV_VAR)
    from_env.fit(empty).write().overwrite().save(str(tmp_path / "env-model"))

    literal = DicomMetadataDeidentifier(secretEnvVar="").setSecret(LITERAL_SECRET)
    assert literal.engine_config().secret == LITERAL_SECRET
    literal.write().overwrite().save(str(tmp_path / "literal-stage"))
    Pipeline(stages=[literal]).fit(empty).write().overwrite().save(str(tmp_path / "literal-model"))

    for folder, secret in (("file-pipeline", FILE_SECRET), ("file-model", FILE_SECRET),
                           ("env-model", ENV_SECRET), ("literal-stage", LITERAL_SECRET),
                           ("literal-model", LITERAL_SECRET)):
        assert _files_containing(tmp_path / folder, secret) == [], folder
        assert any((tmp_path / folder).rglob("*")), folder  # something was saved
    # what is saved is the reference, which resolves to the same secret after loading
    assert secret_path.encode() in _all_text(tmp_path / "file-model")
    assert ENV_VAR.encode() in _all_text(tmp_path / "env-model")
    loaded = _deidentifier(PipelineModel.load(str(tmp_path / "file-model")).stages)
    assert loaded.engine_config().secret == FILE_SECRET
    loaded = _deidentifier(PipelineModel.load(str(tmp_path / "env-model")).stages)
    assert loaded.engine_config().secret == ENV_SECRET
    # a literal stays in the process that set it: the loaded stage does not have it
    reloaded = DicomMetadataDeidentifier.load(str(tmp_path / "literal-stage"))
    assert getattr(reloaded, "_secret_value", None) is None
    assert reloaded.getSecretFile() == "" and reloaded.getSecretEnvVar() == ""
    # nor do the representations that end up in logs and tracebacks
    config = loaded.engine_config()
    for text in (repr(config), str(config), repr(loaded), loaded.explainParams(),
                 repr(literal.extractParamMap())):
        assert not any(form.decode() in text for form in _forms(ENV_SECRET)
                       + _forms(LITERAL_SECRET))


def _run(spark, corpus_root: Path, output: Path, secret: bytes) -> pd.DataFrame:
    key = output.parent / f"{output.name}.key"
    key.write_bytes(secret)
    model = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                                       secret_file=str(key))
    empty = spark.createDataFrame([], f"path string, {RELPATH_COL} string")
    summary = run_batch(spark, str(corpus_root), str(output), model.fit(empty))
    assert summary.accounted
    return summary.manifest


@pytest.fixture(scope="module")
def two_secret_runs(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secrets")
    corpus = write_corpus(tmp / "in", n_patients=3, studies_per_patient=1,
                          series_per_study=1, instances_per_series=2, seed=3)
    (tmp / "in" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 50)
    logger = logging.getLogger()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        first = _run(spark, tmp / "in", tmp / "out-a", FILE_SECRET)
        second = _run(spark, tmp / "in", tmp / "out-b", ENV_SECRET)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return tmp, corpus, first, second, records


def test_batch_outputs_manifest_and_logs_never_hold_the_secret(two_secret_runs):
    tmp, _, first, second, records = two_secret_runs
    assert (first["status"] == "error").sum() == 1  # the broken file is accounted for too
    for folder, secret in (("out-a", FILE_SECRET), ("out-b", ENV_SECRET)):
        assert _files_containing(tmp / folder, secret) == [], folder  # outputs + manifest
    logs = "\n".join(records)
    assert records  # DEBUG logging was on
    for secret in (FILE_SECRET, ENV_SECRET):
        assert not any(form.decode() in logs for form in _forms(secret))
    for manifest in (first, second):
        text = manifest.to_csv()
        assert not any(form.decode() in text for form in _forms(FILE_SECRET) + _forms(ENV_SECRET))


def _outputs(tmp: Path, folder: str, corpus) -> dict[str, pydicom.Dataset]:
    out = {}
    for item in corpus:
        path = tmp / folder / os.path.relpath(item.path, corpus.root)
        out[item.sop_instance_uid] = pydicom.dcmread(io.BytesIO(path.read_bytes()))
    return out


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def test_two_secrets_give_unrelated_pseudonyms_for_every_file(two_secret_runs):
    tmp, corpus, _, _, _ = two_secret_runs
    a, b = _outputs(tmp, "out-a", corpus), _outputs(tmp, "out-b", corpus)
    offsets: dict[str, set[tuple[int, int]]] = {}
    for item in corpus:
        x, y = a[item.sop_instance_uid], b[item.sop_instance_uid]
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            u, v = str(x.get(keyword)), str(y.get(keyword))
            assert u.startswith("2.25.") and v.startswith("2.25.") and u != v
            assert _common_prefix(u[5:], v[5:]) <= 3, keyword  # nothing shared past the root
        for keyword in ("PatientID", "PatientName", "AccessionNumber"):
            u, v = str(x.get(keyword, "")), str(y.get(keyword, ""))
            if u or v:
                assert u != v, keyword
                assert _common_prefix(u, v) <= 3, keyword
        original = datetime.strptime(item.dates["StudyDate"], "%Y%m%d")
        shift_a = (datetime.strptime(str(x.StudyDate), "%Y%m%d") - original).days
        shift_b = (datetime.strptime(str(y.StudyDate), "%Y%m%d") - original).days
        offsets.setdefault(item.patient.patient_id, set()).add((shift_a, shift_b))
    for pairs in offsets.values():
        assert len(pairs) == 1  # one offset per patient and secret
        ((shift_a, shift_b),) = pairs
        assert shift_a != shift_b and 0 not in (shift_a, shift_b)


def _reduce(digest: bytes, length: int) -> str:
    """How the library turns a digest into a patient id of ``length`` digits."""
    return str(int.from_bytes(digest, "big") % 10**length).zfill(length)


def test_ids_cannot_be_recovered_by_hashing_candidates_without_the_secret(two_secret_runs):
    tmp, corpus, _, _, _ = two_secret_runs
    outputs = _outputs(tmp, "out-a", corpus)
    planted = {item.patient.patient_id: str(outputs[item.sop_instance_uid].PatientID)
               for item in corpus}
    uids = {item.sop_instance_uid: str(outputs[item.sop_instance_uid].SOPInstanceUID)
            for item in corpus}
    # an attacker's dictionary: the true ids among decoys of the same shape
    candidates = sorted(set(planted) | {f"{n:010d}" for n in range(4242000000, 4242002000)})
    unkeyed = [
        lambda m: hashlib.sha256(m).digest(),
        lambda m: hashlib.sha1(m).digest(),
        lambda m: hashlib.md5(m).digest(),
        lambda m: hmac.new(b"", m, hashlib.sha256).digest(),
    ]
    for original, pseudonym in planted.items():
        assert pseudonym != original and len(pseudonym) == len(original)
        hits = {
            candidate
            for candidate in candidates
            for message in (candidate.encode(), b"digits\x1f" + candidate.encode())
            for digest in unkeyed
            if _reduce(digest(message), len(original)) == pseudonym
        }
        assert hits == set()  # no unkeyed hash of any candidate gives the output id
        # ...but the keyed derivation with the right secret reproduces it exactly
        keyed = hmac.new(FILE_SECRET, b"digits\x1f" + original.encode(), hashlib.sha256)
        assert _reduce(keyed.digest(), len(original)) == pseudonym
        assert Pseudonymizer(FILE_SECRET).digits(original, len(original)) == pseudonym
        assert Pseudonymizer(ENV_SECRET).digits(original, len(original)) != pseudonym
    for original, pseudonym in uids.items():
        for digest in unkeyed:
            for message in (original.encode(), b"uid\x1f" + original.encode()):
                number = int.from_bytes(digest(message)[:16], "big")
                assert f"2.25.{number}" != pseudonym
                assert f"2.25.{int.from_bytes(digest(message), 'big')}" != pseudonym
        keyed = hmac.new(FILE_SECRET, b"uid\x1f" + original.encode(), hashlib.sha256).digest()
        assert f"2.25.{int.from_bytes(keyed[:16], 'big')}" == pseudonym
