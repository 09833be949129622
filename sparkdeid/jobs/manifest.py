"""The manifest: one row per input, so every file is accounted for.

Written as CSV (for people) and Parquet (for Spark) next to the outputs, in a
local folder or under an ``s3://`` prefix (built in memory, then uploaded).
Rows carry paths, a status, an error message written without PHI, sizes,
a hashed input id for logs, and what happened to an encapsulated document.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import pandas as pd

from sparkdeid.storage import join, read_bytes, write_bytes_atomic

MANIFEST_CSV = "_manifest.csv"
MANIFEST_PARQUET = "_manifest.parquet"
QUARANTINE_DIR = "_quarantine"
STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass(frozen=True)
class ManifestRow:
    input_path: str
    output_path: str | None
    status: str
    error: str | None
    input_bytes: int | None
    output_bytes: int | None
    input_id: str
    document_action: str | None = None  # e.g. "redacted:pdf:5", "removed:cda:malformed-xml"


MANIFEST_COLUMNS = list(ManifestRow.__dataclass_fields__)


def write_manifest(rows: list[ManifestRow] | pd.DataFrame, output_dir: str) -> pd.DataFrame:
    """Write both manifest files, sorted by input path so reruns diff cleanly.

    Each file is written whole then renamed (or uploaded in one request), so a
    re-run never reads a half-written manifest.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([asdict(r) for r in rows])
    frame = frame.reindex(columns=MANIFEST_COLUMNS).sort_values("input_path", kind="stable")
    # Sizes as nullable ints in both files: Spark hands back float64 for a long
    # column holding nulls, which would print "123.0" and make carried rows differ.
    frame = frame.reset_index(drop=True).astype({"input_bytes": "Int64", "output_bytes": "Int64"})
    write_bytes_atomic(join(output_dir, MANIFEST_CSV), frame.to_csv(index=False).encode("utf-8"))
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    write_bytes_atomic(join(output_dir, MANIFEST_PARQUET), parquet.getvalue())
    return frame


def read_manifest(output_dir: str) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(read_bytes(join(output_dir, MANIFEST_CSV))),
        dtype={"error": "string", "input_bytes": "Int64", "output_bytes": "Int64"},
    )


def previous_manifest(output_dir: str) -> pd.DataFrame | None:
    """The manifest a previous run left in ``output_dir``, or None when there is none."""
    try:
        return read_manifest(output_dir)
    except FileNotFoundError:
        return None
    except Exception as exc:  # S3: NoSuchKey / 404 come as botocore ClientError
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            return None
        raise
