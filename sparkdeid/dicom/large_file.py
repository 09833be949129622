"""De-identify a large multi-frame file in one sequential pass with bounded memory.

:func:`~sparkdeid.dicom.pixel_writer.mask_pixels` takes the whole file as
bytes and rebuilds it in memory: fine for a 512x512 slice, several copies of
a 1 GB cine. :func:`deidentify_large_file` reads frames one at a time
(:class:`~sparkdeid.dicom.frame_source.FrameSource`), asks the caller which
regions to mask on each rendered frame, masks them with the same fills and
codecs (:class:`~sparkdeid.dicom.pixel_writer.FrameMasker`), and streams the
output: the header written by pydicom, then the Pixel Data element header,
then each frame as soon as it is done, then the elements that followed Pixel
Data. Memory stays a few frames whatever the file size.

Output layout:

* native Pixel Data: defined length, the same value length as the input;
  unmasked frames' bytes are copied as read, masked frames have only the
  masked pixels' bytes changed;
* encapsulated Pixel Data: undefined length, items as
  :class:`~sparkdeid.dicom.encapsulation.FrameItems` writes them for the
  in-memory writer too (an unmasked frame's fragments as stored, a masked
  frame as one item), a Basic Offset Table when the input had one (reserved
  up front, filled at the end), the Extended Offset Table rewritten when the
  header has one, and a sequence delimiter.

Two things are only known at the end: the offset tables and, when masked
frames were re-encoded with a lossy codec, the Lossy Image Compression ratio
of this step. Tables have a fixed size and are patched in place; lossy values
make the header longer, so then (and when a Basic Offset Table would pass
4 GiB) the output is rebuilt by copying the written frames behind the final
header, still in bounded chunks. The result is written to a temporary file
next to the destination and renamed over it only when complete.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset as write_elements
from pydicom.uid import UID, ImplicitVRLittleEndian

from sparkdeid.boxes import Box
from sparkdeid.dicom.codec import write_dataset
from sparkdeid.dicom.encapsulation import (
    EXTENDED_LENGTHS,
    EXTENDED_OFFSETS,
    SEQUENCE_DELIMITER,
    FrameItems,
    basic_table_item,
    extended_lengths_of,
)
from sparkdeid.dicom.frame_source import FrameSource, SourceFrame
from sparkdeid.dicom.frames import (
    PIXEL_DATA_TAG,
    RenderedFrame,
    Stretch,
    frame_stretch,
    image_pixel_info,
)
from sparkdeid.dicom.pixel_writer import FILLS, FrameMasker
from sparkdeid.errors import DicomEncodeError

logger = logging.getLogger(__name__)

FrameBoxes = Callable[
    [Iterator[tuple[int, RenderedFrame]]], Iterable[tuple[int, Sequence[Box]]]
]
"""Boxes to mask on a frame. A finder may also set ``previous_boxes`` after a
call: the *previous* frame's complete boxes, replacing those returned for it
(text over moving anatomy is confirmed one frame after it appears), which is
why frames are written one frame behind the finder."""
HeaderTransform = Callable[[Dataset], None]

_PIXEL_TAG = struct.pack("<HH", 0x7FE0, 0x0010)
_COPY_CHUNK = 16 << 20


@dataclass(frozen=True)
class LargeFileResult:
    """What one pass did: counts and sizes only (no values, no paths).

    ``encoding`` is ``unchanged`` (no frame masked), ``native``, ``lossless``
    or ``lossy``, as in :class:`~sparkdeid.dicom.pixel_writer.MaskResult`.
    """

    frames: int
    frames_masked: int
    bytes_in: int
    bytes_out: int
    encoding: str


def deidentify_large_file(
    src_path: str | os.PathLike[str],
    dst_path: str | os.PathLike[str],
    *,
    frame_boxes: FrameBoxes | None = None,
    regions: Mapping[int, Sequence[Box]] | None = None,
    header_transform: HeaderTransform | None = None,
    fill: str = "black",
    render_width: int = 0,
    shared_stretch: bool = True,
) -> LargeFileResult:
    """Mask burned-in text frame by frame and write the de-identified file.

    Parameters
    ----------
    src_path, dst_path
        Input and output files; the output appears only when complete
        (written beside it under a temporary name, then renamed).
    frame_boxes
        Takes the stream of ``(index, rendered frame)`` pairs, every frame in
        order, rendered as :func:`~sparkdeid.dicom.frames.render_frame` would
        (so OCR sees the same image), and yields ``(index, boxes)`` for every
        frame in order, boxes in original pixel coordinates. It may pull a
        frame ahead before deciding the last one (frame reuse plans one
        frame behind, :func:`~sparkdeid.ocr.frame_reuse.plan_frames`); a
        frame is written once its boxes come. :func:`per_frame` makes one
        from a function of one frame.
    regions
        Instead of ``frame_boxes``: boxes by frame index known beforehand
        (frames sampled and read in a first pass); frames are then not
        rendered at all.
    header_transform
        Changes the dataset in place before it is written, e.g. the metadata
        engine's ``deidentify``. It sees every element except Pixel Data
        (elements stored after Pixel Data included) and must not change the
        Image Pixel module or the transfer syntax.
    fill
        ``black`` or ``background``, as in
        :func:`~sparkdeid.dicom.pixel_writer.mask_pixels`.
    render_width
        Width of the images handed to ``frame_boxes`` (0: original size).
    shared_stretch
        Render every frame with the first frame's stretch bounds, as frame
        reuse does (:func:`~sparkdeid.dicom.frames.frame_stretch`); off, each
        frame with its own, as :func:`~sparkdeid.dicom.frames.render_frame`.

    Raises
    ------
    DicomDecodeError
        The input cannot be read frame by frame (truncated, malformed, an
        unsupported encoding); raised before anything is written.
    DicomEncodeError
        A masked frame cannot be re-encoded in the file's transfer syntax,
        or ``header_transform`` changed what the frames depend on.
    ValueError
        An unknown ``fill``, a negative ``render_width``, or not exactly one
        of ``frame_boxes`` and ``regions``; ``frame_boxes`` leaving out a frame.
    """
    if (frame_boxes is None) == (regions is None):
        raise ValueError("give either frame_boxes or regions")
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(FILLS)}")
    if render_width < 0:
        raise ValueError("render_width must be 0 (keep size) or positive")
    destination = Path(dst_path)
    with FrameSource(src_path) as source:
        header, trailing = _output_datasets(source, header_transform)
        temporaries: list[Path] = []
        try:
            written = _new_temporary(destination, temporaries)
            with open(written, "w+b") as out:
                writer = _writer_for(source, header, trailing, out)
                masker = FrameMasker(source.header, source.info, fill)
                masked = 0
                for frame, boxes in _frames_with_boxes(source, frame_boxes, regions,
                                                       render_width, shared_stretch):
                    masked += writer.add(frame, masker, boxes)
                final = writer.finish(masker, lambda: _new_temporary(destination, temporaries))
            if final != written:
                written.unlink()
            _sync(final)
            os.replace(final, destination)
        except BaseException:
            for path in temporaries:
                path.unlink(missing_ok=True)
            raise
        frames, bytes_in = source.num_frames, source.file_size
    if not masked:
        encoding = "unchanged"
    elif not source.info.is_encapsulated:
        encoding = "native"
    else:
        encoding = "lossy" if masker.lossy else "lossless"
    result = LargeFileResult(frames, masked, bytes_in, destination.stat().st_size, encoding)
    logger.debug(
        "large file: %d frame(s), %d masked, %d -> %d bytes, %s",
        result.frames, result.frames_masked, result.bytes_in, result.bytes_out, encoding,
    )
    return result


def per_frame(find: Callable[[int, RenderedFrame], Sequence[Box]]) -> FrameBoxes:
    """``frame_boxes`` for a finder that decides each frame from that frame alone."""

    def boxes(frames: Iterator[tuple[int, RenderedFrame]]) -> Iterator[tuple[int, Sequence[Box]]]:
        for index, rendered in frames:
            yield index, find(index, rendered)

    return boxes


def _frames_with_boxes(
    source: FrameSource, frame_boxes: FrameBoxes | None,
    regions: Mapping[int, Sequence[Box]] | None, render_width: int, shared_stretch: bool,
) -> Iterator[tuple[SourceFrame, list[Box]]]:
    """Every frame in order with its final boxes; a frame is held only until they come."""
    if frame_boxes is None:
        assert regions is not None
        for frame in source.frames():
            yield frame, list(regions.get(frame.index, ()))
        return
    waiting: dict[int, SourceFrame] = {}

    def rendered() -> Iterator[tuple[int, RenderedFrame]]:
        stretch: Stretch | None = None
        for frame in source.frames():
            if frame.index == 0 and shared_stretch:  # frames alike (frame_stretch)
                stretch = frame_stretch(source.header, source.info, frame.decoded, 0)
            waiting[frame.index] = frame
            yield frame.index, frame.rendered(render_width, stretch)

    expected = 0
    for index, boxes in frame_boxes(rendered()):
        if index != expected or index not in waiting:
            raise ValueError("frame_boxes must give every frame's boxes once, in order")
        yield waiting.pop(index), list(boxes)
        expected += 1
    if expected != source.num_frames:
        raise ValueError("frame_boxes must give every frame's boxes once, in order")


# --------------------------------------------------------------------------
# The dataset around Pixel Data


def _output_datasets(
    source: FrameSource, transform: HeaderTransform | None
) -> tuple[Dataset, Dataset]:
    """The header to write before Pixel Data and the elements to write after it.

    The transform gets one dataset with both (so it also de-identifies what
    follows Pixel Data), working on a copy: the source's header keeps
    rendering frames and choosing fills as the original file says.
    """
    dataset = copy.deepcopy(source.header)
    for tag in source.trailing.keys():
        dataset[tag] = copy.deepcopy(source.trailing.get_item(tag))
    if transform is not None:
        transform(dataset)
        if PIXEL_DATA_TAG in dataset:
            raise DicomEncodeError("header_transform added Pixel Data to the header")
        try:
            unchanged = image_pixel_info(dataset) == source.info
        except Exception:
            unchanged = False
        if not unchanged:
            raise DicomEncodeError(
                "header_transform changed the Image Pixel module or the transfer syntax"
            )
    trailing = Dataset()
    for tag in [t for t in dataset.keys() if t > PIXEL_DATA_TAG]:
        trailing[tag] = dataset.get_item(tag)
        del dataset[tag]
    return dataset, trailing


def _trailing_bytes(
    trailing: Dataset, header: Dataset, implicit: bool, read_implicit: bool
) -> bytes:
    """The elements after Pixel Data encoded as the header was written.

    Raw (untouched) elements are copied as read unless the output encoding
    differs from the one they were read in; text uses the header's character set.
    """
    if not len(trailing):
        return b""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    trailing.set_original_encoding(read_implicit, True)
    write_elements(buffer, trailing, convert_encodings(header.get("SpecificCharacterSet")))
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Writers


class _Writer:
    """Streams Pixel Data into ``out`` after the header; ``finish`` completes the file."""

    def __init__(self, source: FrameSource, header: Dataset, trailing: Dataset, out: BinaryIO):
        self.source, self.info, self.header, self.out = source, source.info, header, out
        self.header_bytes = write_dataset(header)
        self.implicit = UID(header.file_meta.TransferSyntaxUID) == ImplicitVRLittleEndian
        self.trailing_bytes = _trailing_bytes(
            trailing, header, self.implicit, source.layout.implicit_vr
        )
        out.write(self.header_bytes)

    def add(self, frame: SourceFrame, masker: FrameMasker, boxes: Sequence[Box]) -> int:
        """Write one frame, masked when ``boxes`` touch it; 1 if it was masked."""
        raise NotImplementedError

    def finish(self, masker: FrameMasker, new_file: Callable[[], Path]) -> Path:
        """Complete the output; the path of the finished file (a new one if rebuilt)."""
        raise NotImplementedError


def _writer_for(source: FrameSource, header: Dataset, trailing: Dataset, out: BinaryIO) -> _Writer:
    if source.layout.encapsulated:
        return _EncapsulatedWriter(source, header, trailing, out)
    return _NativeWriter(source, header, trailing, out)


class _NativeWriter(_Writer):
    """Native Pixel Data: the input value, frame by frame, masked bytes changed in place.

    1-bit frames can share a byte with the next frame: that byte is held
    back until the next frame (which starts from it) is written.
    """

    def __init__(self, source: FrameSource, header: Dataset, trailing: Dataset, out: BinaryIO):
        super().__init__(source, header, trailing, out)
        length = source.layout.value_length
        if self.implicit:
            out.write(_PIXEL_TAG + struct.pack("<I", length))
        else:
            vr = source.layout.vr or ("OW" if self.info.bits_allocated > 8 else "OB")
            out.write(_PIXEL_TAG + vr.encode("ascii") + b"\0\0" + struct.pack("<I", length))
        self.held: tuple[int, bytes] | None = None  # (value offset, byte) not yet written
        self.value_written = 0

    def add(self, frame: SourceFrame, masker: FrameMasker, boxes: Sequence[Box]) -> int:
        start, end, bit_offset = self.source.native_span(frame.index)
        stored = frame.encoded if bit_offset == 0 and self.info.bits_allocated != 1 else None
        window = stored if stored is not None else self.source.read_value(start, end)
        if self.held is not None and self.held[0] == start:
            window = self.held[1] + window[1:]
        changed = None
        if boxes:
            changed = masker.mask(window, frame.decoded, boxes, bit_offset=bit_offset)
        data = window if changed is None else changed
        shares_last_byte = (
            self.info.bits_allocated == 1
            and frame.index + 1 < self.info.num_frames
            and self.source.native_span(frame.index + 1)[0] == end - 1
        )
        if shares_last_byte:
            self.held = (end - 1, data[-1:])
            data = data[:-1]
        else:
            self.held = None
        self.out.write(data)
        self.value_written = end - 1 if shares_last_byte else end
        return 0 if changed is None else 1

    def finish(self, masker: FrameMasker, new_file: Callable[[], Path]) -> Path:
        # Bytes after the last frame (padding to even length) are copied as stored.
        length = self.source.layout.value_length
        for position in range(self.value_written, length, _COPY_CHUNK):
            self.out.write(self.source.read_value(position, min(length, position + _COPY_CHUNK)))
        self.out.write(self.trailing_bytes)
        return Path(self.out.name)


class _EncapsulatedWriter(_Writer):
    """Encapsulated Pixel Data, items as :class:`FrameItems` writes them; tables at the end."""

    def __init__(self, source: FrameSource, header: Dataset, trailing: Dataset, out: BinaryIO):
        frames = source.num_frames
        extended = EXTENDED_OFFSETS in header and EXTENDED_LENGTHS in header
        original_lengths = extended_lengths_of(source.header)
        if extended:
            # Placeholders of the final size: the finished header is the same length.
            header.ExtendedOffsetTable = bytes(8 * frames)
            header.ExtendedOffsetTableLengths = bytes(8 * frames)
        super().__init__(source, header, trailing, out)
        self.items = FrameItems(out.write, extended=extended, basic=bool(source.basic_offsets),
                                original_lengths=original_lengths)
        out.write(_PIXEL_TAG + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF))
        self.table_at = out.tell()
        out.write(basic_table_item([0] * frames if self.items.basic else ()))  # placeholder
        self.body_at = out.tell()

    def add(self, frame: SourceFrame, masker: FrameMasker, boxes: Sequence[Box]) -> int:
        changed = masker.mask(frame.encoded, frame.decoded, boxes) if boxes else None
        places = self.source.frame_fragments(frame.index)
        stored: Sequence[bytes] = ()
        if changed is None:  # kept as stored, fragment by fragment
            stored = [frame.encoded] if len(places) == 1 else [
                self.source.read_at(position, length) for position, length in places
            ]
        self.items.add(frame.index, stored, changed)
        return 0 if changed is None else 1

    def finish(self, masker: FrameMasker, new_file: Callable[[], Path]) -> Path:
        self.out.write(SEQUENCE_DELIMITER)
        self.out.write(self.trailing_bytes)
        self.items.store_extended(self.header)
        masker.record_lossy(self.header)
        header_bytes = write_dataset(self.header)
        table_item = self.items.basic_table()
        if len(header_bytes) == len(self.header_bytes) and len(table_item) == (
            self.body_at - self.table_at
        ):
            self.out.seek(0)
            self.out.write(header_bytes)
            self.out.seek(self.table_at)
            self.out.write(table_item)
            return Path(self.out.name)
        return self._rebuild(header_bytes, table_item, new_file())

    def _rebuild(self, header_bytes: bytes, table_item: bytes, target: Path) -> Path:
        """The final header and table, then the frames already written, copied in chunks."""
        logger.debug("rebuilding the output: the header or offset table changed size")
        with open(target, "wb") as rebuilt:
            rebuilt.write(header_bytes)
            rebuilt.write(_PIXEL_TAG + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF))
            rebuilt.write(table_item)
            self.out.seek(self.body_at)
            shutil.copyfileobj(self.out, rebuilt, _COPY_CHUNK)
        return target


# --------------------------------------------------------------------------
# Files


def _new_temporary(destination: Path, created: list[Path]) -> Path:
    """An empty file beside ``destination`` (same file system: the rename is atomic)."""
    handle, name = tempfile.mkstemp(prefix=".sparkdeid-", suffix=".part", dir=destination.parent)
    os.close(handle)
    path = Path(name)
    created.append(path)
    return path


def _sync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
