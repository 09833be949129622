"""``sparkdeid verify``: pair originals with outputs and re-scan each pair for PHI.

Every original is paired with its output by relative path (the batch job
keeps relative paths) and checked for two things:

* **metadata** -- the original's identifying values found anywhere in the
  output (:mod:`sparkdeid.verify.phi_values`);
* **pixels** -- PHI read by OCR in the output's frames, and the regions
  masking changed (:mod:`sparkdeid.verify.pixel_scan`).

Outputs the manifest lists as errors are reported as quarantined, missing
outputs as missing. :mod:`sparkdeid.jobs.verify_report` renders the result.
Values never reach log lines or exception messages: logs carry hashed file
ids, keywords and counts.
"""

from __future__ import annotations

import csv
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.errors import SparkDeidError
from sparkdeid.jobs.manifest import MANIFEST_CSV, QUARANTINE_DIR, STATUS_ERROR
from sparkdeid.ner.header import header_terms_of
from sparkdeid.stages.rows import file_id, safe_message
from sparkdeid.verify.phi_values import MetadataFinding, find_in_dataset, phi_values
from sparkdeid.verify.pixel_scan import (
    MaskedRegion,
    PixelFinding,
    PixelOptions,
    PixelScan,
    scan_pixels,
)

logger = logging.getLogger(__name__)

FRAME_CHOICES = ("sample", "all")

STATUS_CLEAN = "clean"
STATUS_LEAK = "leak"
STATUS_MISSING = "missing output"
STATUS_QUARANTINED = "quarantined"
STATUS_UNVERIFIED = "unverified"

_SKIP_NAMES = (MANIFEST_CSV, "_manifest.parquet")


class VerifyError(SparkDeidError, ValueError):
    """A usage problem: a folder that does not exist, an unknown option."""



@dataclass
class FileResult:
    relative_path: str
    status: str
    metadata: list[MetadataFinding] = field(default_factory=list)
    pixels: list[PixelFinding] = field(default_factory=list)
    masked: list[MaskedRegion] = field(default_factory=list)
    masked_total: int = 0
    frames_scanned: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def has_findings(self) -> bool:
        return bool(self.metadata or self.pixels)


@dataclass
class VerifyResult:
    original_dir: str
    deid_dir: str
    files: list[FileResult]
    include_originals: bool = False
    pixels_scanned: bool = True
    extra_outputs: int = 0

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def files_checked(self) -> int:
        return sum(1 for f in self.files if f.status in (STATUS_CLEAN, STATUS_LEAK))

    @property
    def files_with_findings(self) -> int:
        return self._count(STATUS_LEAK)

    @property
    def metadata_findings(self) -> int:
        return sum(len(f.metadata) for f in self.files)

    @property
    def pixel_findings(self) -> int:
        return sum(len(f.pixels) for f in self.files)

    @property
    def missing(self) -> int:
        return self._count(STATUS_MISSING)

    @property
    def quarantined(self) -> int:
        return self._count(STATUS_QUARANTINED)

    @property
    def unverified(self) -> int:
        return self._count(STATUS_UNVERIFIED)

    @property
    def passed(self) -> bool:
        """No leak found and every output that exists could be checked."""
        return self.files_with_findings == 0 and self.unverified == 0

    def summary_line(self) -> str:
        return (
            f"sparkdeid verify: {self.files_checked} files checked, "
            f"{self.files_with_findings} with findings ({self.metadata_findings} metadata, "
            f"{self.pixel_findings} pixel), {self.missing} missing, {self.quarantined} "
            f"quarantined, {self.unverified} unverified"
        )


# --------------------------------------------------------------------------- pairs


def verify_pair(
    original_path: str,
    output_path: str,
    relative_path: str,
    pixels: PixelOptions | None = None,
) -> FileResult:
    """Check one output against its original; never raises for a bad file."""
    result = FileResult(relative_path, STATUS_CLEAN)
    fid = file_id(relative_path)
    read: dict[str, Dataset] = {}
    for which, path in (("original", original_path), ("output", output_path)):
        try:
            with open(path, "rb") as handle:
                read[which] = read_dataset(handle.read())
        except Exception as exc:
            result.status = STATUS_UNVERIFIED
            result.notes.append(f"{which} unreadable: {safe_message(exc)}")
            logger.warning("verify %s: %s unreadable (%s)", fid, which, type(exc).__name__)
            return result
    original, output = read["original"], read["output"]
    values = phi_values(original)
    result.metadata = find_in_dataset(output, values)
    if pixels is not None:
        scan = PixelScan()
        try:
            header = header_terms_of(original)
            scan_pixels(original, output, header, pixels, scan)
        except Exception as exc:
            _merge(result, scan)
            result.status = STATUS_UNVERIFIED
            result.notes.append(f"pixel scan failed: {safe_message(exc)}")
            logger.warning("verify %s: pixel scan failed (%s)", fid, type(exc).__name__)
            return result
        _merge(result, scan)
    if result.has_findings:
        result.status = STATUS_LEAK
    logger.info(
        "verify %s: %d values, %d metadata findings (%s), %d pixel findings, %d masked regions",
        fid, len(values), len(result.metadata),
        ",".join(sorted({f.location for f in result.metadata})) or "-",
        len(result.pixels), result.masked_total,
    )
    return result


