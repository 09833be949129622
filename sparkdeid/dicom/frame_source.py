"""Read a DICOM file's frames one at a time by seeking, never holding its Pixel Data.

:func:`~sparkdeid.dicom.codec.read_dataset` parses a whole file held in
memory; a cine of a few GB then costs several copies of itself.
:class:`FrameSource` parses only the header (pydicom stops before Pixel
Data), finds where Pixel Data lies in the file, and reads each frame's bytes
when asked:

* native Pixel Data: frame ``i`` is at ``value offset + i * frame size``
  (1-bit frames are located bit by bit and re-packed when they do not start
  on a byte boundary);
* encapsulated Pixel Data: item headers are scanned once and only the
  fragments' offsets and lengths are kept; frames are mapped to fragments
  with the Extended or Basic Offset Table when one is present and
  consistent, else one fragment per frame, else (JPEG family) by the
  codestream start marker each frame's first fragment begins with.

Frames decode with the same decoders, and render with the same code, as
:mod:`sparkdeid.dicom.frames`, so OCR sees the image the whole-file path
would show it. The elements stored after Pixel Data (rare) are parsed into
:attr:`FrameSource.trailing` so a writer can reproduce them; Data Set
Trailing Padding is dropped.

Not handled (a :class:`~sparkdeid.errors.DicomDecodeError` says so):
big endian and deflated transfer syntaxes, Float / Double Float Pixel Data,
and native Pixel Data of undefined length. Error messages name the problem,
never a value or the path (either could be PHI).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.charset import convert_encodings
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset as read_raw_dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)

from sparkdeid.dicom.codec import looks_like_dicom
from sparkdeid.dicom.encapsulation import extended_offsets_of, index_fragments
from sparkdeid.dicom.frames import (
    PIXEL_DATA_TAG,
    RenderedFrame,
    Stretch,
    decode_encoded_frame,
    decode_native_frame,
    image_pixel_info,
    render_decoded,
)
from sparkdeid.errors import DicomDecodeError

logger = logging.getLogger(__name__)

TRAILING_PADDING_TAG = 0xFFFCFFFC
_FLOAT_PIXEL_TAGS = (0x7FE00008, 0x7FE00009)
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelDataLayout:
    """Where the (7FE0,0010) Pixel Data element lies in the file.

    Offsets are absolute positions in the file object. ``value_length`` is
    the declared length (native) or the bytes from the first item to the end
    of the sequence delimiter (encapsulated); ``end_offset`` is the first
    byte after the element. ``vr`` is ``OB``/``OW`` as stored ("" when the
    dataset is implicit VR).
    """

    element_offset: int
    value_offset: int
    value_length: int
    end_offset: int
    vr: str
    implicit_vr: bool
    encapsulated: bool


@dataclass
class SourceFrame:
    """One frame of a :class:`FrameSource`: stored bytes, decoded and rendered on demand.

    ``decoded`` is computed once, so a caller that renders the frame for OCR
    and then masks it decodes it only once.
    """

    index: int
    encoded: bytes
    source: FrameSource = field(repr=False)

    @cached_property
    def decoded(self) -> np.ndarray:
        return self.source.decode(self.encoded)

    def rendered(self, target_width: int = 0, stretch: Stretch | None = None) -> RenderedFrame:
        return render_decoded(
            self.source.header, self.source.info, self.decoded, self.index, target_width,
            stretch,
        )


class FrameSource:
    """The frames of one DICOM file, read by seeking; a context manager.

    Parameters
    ----------
    source
        A path, or a seekable binary file object positioned at the start of
        the DICOM data (the caller keeps ownership: it is not closed here).

    Attributes
    ----------
    header
        Every element before Pixel Data, file meta and preamble included.
    info
        The Image Pixel values (:func:`~sparkdeid.dicom.frames.pixel_info`).
    layout
        Where Pixel Data lies in the file.
    basic_offsets
        The Basic Offset Table as stored (empty for native or no table).
    trailing
        The elements after Pixel Data, without Data Set Trailing Padding.

    Raises
    ------
    DicomDecodeError
        Not DICOM, no Pixel Data, an unsupported encoding, or a file cut
        short or malformed around Pixel Data (detected here, before any
        frame is read).
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(source, str | os.PathLike):
            self._fp: BinaryIO = open(source, "rb")  # closed by close()
            self._owns = True
        else:
            self._fp, self._owns = source, False
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ public

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns and not self._fp.closed:
            self._fp.close()

    @property
    def num_frames(self) -> int:
        return self.info.num_frames

    def __len__(self) -> int:
        return self.info.num_frames

    @property
    def file_size(self) -> int:
        return self._size

    def encoded_frame(self, index: int) -> bytes:
        """Frame ``index`` as stored: native bytes, or the frame's fragments joined.

        Equal to :func:`~sparkdeid.dicom.frames.encoded_frame` of the whole
        file for encapsulated data. A 1-bit native frame comes re-packed
        from bit 0 when it does not start on a byte boundary, so it decodes
        on its own.
        """
        self._check_index(index)
        if self.layout.encapsulated:
            return b"".join(self._read(*place) for place in self._fragments.of_frame(index))
        start, end, bit_offset = self.native_span(index)
        data = self.read_value(start, end)
        if self.info.bits_allocated != 1 or (bit_offset == 0 and self._frame_bits % 8 == 0):
            return data
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        frame_bits = bits[bit_offset : bit_offset + self._frame_bits]
        return np.packbits(frame_bits, bitorder="little").tobytes()

    def native_span(self, index: int) -> tuple[int, int, int]:
        """``(start, end, bit_offset)`` of native frame ``index`` within the Pixel Data value.

        Bytes ``start:end`` hold the frame; for 1-bit data the frame starts at
        bit ``bit_offset`` of byte ``start`` and consecutive frames may share
        a byte. A writer that edits frames in place uses this span.
        """
        self._check_index(index)
        if self.layout.encapsulated:
            raise ValueError("native_span is for native Pixel Data")
        if self.info.bits_allocated == 1:
            first_bit = index * self._frame_bits
            return first_bit // 8, -(-(first_bit + self._frame_bits) // 8), first_bit % 8
        size = self._frame_bits // 8
        return index * size, (index + 1) * size, 0

    def read_at(self, position: int, length: int) -> bytes:
        """``length`` bytes at file ``position`` (a place :meth:`frame_fragments` names)."""
        return self._read(position, length)

    def read_value(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of the Pixel Data value (native) as stored."""
        if not 0 <= start <= end <= self.layout.value_length:
            raise ValueError("range outside the Pixel Data value")
        return self._read(self.layout.value_offset + start, end - start)

    def decode(self, encoded: bytes) -> np.ndarray:
        """Stored values of one frame given its bytes from :meth:`encoded_frame`."""
        if self.layout.encapsulated:
            return decode_encoded_frame(self.info, encoded)
        return decode_native_frame(self.info, encoded)

    def decoded_frame(self, index: int) -> np.ndarray:
        """Stored values of frame ``index``, as :func:`~sparkdeid.dicom.frames.decode_frame`."""
        return self.decode(self.encoded_frame(index))

    def rendered_frame(self, index: int, target_width: int = 0) -> RenderedFrame:
        """Frame ``index`` as :func:`~sparkdeid.dicom.frames.render_frame` renders it."""
        return render_decoded(
            self.header, self.info, self.decoded_frame(index), index, target_width
        )

    def frames(self) -> Iterator[SourceFrame]:
        """Every frame in order, one read at a time."""
        for index in range(self.info.num_frames):
            yield SourceFrame(index, self.encoded_frame(index), self)

    def fragment_count(self) -> int:
        """How many fragments encapsulated Pixel Data holds (0 for native)."""
        return len(self._fragments) if self.layout.encapsulated else 0

    def frame_fragments(self, index: int) -> list[tuple[int, int]]:
        """``(file offset, length)`` of each fragment value of frame ``index`` (encapsulated)."""
        self._check_index(index)
        if not self.layout.encapsulated:
            raise ValueError("frame_fragments is for encapsulated Pixel Data")
        return self._fragments.of_frame(index)

    # ------------------------------------------------------------------ opening

    def _open(self) -> None:
        fp = self._fp
        start = fp.tell()
        fp.seek(0, io.SEEK_END)
        self._size = fp.tell()
        fp.seek(start)
        if not looks_like_dicom(fp.read(132)):
            raise DicomDecodeError("not a DICOM file: no DICM marker and no DICOM tag at the start")
        fp.seek(start)
        self._refuse_unsupported_syntax(start)
        self.header = self._read_header(start)
        offset, head = self._pixel_data_head()
        self.info = image_pixel_info(self.header)
        self.layout = self._pixel_data_element(offset, head)
        self.basic_offsets: tuple[int, ...] = ()
        self._frame_bits = self.info.rows * self.info.columns * self._samples_stored()
        if self.info.bits_allocated != 1:
            self._frame_bits *= self.info.bits_allocated
        if self.layout.encapsulated:
            self._scan_fragments()
        else:
            self._check_native()
        self.trailing = self._read_trailing()

    def _refuse_unsupported_syntax(self, start: int) -> None:
        """Deflated data cannot be seeked into; big endian frames are not decoded here."""
        meta = Dataset()
        try:
            if pydicom.filereader.read_preamble(self._fp, True) is not None:
                meta = read_raw_dataset(
                    self._fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2
                )
        except Exception as exc:
            raise DicomDecodeError(f"unreadable file meta ({type(exc).__name__})") from None
        finally:
            self._fp.seek(start)
        try:
            syntax = UID(str(meta.get("TransferSyntaxUID") or "").strip("\0 "))
        except Exception:
            return  # dcmread reports an unreadable meta group
        if syntax in (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian):
            raise DicomDecodeError(
                f"{syntax.name} files are not read frame by frame; use the whole-file path"
            )

    def _read_header(self, start: int) -> FileDataset:
        try:
            try:
                ds = pydicom.dcmread(self._fp, stop_before_pixels=True)
            except InvalidDicomError:
                self._fp.seek(start)
                ds = pydicom.dcmread(self._fp, stop_before_pixels=True, force=True)
        except (EOFError, struct.error) as exc:
            raise DicomDecodeError(f"truncated or malformed DICOM ({type(exc).__name__})") from None
        except Exception as exc:  # pydicom raises many types for bad input
            raise DicomDecodeError(f"unreadable DICOM ({type(exc).__name__})") from None
        if not any(int(tag) in DicomDictionary for tag in ds.keys()):
            raise DicomDecodeError("not a DICOM dataset: no standard data element found")
        if not ds.original_encoding[1]:
            raise DicomDecodeError("big endian files are not read frame by frame")
        return ds

    def _pixel_data_head(self) -> tuple[int, bytes]:
        """Offset and first bytes of the element pydicom stopped at (it rewinds to the tag)."""
        offset = self._fp.tell()
        head = self._fp.read(12)
        if len(head) < 8:
            raise DicomDecodeError("no Pixel Data: the file ends before (7FE0,0010)")
        group, element = struct.unpack("<HH", head[:4])
        tag = group << 16 | element
        if tag in _FLOAT_PIXEL_TAGS:
            raise DicomDecodeError("Float and Double Float Pixel Data are not handled")
        if tag != PIXEL_DATA_TAG:
            raise DicomDecodeError("the header parser did not stop at (7FE0,0010) Pixel Data")
        return offset, head

    def _pixel_data_element(self, offset: int, head: bytes) -> PixelDataLayout:
        """Value offset and length from the Pixel Data element header."""
        implicit = self._is_implicit(head, offset)
        if implicit:
            vr, length, value_offset = "", struct.unpack("<I", head[4:8])[0], offset + 8
        else:
            if len(head) < 12 or head[4:6] not in _LONG_VRS:
                raise DicomDecodeError("Pixel Data has an invalid VR")
            vr, length, value_offset = head[4:6].decode("ascii"), struct.unpack(
                "<I", head[8:12]
            )[0], offset + 12
        encapsulated = length == _UNDEFINED_LENGTH
        if encapsulated != self.info.is_encapsulated:
            raise DicomDecodeError(
                "Pixel Data length does not match the transfer syntax "
                f"({'undefined' if encapsulated else 'defined'} length, {self.info.uid.name})"
            )
        if encapsulated:
            # value_length and end_offset are known after the item scan.
            return PixelDataLayout(offset, value_offset, 0, 0, vr, implicit, True)
        if value_offset + length > self._size:
            raise DicomDecodeError(
                "truncated DICOM: Pixel Data is shorter than its declared length"
            )
        return PixelDataLayout(
            offset, value_offset, length, value_offset + length, vr, implicit, False
        )

    def _is_implicit(self, head: bytes, offset: int) -> bool:
        """Implicit VR unless the element carries a VR (pydicom may have switched encodings)."""
        declared_implicit = bool(self.header.original_encoding[0])
        has_vr = len(head) >= 12 and head[4:6] in _LONG_VRS
        if not declared_implicit:
            return not has_vr
        if not has_vr:
            return True
        implicit_length = struct.unpack("<I", head[4:8])[0]
        return offset + 8 + implicit_length <= self._size

    def _samples_stored(self) -> int:
        """Samples stored per pixel: YBR_FULL_422 keeps two per pixel (Y Y Cb Cr per pair)."""
        if self.info.photometric == "YBR_FULL_422" and not self.info.is_encapsulated:
            return 2
        return self.info.samples_per_pixel

    def _check_native(self) -> None:
        info = self.info
        if info.bits_allocated != 1 and info.bits_allocated % 8:
            raise DicomDecodeError("native Pixel Data with BitsAllocated not 1 or a multiple of 8")
        needed = -(-(self._frame_bits * info.num_frames) // 8)
        if needed > self.layout.value_length:
            raise DicomDecodeError(
                f"Pixel Data holds fewer bytes than its {info.num_frames} frame(s) need"
            )

    # ------------------------------------------------------------------ encapsulated

    def _scan_fragments(self) -> None:
        """Read every item header once; keep fragment offsets and lengths, map frames."""
        fp = self._fp

        def read(position: int, length: int) -> bytes:
            fp.seek(position)
            return fp.read(length)

        self._fragments = index_fragments(
            read, self.layout.value_offset, self._size, num_frames=self.info.num_frames,
            transfer_syntax=self.info.uid, extended_offsets=extended_offsets_of(self.header),
        )
        self.basic_offsets = self._fragments.basic_offsets
        self.layout = dataclasses.replace(
            self.layout, value_length=self._fragments.end - self.layout.value_offset,
            end_offset=self._fragments.end,
        )

    # ------------------------------------------------------------------ trailing elements

    def _read_trailing(self) -> Dataset:
        """Elements after Pixel Data, parsed like the header; trailing padding dropped."""
        if self.layout.end_offset >= self._size:
            return Dataset()
        self._fp.seek(self.layout.end_offset)
        try:
            encodings = convert_encodings(self.header.get("SpecificCharacterSet"))
            trailing = read_raw_dataset(
                self._fp,
                self.layout.implicit_vr,
                True,
                parent_encoding=encodings,
            )
        except Exception as exc:
            raise DicomDecodeError(
                f"unreadable elements after Pixel Data ({type(exc).__name__})"
            ) from None
        if TRAILING_PADDING_TAG in trailing:
            del trailing[TRAILING_PADDING_TAG]
        return trailing

    # ------------------------------------------------------------------ helpers

    def _read(self, offset: int, length: int) -> bytes:
        self._fp.seek(offset)
        data = self._fp.read(length)
        if len(data) != length:
            raise DicomDecodeError("truncated DICOM: the file ended while reading a frame")
        return data

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.info.num_frames:
            raise IndexError(
                f"frame {index} requested from a file of {self.info.num_frames} frames"
            )
