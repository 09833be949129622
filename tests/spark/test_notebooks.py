"""The example notebooks run headless and do what they say.

Each notebook's ``parameters`` cell is replaced with test values (temporary
folders; for 04, buckets on moto's S3 server), the notebook runs on a fresh
kernel through nbclient, and its results are checked from here by reading
what it wrote. The kernel is this interpreter, through a kernelspec written
to a temporary folder, so the test needs no kernel installed anywhere else;
it inherits this process's environment when it starts (Spark's workers then
inherit it from the kernel), which is how the AWS settings reach them.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SAMPLES = ROOT / "samples" / "dicom"
SECRET = "notebook-test-secret"
KERNEL = "sparkdeid-notebook-test"
CELL_TIMEOUT = 300


def _generator():
    spec = importlib.util.spec_from_file_location("build_notebooks",
                                                  NOTEBOOKS / "build_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return cells[0]


def test_committed_notebooks_are_generated_and_clean() -> None:
    """What build_notebooks.py writes is what is committed: no outputs, the common head."""
    generator = _generator()
    assert sorted(generator.NOTEBOOKS) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name, nb in generator.NOTEBOOKS.items():
        text = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert text == generator.render(nb), f"{name} is stale: run notebooks/build_notebooks.py"
        stored = nbformat.reads(text, as_version=4)
        nbformat.validate(stored)
        assert stored.nbformat == 4
        for cell in stored.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
        assert stored.cells[0].cell_type == "markdown" and "%pip install" in stored.cells[0].source
        assert stored.cells[1].source.startswith("# %pip install sparkdeid")
        assert "local_session" in stored.cells[2].source
        parameters = _parameters_cell(stored).source
        assert "import" not in parameters  # assignments only, so it can be replaced whole


def test_parameter_defaults_point_at_the_samples(monkeypatch) -> None:
    """Run as shipped (from notebooks/, no overrides), the inputs are the repository's samples."""
    monkeypatch.chdir(NOTEBOOKS)
    for name in ("SPARKDEID_NB_INPUT", "SPARKDEID_NB_OUTPUT", "SPARKDEID_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        session = nb.cells[2].source.split("\n\n", 1)[0]  # the imports the parameters use
        namespace: dict[str, object] = {}
        exec(session + "\n" + _parameters_cell(nb).source, namespace)
        assert namespace["SECRET"] == "demo-secret-not-for-real-data"
        local_input = namespace["SAMPLES" if "SAMPLES" in namespace else "INPUT"]
        if not str(local_input).startswith("s3://"):
            assert Path(str(local_input)).is_dir() and SAMPLES in [
                Path(str(local_input)), *Path(str(local_input)).parents]


@pytest.fixture(scope="module")
def kernel_manager_factory(tmp_path_factory):
    """Kernel managers whose kernel is this interpreter, whatever is installed globally."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    prefix = tmp_path_factory.mktemp("jupyter")
    spec_dir = Path(install(kernel_name=KERNEL, prefix=str(prefix)))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    assert specs.get_kernel_spec(KERNEL).argv[0] == sys.executable

    def make() -> KernelManager:
        return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)

    return make


@pytest.fixture
def run_notebook(kernel_manager_factory, monkeypatch):
    """Run a notebook with its parameters cell replaced; return the executed notebook."""
    from nbclient import NotebookClient

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    monkeypatch.setenv("SPARKDEID_DRIVER_MEMORY", "1g")
    monkeypatch.delenv("SPARKDEID_SECRET", raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)

    def run(name: str, **parameters: object):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        cell = _parameters_cell(nb)
        cell.source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
        client = NotebookClient(
            nb,
            km=kernel_manager_factory(),
            timeout=CELL_TIMEOUT,
            startup_timeout=120,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()
        return nb

    return run


def _text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _header(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def _dicom_samples(folder: Path) -> dict[str, Path]:
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.spark
@pytest.mark.slow
def test_01_metadata(run_notebook, tmp_path) -> None:
    out = tmp_path / "out"
    run_notebook("01_metadata_deidentification.ipynb", INPUT=str(SAMPLES), OUTPUT=str(out),
                 STRATEGY="tcia", SECRET=SECRET)
    inputs = _dicom_samples(SAMPLES)
    manifest = pd.read_csv(out / "_manifest.csv")
    assert len(manifest) == len(inputs) and set(manifest["status"]) == {"ok"}
    assert (out / "_manifest.parquet").read_bytes()[:4] == b"PAR1"
    names: dict[str, set[str]] = {}
    for relative, source in inputs.items():
        original = pydicom.dcmread(source)
        result = pydicom.dcmread(out / relative)  # valid DICOM at the same relative path
        assert result.SOPInstanceUID != original.SOPInstanceUID
        assert result.get("PixelData") == original.get("PixelData")  # metadata only
        if original.get("PatientName"):
            assert str(result.PatientName) != str(original.PatientName)
            names.setdefault(str(original.PatientName), set()).add(str(result.PatientName))
    # one pseudonym per patient, a different one for each
    assert all(len(pseudonyms) == 1 for pseudonyms in names.values())
    assert len(set.union(*names.values())) == len(names) > 1


@pytest.mark.spark
@pytest.mark.slow
def test_02_full_pixels(run_notebook, tmp_path) -> None:
    from PIL import Image

    out = tmp_path / "out"
    source = SAMPLES / "burned-in"
    nb = run_notebook("02_full_pixel_pipeline.ipynb", INPUT=str(source), OUTPUT=str(out),
                      STRATEGY="tcia", OCR_ENGINE="rapidocr", SECRET=SECRET)
    printed = _text_outputs(nb)
    assert "TextDetector" in printed and "DicomDrawRegions" in printed
    for name in ("ct_rle.dcm", "dx_jpegls.dcm", "ot_no_text.dcm"):
        original = pydicom.dcmread(source / name)
        result = pydicom.dcmread(out / name)
        assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert str(result.PatientName) != str(original.PatientName)
        assert result.PatientID != original.PatientID
        if name == "ot_no_text.dcm":
            assert result.PixelData == original.PixelData
        else:  # burned-in PHI was masked
            assert (result.pixel_array != original.pixel_array).any()
            assert result.BurnedInAnnotation == "NO"
    with Image.open(out / "_before_after.png") as picture:
        assert picture.width > picture.height > 0


@pytest.mark.spark
@pytest.mark.slow
def test_03_custom_strategy(run_notebook, tmp_path) -> None:
    out = tmp_path / "out"
    source = SAMPLES / "patient00"
    run_notebook("03_custom_strategy.ipynb", INPUT=str(source), OUTPUT=str(out),
                 BASE_PROFILE="basic", SECRET=SECRET)
    strategy = pd.read_csv(out / "research_strategy.csv", dtype=str, keep_default_na=False)
    actions = dict(zip(strategy["Tags"], strategy["Action"], strict=True))
    assert actions["(0010, 1010)"] == "keep"
    assert actions["(0008, 0020)"] == "shiftDateByRandomNbOfDays"
    assert actions["(0010, 0020)"] == "patientHashId"

    results = {}
    for relative, path in _dicom_samples(source).items():
        original = _header(path.read_bytes())
        result = _header((out / "custom" / relative).read_bytes())
        results[relative] = (original, result)
        assert result.PatientAge == original.PatientAge  # kept
        assert result.PatientSex == original.PatientSex
        assert result.PatientID != original.PatientID and result.PatientID.isdigit()
        assert len(result.PatientID) == len(original.PatientID)
        assert result.AccessionNumber and result.AccessionNumber != original.AccessionNumber
        assert result.StudyDate and result.StudyDate != original.StudyDate
        assert not result.get("PatientName")  # the Basic Profile still empties it
    assert len({r.PatientID for _, r in results.values()}) == 1  # one patient, one pseudonym

    def days(ds: pydicom.Dataset) -> int:
        return pd.Timestamp(ds.StudyDate).toordinal()

    first = results[os.path.join("study0", "s1_i001.dcm")]
    second = results[os.path.join("study1", "s1_i001.dcm")]
    assert days(second[1]) - days(first[1]) == days(second[0]) - days(first[0])


@pytest.mark.spark
@pytest.mark.slow
def test_04_s3_batch(run_notebook) -> None:
    from sparkdeid import storage
    from sparkdeid.jobs.manifest import read_manifest
    from tests.s3_server import moto_s3

    inputs = {**{f"patient00/{k}": p for k, p in _dicom_samples(SAMPLES / "patient00").items()},
              **{f"patient01/{k}": p for k, p in _dicom_samples(SAMPLES / "patient01").items()}}
    # moto_s3 puts the endpoint and credentials in os.environ; the kernel started inside
    # inherits them, and its Spark workers inherit them from the kernel.
    with moto_s3() as _endpoint:
        client = storage.s3_client()
        client.create_bucket(Bucket="nb-in")
        client.create_bucket(Bucket="nb-out")
        for relative, path in inputs.items():
            client.put_object(Bucket="nb-in", Key=f"studies/{relative}", Body=path.read_bytes())
        nb = run_notebook("04_s3_batch.ipynb", INPUT="s3://nb-in/studies",
                          OUTPUT="s3://nb-out/deid", STRATEGY="tcia", METADATA_ONLY=True,
                          SECRET=SECRET)
        manifest = read_manifest("s3://nb-out/deid")
        assert len(manifest) == len(inputs) and set(manifest["status"]) == {"ok"}
        for relative, path in inputs.items():
            original = _header(path.read_bytes())
            result = _header(storage.read_bytes(f"s3://nb-out/deid/{relative}"))
            assert str(result.PatientName) != str(original.PatientName)
            assert result.SOPInstanceUID != original.SOPInstanceUID
            assert result.PatientIdentityRemoved == "YES"
    assert f"re-run: {len(inputs)} skipped" in _text_outputs(nb)


@pytest.mark.spark
@pytest.mark.slow
def test_05_streaming(run_notebook, tmp_path) -> None:
    from sparkdeid.jobs.streaming import read_stream_manifest, relative_to

    work = tmp_path / "work"
    landing, out = work / "landing", work / "out"
    run_notebook("05_streaming.ipynb", SAMPLES=str(SAMPLES), WORK=str(work),
                 LANDING=str(landing), OUTPUT=str(out), CHECKPOINT=str(work / "checkpoint"),
                 RESET=True, STRATEGY="tcia", SECRET=SECRET)
    landed = list(_dicom_samples(SAMPLES).items())[:8]
    manifest = read_stream_manifest(str(out))
    assert len(manifest) == len(landed) + 1
    by_file = {relative_to(str(landing), p): s
               for p, s in zip(manifest["input_path"], manifest["status"], strict=True)}
    assert by_file.pop("notes.txt") == "error"
    assert set(by_file) == {relative for relative, _ in landed}
    assert set(by_file.values()) == {"ok"}
    # one batch for 'once', then at most two files per batch for 'available-now'
    assert manifest["batch_id"].nunique() >= 1 + 3
    assert (out / "_quarantine" / "notes.txt").is_file()
    for relative, source in landed:
        original, result = pydicom.dcmread(source), pydicom.dcmread(out / relative)
        assert result.SOPInstanceUID != original.SOPInstanceUID
        assert result.get("PixelData") == original.get("PixelData")
