"""Shared fixtures: one local[2] SparkSession for the whole run, created on first use."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

SECRET = b"unit-test-secret-0123456789"


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from sparkdeid.session import local_session

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = local_session(
        "local[2]",
        app_name="sparkdeid-tests",
        extra_conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"},
    )
    yield session
    session.stop()


@pytest.fixture
def secret_file(tmp_path) -> str:
    path = tmp_path / "secret.key"
    path.write_bytes(SECRET + b"\n")
    return str(path)
