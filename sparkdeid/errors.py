"""Exception hierarchy.

Every error the package raises on purpose derives from :class:`SparkDeidError`
and also from the builtin it most resembles, so callers can catch either.
Messages name tags by keyword, rows by number and files by hashed id: never a
value that could be PHI.
"""

from __future__ import annotations


class SparkDeidError(Exception):
    """Base class of every sparkdeid error."""


class StrategyError(SparkDeidError, ValueError):
    """A strategy file is malformed: bad tag, unknown action, wrong VR."""


class DicomDecodeError(SparkDeidError, ValueError):
    """Bytes that are not a readable DICOM file (truncated, not DICOM, bad VR)."""


class DicomEncodeError(SparkDeidError, ValueError):
    """A de-identified dataset could not be written back as DICOM."""


class BackendUnavailableError(SparkDeidError, ImportError):
    """An optional back-end is not installed; the message names the package."""


class JavaUnavailableError(SparkDeidError, RuntimeError):
    """No usable Java runtime for Spark was found."""


class SecretError(SparkDeidError, ValueError):
    """The pseudonym secret could not be read from its declared source."""


class ResourceLimitError(SparkDeidError, ValueError):
    """A file over a per-file limit (bytes, frames, decoded pixels), refused before the work.

    ``limit`` names the Param that refused it (``maxFileBytes``, ``maxFrames``,
    ``maxDecodedPixels``); the message gives the numbers only.
    """

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (str(self), self.limit)


class DocumentNotCleanableError(SparkDeidError, ValueError):
    """An encapsulated document that cannot be de-identified safely.

    Encrypted or unreadable PDFs, too many pages, malformed or entity-laden
    XML, types with no cleaner. ``reason`` is a short slug for reports
    (``encrypted``, ``unreadable``, ...); neither it nor the message ever
    quotes the document's text.
    """

    def __init__(self, message: str, reason: str = "not-cleanable") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # keep the reason when Spark pickles the error between processes
        return type(self), (str(self), self.reason)


class OutputConflictError(SparkDeidError, ValueError):
    """An output folder holds another run's state that this run would mix with its own."""
