"""Read and write bytes by path: local files, ``file:`` URIs and S3 through boto3.

pyspark's wheel has no hadoop-aws, so ``s3a://`` cannot be read by Spark
itself on many clusters; executors fetch objects with boto3 instead. boto3
honours ``AWS_ENDPOINT_URL`` and the usual credential chain.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlparse

S3_SCHEMES = ("s3", "s3a", "s3n")


def is_s3(path: str) -> bool:
    return urlparse(path).scheme in S3_SCHEMES


def local_path(path: str) -> str:
    """``file:/a%20b`` -> ``/a b``; plain paths unchanged."""
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return path


def split_s3(path: str) -> tuple[str, str]:
    parsed = urlparse(path)
    return parsed.netloc, parsed.path.lstrip("/")


def join(root: str, relative: str) -> str:
    """``root`` + ``relative``; S3 keys always use ``/`` whatever the local separator."""
    if is_s3(root):
        return root.rstrip("/") + "/" + relative.replace(os.sep, "/").lstrip("/")
    return os.path.join(root, relative)


def s3_scope(url: str, exclude: str | None = None) -> tuple[str, str, str, str | None]:
    """(scheme, bucket, folder prefix ending in ``/`` or empty, prefix to skip or None)."""
    scheme = urlparse(url).scheme
    bucket, prefix = split_s3(url)
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    skip = None
    if exclude and is_s3(exclude) and split_s3(exclude)[0] == bucket:
        skip = split_s3(exclude)[1].rstrip("/") + "/"
    return scheme, bucket, prefix, skip


def list_s3(url: str, exclude: str | None = None) -> Iterator[tuple[str, str, int]]:
    """Every object under the ``s3://bucket/prefix`` folder as (path, relative path, size).

    The prefix is treated as a folder (``studies`` does not match ``studies2/``);
    listing is paginated so any number of keys is fine. Keys under ``exclude``
    (an output folder nested in the input) and folder markers are left out.
    """
    scheme, bucket, prefix, skip = s3_scope(url, exclude)
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/") or (skip is not None and key.startswith(skip)):
                continue
            yield f"{scheme}://{bucket}/{key}", key[len(prefix):], int(item["Size"])


def size(path: str) -> int | None:
    """Size in bytes, or None when the file cannot be reached (its error row says why)."""
    try:
        if is_s3(path):
            bucket, key = split_s3(path)
            return int(s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
        return os.path.getsize(local_path(path))
    except Exception:  # missing, forbidden, network: all mean "unknown"
        return None


def copy(source: str, target: str) -> None:
    """Copy one file between any two of local/S3 (used for quarantine copies)."""
    if not is_s3(source) and not is_s3(target):
        target = local_path(target)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        shutil.copyfile(local_path(source), target)
        return
    write_bytes_atomic(target, read_bytes(source))


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """One boto3 client per process (clients are thread-safe and costly to build)."""
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - boto3 is a runtime dependency
        from sparkdeid.errors import BackendUnavailableError

        raise BackendUnavailableError("reading s3:// paths needs `pip install boto3`") from exc
    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def read_bytes(path: str) -> bytes:
    if is_s3(path):
        bucket, key = split_s3(path)
        body: bytes = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    with open(local_path(path), "rb") as handle:
        return handle.read()


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write so readers never see a half-written file: temp name, then rename."""
    if is_s3(path):
        bucket, key = split_s3(path)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    target = local_path(path)
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
