"""Per-file resource limits: refuse a file before it can take an executor down.

A Python worker that runs out of memory dies with the whole task, and Spark
retries the task (and dies again) until the job fails: one hostile or broken
file would stop the run. Every stage that holds a whole file or decodes its
pixels therefore checks, per file and *before* the work:

* the file's size in bytes (:func:`check_file_size`), on the route that
  holds whole files in memory, before the bytes are read when the input is
  a path;
* the frame count and the decoded size its header *declares*
  (:func:`check_header`): Rows x Columns x Samples per Pixel x Number of
  Frames, from header values only, before any frame is decoded or any pixel
  buffer allocated. A 2 KB file can declare 100000 frames of 4096 x 4096.

A violation raises :class:`~sparkdeid.errors.ResourceLimitError`, which the
stages turn into an error row like any other bad file. The message names the
limit and the numbers, never a value from the file.

Defaults (0 disables a limit):

``max_bytes`` = 1 GiB
    Spark cannot put more than 2 GiB in one binary cell at all, and the
    whole-file route holds a file several times over (measured 6.4x the file
    at peak in the full pipeline), so a 1 GiB file already needs a ~6-8 GB
    executor. Bigger files belong on the batch job's streamed route
    (``--large-file-mb``, default 256 MiB), which never holds a file whole
    and so is not subject to this limit.
``max_frames`` = 100000
    Cines, angiography runs and enhanced CT/MR series have at most a few
    thousand frames; the level-0 tiling of a whole-slide image tens of
    thousands. A file declaring more is almost surely malformed, and each
    frame becomes a Spark row.
``max_decoded_pixels`` = 2**31 pixel values (samples)
    2-4 GiB decoded at 8-16 bits. The whole-file route checks the file's
    total (its rebuild may hold every decoded frame of a compressed file,
    10-50x its bytes); the streamed route decodes one frame at a time, so
    there the limit applies to one frame, and a long cine of normal frames
    passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparkdeid.errors import ResourceLimitError

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_FRAMES = 100_000
DEFAULT_MAX_DECODED_PIXELS = 1 << 31

_PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float, Double Float


@dataclass(frozen=True)
class FileLimits:
    """Limits applied to one file; 0 means no limit."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_frames: int = DEFAULT_MAX_FRAMES
    max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_frames", "max_decoded_pixels"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = no limit)")


@dataclass(frozen=True)
class DeclaredSize:
    """What a header says its pixels need once decoded."""

    rows: int
    columns: int
    samples_per_pixel: int
    frames: int
    bytes_per_sample: int

    @property
    def frame_pixels(self) -> int:
        """Pixel values (samples) in one decoded frame."""
        return self.rows * self.columns * self.samples_per_pixel

    @property
    def pixels(self) -> int:
        """Pixel values (samples) in every frame together."""
        return self.frame_pixels * self.frames

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.bytes_per_sample


def _size_text(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_file_size(n: int | None, limits: FileLimits) -> None:
    """Refuse a file of ``n`` bytes over ``limits.max_bytes`` (None = size unknown)."""
    if n is None or not limits.max_bytes or n <= limits.max_bytes:
        return
    raise ResourceLimitError(
        f"file is {n} bytes ({_size_text(n)}), over the limit maxFileBytes = "
        f"{limits.max_bytes} ({_size_text(limits.max_bytes)}); raise it "
        "(--max-file-mb) or send the file through the streamed large-file route "
        "(--large-file-mb)",
        limit="maxFileBytes",
    )


def _header_int(ds: Any, keyword: str, default: int) -> int:
    """An Image Pixel value as an int; a missing or unreadable one counts as ``default``.

    Unreadable values are the decoder's business (it reports them as bad
    DICOM); here they only must not hide a huge declared size.
    """
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return default
        return int(value)
    except Exception:
        return default


def declared_size(ds: Any) -> DeclaredSize | None:
    """The decoded size a header declares; None when it describes no image pixels.

    Works on a header read with ``stop_before_pixels`` (Rows and Columns are
    then the sign of an image). Bytes per sample are those of the decoded
    array: 1 for Bits Allocated 1-8, 2 up to 16, 4 up to 32, 8 beyond.
    """
    has_pixels = any(tag in ds for tag in _PIXEL_DATA_TAGS)
    if not has_pixels and ("Rows" not in ds or "Columns" not in ds):
        return None
    rows, columns = _header_int(ds, "Rows", 0), _header_int(ds, "Columns", 0)
    if rows <= 0 or columns <= 0:
        return None  # the decoder refuses it with its own error
    bits = _header_int(ds, "BitsAllocated", 8)
    bytes_per_sample = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    return DeclaredSize(
        rows=rows,
        columns=columns,
        samples_per_pixel=max(1, _header_int(ds, "SamplesPerPixel", 1)),
        frames=max(1, _header_int(ds, "NumberOfFrames", 1)),
        bytes_per_sample=bytes_per_sample,
    )


def check_declared(size: DeclaredSize, limits: FileLimits, *, per_frame: bool = False) -> None:
    """Refuse a declared size over ``limits`` (see :func:`check_header`)."""
    if limits.max_frames and size.frames > limits.max_frames:
        raise ResourceLimitError(
            f"file declares {size.frames} frames, over the limit maxFrames = "
            f"{limits.max_frames}; raise it (--max-frames) if the file is genuine",
            limit="maxFrames",
        )
    pixels = size.frame_pixels if per_frame else size.pixels
    if limits.max_decoded_pixels and pixels > limits.max_decoded_pixels:
        what = "one frame of" if per_frame else f"{size.frames} frame(s) of"
        decoded = pixels * size.bytes_per_sample
        raise ResourceLimitError(
            f"file declares {what} {size.rows} x {size.columns} x {size.samples_per_pixel} "
            f"samples: {pixels} decoded pixel values ({_size_text(decoded)} decoded), over "
            f"the limit maxDecodedPixels = {limits.max_decoded_pixels}; raise it "
            "(--max-decoded-mpixels) if the file is genuine",
            limit="maxDecodedPixels",
        )


def check_header(ds: Any, limits: FileLimits, *, per_frame: bool = False) -> None:
    """Refuse a file whose header declares more frames or decoded pixels than ``limits``.

    Reads header values only, so call it right after parsing and before any
    decode. ``per_frame`` (the streamed route, which holds one frame at a
    time) compares one frame's pixel values with ``max_decoded_pixels``
    instead of the whole file's. Files without image pixels pass.
    """
    size = declared_size(ds)
    if size is not None:
        check_declared(size, limits, per_frame=per_frame)
