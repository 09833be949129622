"""Run peer de-identification tools on one folder, one core each, in one run.

The peers are the tools a reader will compare sparkdeid with:

- **presidio**: ``presidio-image-redactor``'s ``DicomImageRedactorEngine``
  (Tesseract OCR, presidio-analyzer's pattern recognizers and a deny list
  built from the file's own header); pixels only, the header is left as is.
- **dicognito**: ``dicognito.anonymizer.Anonymizer``; header only.
- **deid**: pydicom/deid with its default recipe: ``replace_identifiers``
  for the header and ``DicomCleaner`` for the pixel areas that the recipe's
  ``%filter`` rules name from header values (no OCR).

Each tool runs in its own child process, started with ``OMP_NUM_THREADS=1``,
``OMP_THREAD_LIMIT=1`` (Tesseract) and the BLAS thread variables set to 1, and
pinned to one CPU, so that its timing, environment and crashes stay its own.
The tools run one after the other, never at the same time. ``seconds`` times
the loop over the files only; importing the tool and building its engine is
``startup_seconds``. Outputs keep the input's relative paths; a file a tool
cannot process is an error and is missing from its output. Usage::

    python benchmarks/peers.py INPUT_DIR OUTPUT_ROOT [--tools presidio,dicognito,deid]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Set for every peer before its interpreter starts: libraries read them once, at load.
SINGLE_CORE_ENV = {
    "OMP_NUM_THREADS": "1",
    "OMP_THREAD_LIMIT": "1",  # Tesseract's OpenMP pool
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

_WORKER_FLAG = "--worker"
_DIGITS = re.compile(r"\d{5,}")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATHLIKE = re.compile(r"(?<![\w.])/[^\s,;:)]+")


@dataclass(frozen=True)
class PeerRun:
    """What one peer did with one folder; holds counts and reasons, never a value or path.

    Attributes
    ----------
    tool
        Short name (``presidio``, ``dicognito``, ``deid``).
    version
        Installed version of the tool's distribution, None when not installed.
    status
        ``ok`` (the loop ran; per-file errors are counted), ``skipped`` (not
        installed; ``note`` is the install command) or ``failed`` (the worker
        process itself died; ``errors`` says why).
    scope
        What the tool changes: ``header``, ``pixels`` or ``header+pixels``.
    files_in
        Regular files under the input folder.
    files_written
        Files found under the tool's output folder after the run.
    errors
        Short reason -> number of files, with quoted text, paths and long
        digit runs masked (an exception message can quote a header value).
    seconds
        Wall time of the loop over the files, the tool already loaded.
    cpu_seconds
        CPU time of that loop in the worker and its children (Tesseract runs
        as a child process); about ``seconds`` when the run used one core.
    startup_seconds
        Importing the tool and building its engine.
    note
        One line of configuration, e.g. the OCR and NLP models used.
    details
        Tool-specific counters (boxes drawn, files flagged, ...).
    """

    tool: str
    version: str | None
    status: str
    scope: str
    files_in: int = 0
    files_written: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    startup_seconds: float = 0.0
    note: str = ""
    details: dict[str, int] = field(default_factory=dict)

    @property
    def header_only(self) -> bool:
        """True when the tool leaves pixel data as it is (burned-in text survives)."""
        return self.scope == "header"

    @property
    def error_count(self) -> int:
        """Files the tool could not process."""
        return sum(self.errors.values())

    @property
    def files_per_second(self) -> float:
        """Input files per second of the loop (failed files included: they cost time too)."""
        return self.files_in / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Fields plus the derived values, for JSON reports."""
        return {
            **asdict(self),
            "header_only": self.header_only,
            "error_count": self.error_count,
            "files_per_second": self.files_per_second,
        }


@dataclass
class _Engine:
    """A loaded peer inside the worker: how to process one file, and what it ran with."""

    process: Callable[[Path, Path], None]
    version: str
    note: str
    details: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Peer:
    """How to find, install and start one peer."""

    name: str
    distribution: str
    module: str
    scope: str
    binaries: tuple[str, ...] = ()
    apt_packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def install_command(self) -> str | None:
        """The command that installs what is missing, or None when all is there."""
        steps = []
        if importlib.util.find_spec(self.module) is None:
            steps.append(f"{sys.executable} -m pip install {self.distribution}")
        if any(shutil.which(binary) is None for binary in self.binaries):
            steps.append("apt-get install -y " + " ".join(self.apt_packages))
        return " && ".join(steps) or None


