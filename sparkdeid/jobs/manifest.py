"""The manifest: one row per input, so every file is accounted for.

Written as CSV (for people) and Parquet (for Spark) next to the outputs.
Rows carry paths, a status, an error message written without PHI, sizes,
a hashed input id for logs, and what happened to an encapsulated document.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import pandas as pd

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
    """Write both manifest files, sorted by input path so reruns diff cleanly."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([asdict(r) for r in rows])
    frame = frame.reindex(columns=MANIFEST_COLUMNS).sort_values("input_path", kind="stable")
    frame = frame.reset_index(drop=True)
    os.makedirs(output_dir, exist_ok=True)
    frame.to_csv(os.path.join(output_dir, MANIFEST_CSV), index=False)
    frame.astype({"input_bytes": "Int64", "output_bytes": "Int64"}).to_parquet(
        os.path.join(output_dir, MANIFEST_PARQUET), index=False
    )
    return frame


def read_manifest(output_dir: str) -> pd.DataFrame:
    return pd.read_csv(os.path.join(output_dir, MANIFEST_CSV), dtype={"error": "string"})
