"""The full pipeline on a real Spark standalone cluster (a master and two workers on
127.0.0.1, started from the installed pyspark) gives the same files as local mode."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SPARK_CLASS = Path(sys.executable).parent / "spark-class"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[str]:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_WORKER_DIR": str(tmp_path_factory.mktemp("work"))}
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    processes = [subprocess.Popen(
        [str(SPARK_CLASS), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(_free_port())],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )]
    try:
        _wait_for(port)
        for _ in range(2):
            processes.append(subprocess.Popen(
                [str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", master_url,
                 "--host", "127.0.0.1", "--cores", "1", "--memory", "2g",
                 "--webui-port", str(_free_port())],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            ))
        time.sleep(5)  # let both workers register
        yield master_url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _deid(master: str, inbox: Path, outbox: Path, secret: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.run(
        [sys.executable, "-m", "sparkdeid.cli", "deid", "--input", str(inbox), "--output",
         str(outbox), "--strategy", "tcia", "--secret-file", str(secret), "--master", master],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )


def test_cluster_outputs_equal_local_outputs(cluster, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in ("CT_small.dcm", "MR_small_RLE.dcm", "US1_UNCR.dcm", "emri_small.dcm"):
        shutil.copy(get_testdata_file(name), inbox / name)
    burned = ROOT / "samples" / "dicom" / "burned-in" / "ct_rle.dcm"
    shutil.copy(burned, inbox / "burned.dcm")
    secret = tmp_path / "key"
    secret.write_text("cluster-secret-0123456789")
    on_cluster = _deid(cluster, inbox, tmp_path / "cluster", secret)
    assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    local = _deid("local[2]", inbox, tmp_path / "local", secret)
    assert local.returncode == 0, local.stderr[-3000:]
    for path in sorted(inbox.iterdir()):
        a = (tmp_path / "cluster" / path.name).read_bytes()
        b = (tmp_path / "local" / path.name).read_bytes()
        assert a == b, path.name