PEERS: dict[str, _Peer] = {
    "presidio": _Peer(
        "presidio",
        "presidio-image-redactor",
        "presidio_image_redactor",
        "pixels",
        binaries=("tesseract",),
        apt_packages=("tesseract-ocr",),
    ),
    "dicognito": _Peer("dicognito", "dicognito", "dicognito", "header"),
    # deid prints every element at its default level (DEBUG); keep its errors only.
    "deid": _Peer("deid", "deid", "deid", "header+pixels", env=(("MESSAGELEVEL", "ERROR"),)),
}


# --------------------------------------------------------------------------- parent side


def run_presidio(
    input_dir: str | Path, output_dir: str | Path, timeout: float | None = None
) -> PeerRun:
    """Redact burned-in text with Presidio's DICOM engine, one file at a time."""
    return run_peer("presidio", input_dir, output_dir, timeout)


def run_dicognito(
    input_dir: str | Path, output_dir: str | Path, timeout: float | None = None
) -> PeerRun:
    """Anonymise headers with dicognito, one Anonymizer for the whole folder."""
    return run_peer("dicognito", input_dir, output_dir, timeout)


def run_deid(
    input_dir: str | Path, output_dir: str | Path, timeout: float | None = None
) -> PeerRun:
    """De-identify with pydicom/deid's default recipe (header, then recipe pixel areas)."""
    return run_peer("deid", input_dir, output_dir, timeout)


def run_peer(
    name: str, input_dir: str | Path, output_dir: str | Path, timeout: float | None = None
) -> PeerRun:
    """Run peer ``name`` in a single-core child process and collect its :class:`PeerRun`.

    Raises
    ------
    FileExistsError
        ``output_dir`` holds files already: they would be counted as written.
    """
    peer = PEERS[name]
    source, target = Path(input_dir), Path(output_dir)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"output folder for {name} is not empty")
    files_in = len(list(input_files(source)))
    missing = peer.install_command()
    version = _installed_version(peer.distribution)
    if missing:
        note = f"not installed: {missing}"
        return PeerRun(name, version, "skipped", peer.scope, files_in, note=note)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **SINGLE_CORE_ENV, **dict(peer.env)}
    with tempfile.TemporaryDirectory(prefix="peer-") as scratch:
        report, log = Path(scratch, "report.json"), Path(scratch, "stderr.txt")
        command = [sys.executable, str(Path(__file__).resolve()), _WORKER_FLAG, name]
        command += [str(source), str(target), str(report)]
        with log.open("w") as stderr:
            # Own process group, so a timeout also ends the tool's children (tesseract).
            worker = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
            try:
                code = worker.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                return _failed(peer, version, files_in, target, f"timed out after {timeout:g} s")
        if code != 0 or not report.exists():
            lines = log.read_text(errors="replace").strip().splitlines() or ["no message"]
            return _failed(
                peer, version, files_in, target, f"worker exited {code}: {_mask(lines[-1])}"
            )
        result = json.loads(report.read_text())
    return PeerRun(
        tool=name,
        version=result["version"],
        status="ok",
        scope=peer.scope,
        files_in=files_in,
        files_written=_count_files(target),
        errors=result["errors"],
        seconds=result["seconds"],
        cpu_seconds=result["cpu_seconds"],
        startup_seconds=result["startup_seconds"],
        note=result["note"],
        details=result["details"],
    )


def _failed(peer: _Peer, version: str | None, files_in: int, target: Path, reason: str) -> PeerRun:
    return PeerRun(
        peer.name,
        version,
        "failed",
        peer.scope,
        files_in,
        files_written=_count_files(target),
        errors={reason: files_in},
        note="did not finish: its output folder may hold a half-written, unredacted file",
    )


def input_files(root: Path) -> Iterator[Path]:
    """Every regular, non-hidden file under ``root``, in a stable order.

    Not only ``*.dcm``: DICOM files often have no extension, and a file a
    tool cannot read should count against it rather than vanish from the total.
    """
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield path


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _count_files(root: Path) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0


def _mask(message: str) -> str:
    """Shorten an error message and hide what may be PHI (quoted values, paths, ids, dates)."""
    text = _QUOTED.sub("'…'", message)
    text = _PATHLIKE.sub("<path>", text)
    text = _DIGITS.sub("#", text)
    return " ".join(text.split())[:100]


