"""Inputs are listed the same way whichever lister a cluster gets."""

from __future__ import annotations

import pytest

from sparkdeid import storage
from sparkdeid.jobs.listing import (
    list_inputs,
    list_s3_on_executors,
    list_sized,
    list_with_spark,
    spark_reads,
)
from tests.s3_server import moto_s3

pytestmark = pytest.mark.spark

LAYOUT = {
    "top.dcm": b"top",
    "a/one.dcm": b"one!",
    "a/b/two": b"two-two",
    "c d/three.dcm": b"3",  # a space in a folder name
}


def _files(root) -> None:
    for relative, data in LAYOUT.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)


def test_spark_has_a_filesystem_for_local_files_but_not_s3a_here(spark):
    assert spark_reads(spark, "file:///tmp")
    assert not spark_reads(spark, "s3a://bucket/prefix")  # pyspark's wheel has no hadoop-aws


def test_spark_listing_matches_the_driver_walk(spark, tmp_path):
    root = tmp_path / "in"
    _files(root)
    (root / "out").mkdir()
    (root / "out" / "done.dcm").write_bytes(b"output")
    by_spark = list_with_spark(spark, root.as_uri(), exclude=(root / "out").as_uri())
    walked = list_inputs(str(root), exclude=str(root / "out"))
    assert [(r, n) for _, r, n in by_spark] == sorted(
        (r, len(LAYOUT[r])) for _, r in walked)
    assert all(p.startswith("file:") for p, _, _ in by_spark)


def test_executor_listing_of_a_bucket_matches_a_driver_listing(spark):
    with moto_s3(spark):
        client = storage.s3_client()
        client.create_bucket(Bucket="listing")
        for relative, data in LAYOUT.items():
            storage.write_bytes_atomic(f"s3://listing/in/{relative}", data)
        storage.write_bytes_atomic("s3://listing/in/out/done.dcm", b"output")
        storage.write_bytes_atomic("s3://listing/in2/stray.dcm", b"stray")
        url, out = "s3://listing/in", "s3://listing/in/out"
        on_executors = list_s3_on_executors(spark, url, exclude=out)
        on_driver = sorted(storage.list_s3(url, exclude=out))
        assert on_executors == on_driver
        assert sorted(r for _, r, _ in on_executors) == sorted(LAYOUT)
        assert list_sized(spark, url, out) == on_executors


def test_links_to_files_are_inputs_and_broken_links_are_not_lost(spark, tmp_path):
    from pydicom.data import get_testdata_file

    from sparkdeid.jobs.batch import run_batch
    from sparkdeid.pipeline import metadata_pipeline

    archive, staging = tmp_path / "archive", tmp_path / "staging"
    archive.mkdir()
    (staging / "sub").mkdir(parents=True)
    real = archive / "ct.dcm"
    real.write_bytes(open(get_testdata_file("CT_small.dcm"), "rb").read())
    (staging / "ct-link.dcm").symlink_to(real)
    (staging / "gone.dcm").symlink_to(archive / "deleted.dcm")
    (staging / "sub" / "folder-link").symlink_to(archive, target_is_directory=True)
    listed = {relative for _, relative in list_inputs(str(staging))}
    assert listed == {"ct-link.dcm", "gone.dcm"}  # the folder link is not walked

    empty = spark.createDataFrame([], "path string, relative_path string")
    model = metadata_pipeline(input_col="path", strategy="tcia").fit(empty)
    summary = run_batch(spark, str(staging), str(tmp_path / "out"), model)
    assert summary.accounted and summary.ok == 1 and summary.errors == 1
    assert (tmp_path / "out" / "ct-link.dcm").is_file()