def _merge(result: FileResult, scan: PixelScan) -> None:
    result.pixels.extend(scan.pixels)
    result.masked.extend(scan.masked)
    result.masked_total = scan.masked_total
    result.frames_scanned = scan.frames_scanned
    result.notes.extend(scan.notes)


def list_relative(root: str, skip_deid_files: bool = False) -> dict[str, str]:
    """Regular files under ``root``: relative path (``/``-separated) -> absolute path."""
    found: dict[str, str] = {}
    root = os.path.abspath(root)
    for folder, dirs, files in os.walk(root):
        if skip_deid_files and folder == root:
            dirs[:] = [d for d in dirs if d != QUARANTINE_DIR]
        dirs.sort()
        for name in sorted(files):
            if skip_deid_files and folder == root and name in _SKIP_NAMES:
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found[os.path.relpath(full, root).replace(os.sep, "/")] = full
    return found


def quarantined_paths(original_dir: str, deid_dir: str) -> set[str]:
    """Relative paths the deid folder's manifest lists as errors (empty without one)."""
    path = os.path.join(deid_dir, MANIFEST_CSV)
    if not os.path.isfile(path):
        return set()
    root = os.path.abspath(original_dir)
    marker = "/" + QUARANTINE_DIR + "/"
    found = set()
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row.get("status") or "") != STATUS_ERROR:
                continue
            output = (row.get("output_path") or "").replace(os.sep, "/")
            source = (row.get("input_path") or "").removeprefix("file://").removeprefix("file:")
            if marker in output:
                found.add(output.split(marker, 1)[1])
            elif source and os.path.abspath(source).startswith(root + os.sep):
                found.add(os.path.relpath(os.path.abspath(source), root).replace(os.sep, "/"))
    return found


def verify(
    original_dir: str,
    deid_dir: str,
    *,
    pixels: bool = True,
    include_originals: bool = False,
    engine: str = "rapidocr",
    frames: str = "sample",
    workers: int = 1,
) -> VerifyResult:
    """Re-scan every output under ``deid_dir`` against its original under ``original_dir``.

    Raises
    ------
    VerifyError
        When a folder does not exist or an option is unknown.
    """
    for folder in (original_dir, deid_dir):
        if not os.path.isdir(folder):
            raise VerifyError("verify needs two existing folders (--original and --deid)")
    if frames not in FRAME_CHOICES:
        raise VerifyError(f"--frames must be one of {', '.join(FRAME_CHOICES)}")
    originals = list_relative(original_dir)
    outputs = list_relative(deid_dir, skip_deid_files=True)
    quarantined = quarantined_paths(original_dir, deid_dir)
    options = PixelOptions(engine, frames, include_originals) if pixels else None
    if options is not None:
        _check_engine(engine)
    files: dict[str, FileResult] = {}
    pairs = []
    for relative, path in originals.items():
        if relative in outputs:
            pairs.append((path, outputs[relative], relative, options))
        elif relative in quarantined:
            files[relative] = FileResult(relative, STATUS_QUARANTINED,
                                         notes=["listed as an error in the manifest"])
        else:
            files[relative] = FileResult(relative, STATUS_MISSING)
    if workers > 1 and len(pairs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            checked = list(pool.map(_verify_args, pairs))
    else:
        checked = [verify_pair(*pair) for pair in pairs]
    files.update((r.relative_path, r) for r in checked)
    extra = len(set(outputs) - set(originals))
    result = VerifyResult(
        original_dir, deid_dir, [files[k] for k in sorted(files)],
        include_originals=include_originals and pixels, pixels_scanned=pixels,
        extra_outputs=extra,
    )
    logger.info("verify: %d pairs, %d leaks, %d missing, %d quarantined, %d extra outputs",
                len(pairs), result.files_with_findings, result.missing, result.quarantined,
                extra)
    return result


def _verify_args(args: tuple[str, str, str, PixelOptions | None]) -> FileResult:
    return verify_pair(*args)


def _check_engine(engine: str) -> None:
    from sparkdeid.ocr.registry import known_engines

    if engine not in known_engines():
        raise VerifyError(f"unknown OCR engine {engine!r}; known: {', '.join(known_engines())}")
