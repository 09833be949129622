"""The pseudonym crosswalk: original -> replacement for UIDs, patient ids and accessions.

Honest brokers re-link results to patients and challenge scorers check UID
mappings; both need the mapping a run applied. It is PHI (it names every
original identifier), so it is off unless asked for, and it is written
outside the output folder, never among the files that are released.

The rows are found by comparing each input with its output: a UID of the
input that the output no longer holds was replaced by its keyed pseudonym
when that pseudonym is in the output (a UID removed outright has no row);
Patient ID and Accession Number are paired by keyword at the top level.
Executors return each file's rows with its manifest row (in a column the
manifest files never write); the driver merges them into one CSV keyed on
``(kind, original)``, so a replayed streaming batch or a re-run adds no row
twice.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pydicom
from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.errors import SparkDeidError
from sparkdeid.metadata.engine import EngineConfig
from sparkdeid.metadata.pseudonyms import Pseudonymizer
from sparkdeid.storage import is_s3, local_path, read_bytes, write_bytes_atomic

CROSSWALK_COL = "crosswalk"  # per-file rows as JSON, between executors and the driver
COLUMNS = ["kind", "original", "replacement"]
KIND_UID = "UID"
PAIRED_KEYWORDS = ("PatientID", "AccessionNumber")
_STANDARD_ROOT = "1.2.840.10008."  # DICOM's own UIDs (SOP classes, syntaxes) are never replaced


class CrosswalkError(SparkDeidError, ValueError):
    """A crosswalk that cannot be written as asked: a path among the released (or input)
    files, a remote or folder path, or a pipeline without a metadata stage."""


def check_location(crosswalk: str, *released: str) -> str:
    """The crosswalk's absolute path; refused inside (or at) an output or input folder.

    Inside the output it would be released with the files; inside an input
    or landing folder the next run would take it for an input.
    """
    if is_s3(crosswalk):
        raise CrosswalkError("the crosswalk is written to a local path only")
    target = os.path.abspath(local_path(crosswalk))
    for folder in released:
        if is_s3(folder):
            continue
        root = os.path.abspath(local_path(folder))
        if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
            raise CrosswalkError(
                "the crosswalk holds PHI and must not be written inside the output folder "
                "(nor inside the input folder)")
    if os.path.isdir(target):
        raise CrosswalkError("the crosswalk path names a folder; give a file path")
    return target


def file_rows(original: Dataset, output: Dataset, config: EngineConfig) -> list[list[str]]:
    """``[kind, original, replacement]`` for every identifier ``output`` replaced."""
    pseudonyms = Pseudonymizer(config.secret)
    kept = set(_uids(output))
    replaced: dict[tuple[str, str], str] = {}
    for uid in _uids(original):
        if uid in kept or uid.startswith(_STANDARD_ROOT):
            continue
        candidate = pseudonyms.uid(uid)
        if candidate in kept:
            replaced[(KIND_UID, uid)] = candidate
    series = str(original.get("SeriesInstanceUID", "")).strip()
    if config.regenerate_series and series:
        regenerated = str(output.get("SeriesInstanceUID", "")).strip()
        if regenerated and regenerated != series:
            replaced[(KIND_UID, series)] = regenerated
    for keyword in PAIRED_KEYWORDS:
        before = str(original.get(keyword, "") or "").strip()
        after = str(output.get(keyword, "") or "").strip()
        if before and after and before != after:
            replaced[(keyword, before)] = after
    return [[kind, value, new] for (kind, value), new in sorted(replaced.items())]


def file_rows_json(source: str, output: bytes | str, config: EngineConfig) -> str:
    """:func:`file_rows` of an input path and its output (bytes or a local path), as JSON."""
    rows = file_rows(_header(source), _header(output), config)
    return json.dumps(rows, separators=(",", ":"))


def _header(source: bytes | str) -> Dataset:
    """A file's header; a local file is read only up to its Pixel Data."""
    if isinstance(source, bytes):
        return read_dataset(source, stop_before_pixels=True)
    if is_s3(source):
        return read_dataset(read_bytes(source), stop_before_pixels=True)
    return pydicom.dcmread(local_path(source), stop_before_pixels=True, force=True)


def _uids(ds: Dataset) -> Iterable[str]:
    """Every UID value of the data set, and the file meta's instance UID.

    The rest of the file meta (transfer syntax, the writer's implementation
    UID) names software and encodings, not the patient.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
        yield str(meta.MediaStorageSOPInstanceUID).strip(" \x00")
    for elem in ds.iterall():
        if elem.VR != "UI" or elem.value in (None, ""):
            continue
        for value in elem.value if elem.VM > 1 else [elem.value]:
            text = str(value).strip(" \x00")
            if text:
                yield text


def engine_config_of(transformer: Any) -> EngineConfig:
    """The metadata engine configuration of a stage or fitted pipeline."""
    from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier

    stages = list(getattr(transformer, "stages", [transformer]))
    found = [s for s in stages if isinstance(s, DicomMetadataDeidentifier)]
    if not found:
        raise CrosswalkError("a crosswalk needs a pipeline with a "
                                     "DicomMetadataDeidentifier stage")
    return found[-1].engine_config()


def take_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
    """Split manifest rows from the crosswalk rows they carry (the column is dropped)."""
    if CROSSWALK_COL not in rows.columns:
        return rows, []
    found: list[list[str]] = []
    for value in rows[CROSSWALK_COL]:
        if isinstance(value, str) and value:
            found.extend(json.loads(value))
    return rows.drop(columns=[CROSSWALK_COL]), found


def merge(path: str, rows: list[list[str]], *, fresh: bool = False) -> int:
    """Add ``rows`` to the crosswalk CSV at ``path`` (replacing it when ``fresh``).

    One row per ``(kind, original)``: the replacements are keyed on the
    secret, so a row seen again is the same row. Written whole then renamed.
    Returns the number of rows the file holds.
    """
    frames = [pd.DataFrame(rows, columns=COLUMNS, dtype=str)]
    if not fresh and os.path.exists(path):
        frames.insert(0, pd.read_csv(path, dtype=str, keep_default_na=False))
    table = (pd.concat(frames, ignore_index=True)
             .drop_duplicates(["kind", "original"], keep="first")
             .sort_values(["kind", "original"], kind="stable"))
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))
    return len(table)
