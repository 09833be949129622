"""Encapsulated Pixel Data (PS3.5 A.4): its items, its offset tables, which fragments make a frame.

Every route splits frames here: the in-memory reader and writer (over the
Pixel Data value pydicom read) and the streamed reader (by seeking in the
file). So OCR reads exactly the fragments the masker later rewrites, and a
file gives the same frames whichever route it takes.

Fragments are mapped to frames with the Extended or the Basic Offset Table
when it is consistent with the items found (one offset per frame, from 0,
increasing, each at an item), else one fragment per frame, else (JPEG
family) by the codestream start marker a frame's first fragment opens with.
A table that does not fit is not trusted; when nothing maps the fragments
the file is refused. Error messages name the problem, never a value.
"""

from __future__ import annotations

import logging
import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID, JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from sparkdeid.errors import DicomDecodeError

logger = logging.getLogger(__name__)

ITEM = b"\xfe\xff\x00\xe0"
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
EXTENDED_OFFSETS = 0x7FE00001
EXTENDED_LENGTHS = 0x7FE00002
_ITEM_TAG = 0xFFFEE000
_SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
_UNDEFINED_LENGTH = 0xFFFFFFFF
# First bytes of a frame's codestream: JPEG SOI, JPEG 2000 SOC, JP2 signature box.
_CODESTREAM_STARTS = (b"\xff\xd8", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP")
_MARKED_SYNTAXES = frozenset((*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes,
                              *JPEG2000TransferSyntaxes))

# read(position, length) -> up to ``length`` bytes at ``position`` (fewer at the end)
Reader = Callable[[int, int], bytes | bytearray]


@dataclass(frozen=True)
class Fragments:
    """Where an encapsulated value's fragments lie and which frame each belongs to.

    ``offsets`` are the positions of the fragments' values (after each item
    header) in the reader's coordinates; ``frame_starts[i]`` is frame i's
    first fragment, and its last entry the fragment count. ``end`` is the
    position after the last item (and after the sequence delimiter, when the
    value carries one).
    """

    basic_offsets: tuple[int, ...]
    offsets: array[int]
    lengths: array[int]
    frame_starts: array[int]
    end: int

    def __len__(self) -> int:
        return len(self.offsets)

    def of_frame(self, index: int) -> list[tuple[int, int]]:
        """``(position, length)`` of each fragment value of frame ``index``."""
        first, last = self.frame_starts[index], self.frame_starts[index + 1]
        return [(self.offsets[k], self.lengths[k]) for k in range(first, last)]


def index_fragments(
    read: Reader,
    start: int,
    size: int,
    *,
    num_frames: int,
    transfer_syntax: str,
    extended_offsets: Sequence[int] = (),
    delimited: bool = True,
) -> Fragments:
    """Scan the item headers of a value starting at ``start`` and map its frames.

    ``delimited``: the value ends with a sequence delimiter (a file as
    stored); pydicom's in-memory value stops before it, at ``size``.

    Raises
    ------
    DicomDecodeError
        Items cut short or malformed, no Basic Offset Table item, fewer
        fragments than frames, or fragments no rule maps to frames.
    """
    basic, offsets, lengths, end = _scan(read, start, size, delimited)
    starts = _map_frames(read, basic, offsets, num_frames, UID(transfer_syntax),
                         tuple(extended_offsets))
    return Fragments(basic, offsets, lengths, array("Q", starts), end)


def fragments_of(
    ds: Dataset, value: bytes | bytearray, num_frames: int, transfer_syntax: str
) -> Fragments:
    """The fragments of the in-memory encapsulated Pixel Data ``value`` of ``ds``."""
    return index_fragments(
        lambda position, length: value[position : position + length], 0, len(value),
        num_frames=num_frames, transfer_syntax=transfer_syntax,
        extended_offsets=extended_offsets_of(ds), delimited=False,
    )


def extended_offsets_of(ds: Dataset) -> tuple[int, ...]:
    """The Extended Offset Table of ``ds`` (empty when absent or unreadable)."""
    if EXTENDED_OFFSETS not in ds or EXTENDED_LENGTHS not in ds:
        return ()
    return _unpack_q(ds, EXTENDED_OFFSETS)


def extended_lengths_of(ds: Dataset) -> tuple[int, ...]:
    """The Extended Offset Table Lengths of ``ds`` (empty when absent or unreadable)."""
    if EXTENDED_OFFSETS not in ds or EXTENDED_LENGTHS not in ds:
        return ()
    return _unpack_q(ds, EXTENDED_LENGTHS)


def item(value: bytes) -> bytes:
    """``value`` as one item (padded to even length, as PS3.5 A.4 requires)."""
    padded = value + b"\x00" * (len(value) % 2)
    return ITEM + struct.pack("<I", len(padded)) + padded


def basic_table_item(offsets: Sequence[int]) -> bytes:
    """The Basic Offset Table item for frames at ``offsets`` (empty item for none)."""
    return item(struct.pack(f"<{len(offsets)}I", *offsets))


def pack_extended(offsets: Sequence[int], lengths: Sequence[int]) -> tuple[bytes, bytes]:
    """Extended Offset Table and its Lengths as the OV values to store."""
    return (struct.pack(f"<{len(offsets)}Q", *offsets),
            struct.pack(f"<{len(lengths)}Q", *lengths))


def single_frame_value(frame: bytes) -> bytes:
    """One frame as a whole encapsulated value: empty offset table, one item."""
    return basic_table_item(()) + item(frame)


class FrameItems:
    """The items of a rebuilt encapsulated value, written as they come, and its offset tables.

    Both writers (in memory and streamed) build their value with it, so an
    unchanged frame keeps its fragments exactly as stored and a re-encoded
    one becomes one item, whichever route wrote it. ``extended``: the file
    keeps an Extended Offset Table; ``basic``: it had a Basic Offset Table
    (kept while offsets fit in 32 bits).
    """

    def __init__(self, write: Callable[[bytes], object], *, extended: bool, basic: bool,
                 original_lengths: Sequence[int] = ()) -> None:
        self._write = write
        self.extended, self.basic = extended, basic and not extended
        self._original_lengths = original_lengths
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.size = 0

    def add(self, index: int, fragments: Sequence[bytes], reencoded: bytes | None = None) -> None:
        """Frame ``index``: its stored ``fragments``, or its ``reencoded`` codestream."""
        self.offsets.append(self.size)
        if reencoded is not None:
            self.lengths.append(len(reencoded))
            fragments = (reencoded,)
        elif index < len(self._original_lengths):
            self.lengths.append(self._original_lengths[index])
        else:
            self.lengths.append(sum(len(fragment) for fragment in fragments))
        for fragment in fragments:
            data = item(fragment)
            self._write(data)
            self.size += len(data)

    def basic_table(self) -> bytes:
        """The Basic Offset Table item to write before the frames."""
        if self.basic and self.offsets and self.offsets[-1] < 2**32:
            return basic_table_item(self.offsets)
        return basic_table_item(())

    def store_extended(self, ds: Dataset) -> None:
        """Write the Extended Offset Table and its Lengths into ``ds`` (when it keeps them)."""
        if self.extended:
            ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = pack_extended(
                self.offsets, self.lengths
            )


# --------------------------------------------------------------------------


def _unpack_q(ds: Dataset, tag: int) -> tuple[int, ...]:
    try:
        raw = ds[tag].value
        if isinstance(raw, bytes | bytearray):
            return struct.unpack(f"<{len(raw) // 8}Q", raw)
        return tuple(int(v) for v in raw)
    except Exception:
        logger.debug("extended offset table unreadable; not used")
        return ()


def _scan(
    read: Reader, start: int, size: int, delimited: bool
) -> tuple[tuple[int, ...], array[int], array[int], int]:
    """Every item header once: the Basic Offset Table and each fragment's place."""
    offsets, lengths = array("Q"), array("Q")
    table: bytes | None = None
    position = start
    while True:
        if not delimited and position == size:
            break
        head = read(position, 8)
        if len(head) < 8:
            raise DicomDecodeError(
                "truncated DICOM: encapsulated Pixel Data ends before its sequence delimiter"
                if delimited else "truncated DICOM: encapsulated Pixel Data ends inside an item"
            )
        group, element, length = struct.unpack("<HHI", head)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER_TAG:
            position += 8
            break
        if tag != _ITEM_TAG or length == _UNDEFINED_LENGTH:
            raise DicomDecodeError("encapsulated Pixel Data holds something other than items")
        if position + 8 + length > size:
            raise DicomDecodeError(
                "truncated DICOM: a Pixel Data fragment is shorter than its declared length"
            )
        if table is None:
            table = bytes(read(position + 8, length))
        else:
            offsets.append(position + 8)
            lengths.append(length)
        position += 8 + length
    if table is None:
        raise DicomDecodeError("encapsulated Pixel Data has no Basic Offset Table item")
    if len(table) % 4:
        raise DicomDecodeError("the Basic Offset Table length is not a multiple of 4")
    return struct.unpack(f"<{len(table) // 4}I", table), offsets, lengths, position


def _map_frames(
    read: Reader, basic: tuple[int, ...], offsets: array[int], num_frames: int, uid: UID,
    extended: tuple[int, ...],
) -> list[int]:
    """Index of each frame's first fragment, plus the fragment count at the end."""
    fragments = len(offsets)
    if fragments < num_frames:
        raise DicomDecodeError(
            f"encapsulated Pixel Data holds {fragments} fragment(s) for {num_frames} frame(s)"
        )
    for name, table in (("extended", extended), ("basic", basic)):
        if table:
            starts = _starts_from_table(table, offsets, num_frames)
            if starts is not None:
                return [*starts, fragments]
            logger.debug("%s offset table does not match the fragments; not used", name)
    if fragments == num_frames:
        return list(range(fragments + 1))
    if num_frames == 1:
        return [0, fragments]
    if uid in _MARKED_SYNTAXES:
        starts = [k for k, offset in enumerate(offsets)
                  if read(offset, 6).startswith(_CODESTREAM_STARTS)]
        if len(starts) == num_frames and starts[0] == 0:
            return [*starts, fragments]
    raise DicomDecodeError(
        f"encapsulated Pixel Data holds {fragments} fragments for {num_frames} frames and no "
        "usable offset table: which fragments form which frame is unknown"
    )


def _starts_from_table(
    table: Sequence[int], offsets: array[int], num_frames: int
) -> list[int] | None:
    """First fragment of each frame from table offsets (relative to the first fragment item).

    None unless the table has one offset per frame, starting at 0, increasing,
    each the start of a fragment item.
    """
    if len(table) != num_frames or table[0] != 0:
        return None
    base = offsets[0] - 8
    by_offset = {position - 8 - base: k for k, position in enumerate(offsets)}
    starts = [by_offset.get(int(offset), -1) for offset in table]
    if any(k < 0 for k in starts) or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        return None
    return starts
