"""Which files a batch run has to do: listed on the driver, by Spark, or on executors.

- Local folders are walked on the driver (:func:`list_inputs`).
- A bucket Spark can read itself (a cluster with hadoop-aws for ``s3a://``,
  EMRFS or Databricks for ``s3://``) is listed by Spark's ``binaryFile``
  source, selecting only path and length so no object is downloaded.
- Otherwise (pyspark's own wheel has no S3 filesystem) the driver lists the
  top level of the prefix with boto3 and executors list each sub-folder in
  ``mapInPandas``, so a bucket of millions of keys is listed in parallel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import unquote, urlparse

import pandas as pd
from pyspark.sql import SparkSession

from sparkdeid.storage import is_s3, list_s3, s3_client, s3_scope, size

logger = logging.getLogger(__name__)

Listed = tuple[str, str, Optional[int]]  # noqa: UP045 (a runtime alias on Python 3.10)
_LISTED_DDL = "path string, relative_path string, length long"


def list_inputs(input_dir: str, exclude: str | None = None) -> list[tuple[str, str]]:
    """Every regular file under a local ``input_dir`` as (absolute path, relative path).

    Whether a file is DICOM is decided by its content when it is processed, so
    files without a suffix are included and a non-DICOM file becomes an error
    row rather than vanishing. ``exclude`` skips an output folder nested inside.
    A symbolic link to a file is an input like the file (staging folders of
    links are common); a broken link is listed too and becomes an error row.
    Links to folders are not followed (no loops, no walking out of the tree).
    """
    root = os.path.abspath(input_dir)
    skip = os.path.abspath(exclude) if exclude else None
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) != skip)
        for name in sorted(files):
            full = os.path.join(folder, name)
            if os.path.isfile(full) or os.path.islink(full):
                found.append((full, os.path.relpath(full, root)))
    return found


def list_sized(spark: SparkSession, input_dir: str, output_root: str) -> list[Listed]:
    """(path, relative path, size) of every input, sorted by path."""
    if not is_s3(input_dir):
        exclude = None if is_s3(output_root) else output_root
        return [(p, r, size(p)) for p, r in list_inputs(input_dir, exclude=exclude)]
    if spark_reads(spark, input_dir):
        logger.info("listing: Spark has a filesystem for the input's scheme")
        return list_with_spark(spark, input_dir, exclude=output_root)
    return list_s3_on_executors(spark, input_dir, exclude=output_root)


def spark_reads(spark: SparkSession, url: str) -> bool:
    """Whether the JVM has a Hadoop filesystem for this URL's scheme (s3a needs hadoop-aws)."""
    scheme = urlparse(url).scheme or "file"
    try:
        context: Any = spark.sparkContext
        conf = context._jsc.hadoopConfiguration()
        context._jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(scheme, conf)
        return True
    except Exception:  # Py4JJavaError: "No FileSystem for scheme"
        return False


def list_with_spark(spark: SparkSession, url: str, exclude: str | None = None) -> list[Listed]:
    """Files under ``url`` listed by the ``binaryFile`` source (path and length only).

    Spark skips names starting with ``_`` or ``.``, as it does everywhere.
    """
    frame = (
        spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(url)
        .select("path", "length")
    )
    root = unquote(urlparse(url).path).rstrip("/")
    skip = unquote(urlparse(exclude).path).rstrip("/") + "/" if exclude else None
    found = []
    for row in frame.collect():
        where = unquote(urlparse(row["path"]).path)
        if skip is not None and where.startswith(skip):
            continue
        found.append((row["path"], where[len(root):].lstrip("/"), int(row["length"])))
    return sorted(found)


def list_s3_on_executors(spark: SparkSession, url: str,
                         exclude: str | None = None) -> list[Listed]:
    """Objects under an ``s3://`` prefix: the top level on the driver, each sub-folder
    listed by an executor with boto3."""
    scheme, bucket, prefix, skip = s3_scope(url, exclude)
    top: list[Listed] = []
    folders: list[str] = []
    pages = s3_client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith("/"):
                top.append((f"{scheme}://{bucket}/{key}", key[len(prefix):], int(item["Size"])))
        for common in page.get("CommonPrefixes", []):
            if skip is None or not common["Prefix"].startswith(skip):
                folders.append(common["Prefix"])
    if not folders:
        return sorted(top)

    def list_folders(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = [
                (path, folder[len(prefix):] + relative, length)
                for folder in pdf["folder"]
                for path, relative, length in list_s3(f"{scheme}://{bucket}/{folder}",
                                                      exclude=exclude)
            ]
            yield pd.DataFrame(rows, columns=["path", "relative_path", "length"])

    listed = (
        spark.createDataFrame([(f,) for f in folders], "folder string")
        .repartition(max(1, min(len(folders), spark.sparkContext.defaultParallelism * 4)))
        .mapInPandas(list_folders, _LISTED_DDL)
        .collect()
    )
    logger.info("listing: %d top-level objects, %d folders listed on executors", len(top),
                len(folders))
    return sorted(top + [(r["path"], r["relative_path"], int(r["length"])) for r in listed])