def _reason(error: BaseException) -> str:
    message = _mask(str(error))
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


# --------------------------------------------------------------------------- worker side


def _worker(name: str, source: Path, target: Path, report: Path) -> None:
    """Load one peer, run it over every file, write the JSON report the parent reads."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    started = time.perf_counter()
    engine = _OPENERS[name]()
    startup = time.perf_counter() - started

    errors: Counter[str] = Counter()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    for path in input_files(source):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine.process(path, destination)
        except (Exception, SystemExit) as error:  # deid calls sys.exit on some bad files
            errors[_reason(error)] += 1
    seconds = time.perf_counter() - started
    report.write_text(
        json.dumps(
            {
                "version": engine.version,
                "note": engine.note,
                "errors": dict(errors),
                "details": dict(engine.details),
                "seconds": seconds,
                "cpu_seconds": _cpu_seconds() - cpu_before,
                "startup_seconds": startup,
            }
        )
    )


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _open_presidio() -> _Engine:
    """Presidio's DICOM redactor with an NLP engine that needs no downloaded model.

    Presidio's default NLP engine asks for ``en_core_web_lg`` and downloads it
    when missing, which cannot work offline, and no official spaCy English
    pipeline is published on PyPI. An installed ``en_core_web_lg``/``_sm`` is
    used when there is one; otherwise ``spacy.blank("en")`` tokenises, so the
    pattern recognizers (dates, phone numbers, e-mail, ids ...) and the deny
    list that ``use_metadata=True`` builds from header names still run, and
    only model NER (names not in the header, places) is missing.
    """
    import pytesseract
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    installed = (m for m in ("en_core_web_lg", "en_core_web_sm") if spacy.util.is_package(m))
    model = next(installed, None)

    class OfflineSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            pipeline = spacy.load(model) if model else spacy.blank("en")
            self.nlp = {"en": pipeline}  # type: ignore[assignment]  # typed None upstream

    details: Counter[str] = Counter()

    class BlackFillRedactor(DicomImageRedactorEngine):
        """Fills boxes black, as sparkdeid does by default.

        The DICOM engine offers only ``contrast`` and ``background`` fills;
        black is the stored value that displays darkest: the frame minimum
        for MONOCHROME2, its maximum for MONOCHROME1, 0 for colour.
        """

        @classmethod
        def _get_most_common_pixel_value(
            cls, instance: Any, crop_ratio: float, fill: str = "contrast"
        ) -> Any:
            pixels = instance.pixel_array
            inverted = instance.PhotometricInterpretation == "MONOCHROME1"
            return pixels.max() if inverted else pixels.min()

        @classmethod
        def _set_bbox_color(cls, instance: Any, fill: str) -> Any:
            return (0, 0, 0)

        @classmethod
        def _add_redact_box(
            cls,
            instance: Any,
            bounding_boxes_coordinates: list,
            crop_ratio: float,
            fill: str = "contrast",
        ) -> Any:
            details["boxes_drawn"] += len(bounding_boxes_coordinates)
            details["files_with_boxes"] += bool(bounding_boxes_coordinates)
            return super()._add_redact_box(instance, bounding_boxes_coordinates, crop_ratio, fill)

    analyzer = AnalyzerEngine(nlp_engine=OfflineSpacyNlpEngine(), supported_languages=["en"])
    redactor = BlackFillRedactor(ImageAnalyzerEngine(analyzer_engine=analyzer))

    def process(source: Path, destination: Path) -> None:
        try:
            redactor.redact_from_file(
                str(source), str(destination.parent), use_metadata=True, verbose=False
            )
        except BaseException:
            # It copies the input first and redacts the copy in place: a failure
            # leaves the original pixels there, which must not pass as output.
            if destination.exists():
                destination.unlink()
                details["unredacted_copies_removed"] += 1
            raise

    nlp = (
        f"spaCy {spacy.__version__} {model}"
        if model
        else (f"spaCy {spacy.__version__} blank 'en' (no NER model installable offline)")
    )
    note = (
        f"Tesseract {pytesseract.get_tesseract_version()}, presidio-analyzer "
        f"{importlib.metadata.version('presidio-analyzer')} default recognizers, {nlp}, "
        "use_metadata=True, padding 25, fill black, header untouched"
    )
    return _Engine(process, importlib.metadata.version("presidio-image-redactor"), note, details)


def _open_dicognito() -> _Engine:
    """One Anonymizer for the folder, so a study's files keep agreeing UIDs and ids."""
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()
    details: Counter[str] = Counter()

    def process(source: Path, destination: Path) -> None:
        with pydicom.dcmread(source) as dataset:  # force=False, as its CLI reads
            # Its CLI only warns on these by default; the pixels keep the text.
            details["burned_in_annotation_yes"] += dataset.get("BurnedInAnnotation") == "YES"
            anonymizer.anonymize(dataset)
            dataset.save_as(destination)

    note = "Anonymizer() defaults (random seed), API per file, burned-in text not handled"
    return _Engine(process, importlib.metadata.version("dicognito"), note, details)


def _open_deid() -> _Engine:
    """deid's default recipe: ``%header`` actions, then ``%filter`` pixel areas.

    The file is read once and handed to the cleaner and the parser (both
    accept a dataset). Files a blacklist rule flags have no coordinates to
    clean; they are still written and counted in ``details``.
    """
    from deid.config import DeidRecipe
    from deid.dicom import DicomCleaner, replace_identifiers
    from deid.dicom.utils import dcmread, save_dicom

    recipe = DeidRecipe()  # the packaged deid.dicom
    cleaner = DicomCleaner(output_folder=tempfile.gettempdir())  # default recipe; saves nothing
    details: Counter[str] = Counter()

    def process(source: Path, destination: Path) -> None:
        dataset = dcmread(str(source), force=True)
        found = cleaner.detect(dataset)
        cleaned = None
        if found["flagged"]:
            if any(item.get("coordinates") for item in found["results"]):
                cleaned = cleaner.clean()
                details["pixel_areas_cleaned"] += 1
            else:
                details["flagged_without_coordinates"] += 1
        dataset = replace_identifiers([dataset], deid=recipe, save=False)[0]
        if cleaned is not None:  # as DicomCleaner.save_dicom does
            if dataset.file_meta.TransferSyntaxUID.is_compressed:
                dataset.decompress()
            dataset.PixelData = cleaned.tobytes()
        save_dicom(dataset, str(source), output_folder=str(destination.parent), overwrite=True)

    note = (
        "default recipe deid.dicom: %header actions + DicomCleaner %filter areas "
        "(header rules, no OCR); no ids lookup, so var: ADDs are skipped"
    )
    return _Engine(process, importlib.metadata.version("deid"), note, details)


_OPENERS: dict[str, Callable[[], _Engine]] = {
    "presidio": _open_presidio,
    "dicognito": _open_dicognito,
    "deid": _open_deid,
}


# --------------------------------------------------------------------------- CLI


def format_table(runs: list[PeerRun]) -> str:
    """A fixed-width table, then the error reasons and tool counters of each run.

    ``cpu s`` next to ``seconds`` shows the run stayed on one core.
    """
    header = (
        "tool",
        "version",
        "scope",
        "status",
        "files",
        "written",
        "errors",
        "startup s",
        "seconds",
        "cpu s",
        "files/s",
        "note",
    )
    rows = [header] + [
        (
            run.tool,
            run.version or "-",
            run.scope,
            run.status,
            str(run.files_in),
            str(run.files_written),
            str(run.error_count),
            f"{run.startup_seconds:.2f}",
            f"{run.seconds:.2f}",
            f"{run.cpu_seconds:.2f}",
            f"{run.files_per_second:.2f}",
            run.note,
        )
        for run in runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    for run in runs:
        lines += [f"  {run.tool}: {count} x {reason}" for reason, count in run.errors.items()]
        if run.details:
            lines.append(
                f"  {run.tool} details: "
                + ", ".join(f"{key}={value}" for key, value in sorted(run.details.items()))
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each chosen peer under OUTPUT_ROOT/<tool>/, print the table."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [_WORKER_FLAG]:
        name, source, target, report = argv[1:5]
        _worker(name, Path(source), Path(target), Path(report))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input_dir", type=Path)
    parser.add_argument("output_root", type=Path)
    parser.add_argument(
        "--tools", default=",".join(PEERS), help="comma-separated subset of: " + ", ".join(PEERS)
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before a peer's run is stopped and reported failed",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.tools.split(",") if name.strip()]
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)}")
    if not args.input_dir.is_dir():
        parser.error("INPUT_DIR is not a folder")
    runs = []
    for name in names:
        try:
            runs.append(run_peer(name, args.input_dir, args.output_root / name, args.timeout))
        except FileExistsError as error:
            parser.error(str(error))
    print(format_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
