"""Compare a compressed frame's own header with the DICOM header, before any codec sees it.

A JPEG, JPEG-LS or JPEG 2000 frame states its width, height, components and
sample precision in its first bytes (SOF / SOF55 / SIZ). PS3.5 8.2 requires
the Image Pixel attributes to agree with them, and decoders trust that: GDCM,
which pydicom tries first, sizes its output buffer from the DICOM header and
then *aborts the process* (a C++ exception through a ``noexcept`` boundary,
SIGABRT) when the codestream does not fit it. Fuzzing found, on real files:

* JPEG-LS with Rows or Columns larger than the codestream, or Samples per
  Pixel 3 on a one-component stream (``gdcmBitmap.cxx``: ``len <= outbv->GetLength()``);
* JPEG 2000 with Samples per Pixel differing from the stream's components;
* JPEG (baseline, extended, lossless) with Bits Allocated 8 and Bits Stored
  not 8 (``gdcmImageCodec.cxx``: ``PF.GetBitsAllocated() == PF.GetBitsStored()``).

Parsing those few bytes costs microseconds, so every frame is checked (a
mismatch can be planted in a later frame) and anything that disagrees, or
does not parse, is refused with a :class:`~sparkdeid.errors.DicomDecodeError`
that names the attribute, never a value from elsewhere in the file.

The precision check is deliberately lenient where real files vary: a stream
may be more precise than Bits Stored (12-bit JPEG for 10-bit data, 16-bit
lossless for 12-bit data), JPEG-LS and JPEG 2000 decoders take the
precision from the stream. Refused are precisions that cannot fit Bits
Allocated, JPEG streams less precise than Bits Stored, and the 8-bit JPEG
case GDCM cannot handle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparkdeid.errors import DicomDecodeError

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo

JPEG_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.50",  # baseline (process 1)
    "1.2.840.10008.1.2.4.51",  # extended (process 2 and 4)
    "1.2.840.10008.1.2.4.57",  # lossless (process 14)
    "1.2.840.10008.1.2.4.70",  # lossless, first-order prediction
})
JPEG_LS_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
JPEG_2000_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
})

#: How far into a frame the frame header is looked for. APPn segments (ICC
#: profiles, JFIF thumbnails) come first; the walk jumps segment to segment.
SEARCH_BYTES = 1 << 20

# SOFn markers (ITU T.81 B.1.1.3): C0-C3, C5-C7, C9-CB, CD-CF; C4 DHT, C8 JPG, CC DAC are not.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOF55 = 0xF7  # JPEG-LS frame header (ITU T.87)
# Markers without a length: TEM and RST0-7 (SOI and EOI are handled apart).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOI, _EOI, _SOS, _DHT, _DQT = 0xD8, 0xD9, 0xDA, 0xC4, 0xDB
# Huffman-coded frames (arithmetic coding, C9-CF, uses no DHT tables)
_HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})
_J2K_SOC = b"\xff\x4f"
_J2K_SIZ = b"\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


@dataclass(frozen=True)
class FrameHeader:
    """What a codestream says about its image, read from its frame header only."""

    family: str  # "JPEG", "JPEG-LS" or "JPEG 2000", as named in messages
    width: int
    height: int  # 0: a JPEG stream whose height a DNL segment gives later
    components: int
    precision: int  # the largest component precision (all equal in JPEG / JPEG-LS)
    # JPEG family only: what an encoder copies to write the frame again alike.
    sampling: tuple[tuple[int, int], ...] = ()  # (H, V) per component
    scan_start: int = 0  # first scan's Ss: JPEG lossless predictor, JPEG-LS NEAR
    scan_end: int = 0  # first scan's Se: JPEG-LS interleave mode
    point_transform: int = 0  # first scan's Al


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "big")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "big")


def _segments(data: bytes, family: str) -> Iterator[tuple[int, int, int]]:
    """(marker, offset, length) of each marker segment from SOI up to and including SOS.

    Every byte between SOI and the first scan must belong to a marker segment:
    libjpeg skips stray bytes with a warning and GDCM then aborts on what follows.
    """
    if data[:2] != b"\xff\xd8":
        raise DicomDecodeError(f"{family} frame does not start with an SOI marker")
    end = min(len(data), SEARCH_BYTES)
    offset = 2
    while True:
        if offset + 2 > end:
            raise DicomDecodeError(f"{family} frame has no scan (SOS) in its first bytes")
        if data[offset] != 0xFF:
            raise DicomDecodeError(
                f"{family} frame has bytes that are not a marker before its scan"
            )
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker (T.81 B.1.1.2)
            offset += 1
            continue
        if marker in _STANDALONE:
            offset += 2
            continue
        if marker in (_EOI, _SOI):
            raise DicomDecodeError(f"{family} frame ends before its scan (SOS)")
        length = _u16(data, offset + 2)
        if offset + 4 > len(data) or offset + 2 + length > len(data):
            raise DicomDecodeError(f"{family} frame is truncated in a marker segment")
        if length < 2:
            raise DicomDecodeError(f"{family} frame has a marker segment of length {length}")
        yield marker, offset, length
        if marker == _SOS:
            return
        offset += 2 + length


def _tables(data: bytes, offset: int, length: int, family: str, huffman: bool) -> set[int]:
    """Table ids a DHT (``huffman``: class << 4 | id) or DQT segment defines."""
    defined, at, stop = set(), offset + 4, offset + 2 + length
    while at < stop:
        kind = data[at]
        if huffman:
            size = 17 + sum(data[at + 1:at + 17])
            defined.add(kind & 0x1F)
        else:
            size = 1 + (128 if kind >> 4 else 64)
            defined.add(kind & 0x0F)
        at += size
    if at != stop:
        name = "DHT" if huffman else "DQT"
        raise DicomDecodeError(f"{family} frame has a malformed {name} segment")
    return defined


def read_jpeg_header(data: bytes, family: str = "JPEG") -> FrameHeader:
    """The frame header (SOFn, or SOF55 for JPEG-LS) and first scan header of a JPEG-family stream.

    Walks the marker segments from SOI to the first scan (SOS); never reads
    entropy-coded data. The decoders' codestream check and the encoders
    (which copy sampling, predictor, NEAR and interleave) both read it here.
    For Huffman-coded JPEG the quantisation and Huffman tables the frame and
    scan name must have been defined on the way.

    Raises
    ------
    DicomDecodeError
        No SOI, stray bytes, a truncated or zero-length segment, no frame header
        before the scan, an undefined table, or no scan in the first :data:`SEARCH_BYTES`.
    """
    sof: tuple[int, int, int] | None = None
    sos: tuple[int, int] = (0, 0)
    huffman: set[int] = set()
    quant: set[int] = set()
    for marker, offset, length in _segments(data, family):
        if marker in _SOF or marker == _SOF55:
            if sof is None:
                sof = (marker, offset, length)
                if (marker == _SOF55) != (family == "JPEG-LS"):
                    found = "JPEG-LS" if marker == _SOF55 else "JPEG"
                    raise DicomDecodeError(f"{family} transfer syntax holds a {found} codestream")
        elif marker == _DHT:
            huffman |= _tables(data, offset, length, family, True)
        elif marker == _DQT:
            quant |= _tables(data, offset, length, family, False)
        elif marker == _SOS:
            if sof is None:
                raise DicomDecodeError(f"{family} frame has no frame header (SOF) before its scan")
            sos = (offset, length)
            _check_scan_tables(data, sof, sos, huffman, quant, family)
    if sof is None:  # unreachable: _segments ends at SOS, which needs one
        raise DicomDecodeError(f"{family} frame has no frame header (SOF)")
    marker, offset, length = sof
    # Lf(2) P(1) Y(2) X(2) Nf(1), then three bytes per component
    if length < 8:
        raise DicomDecodeError(f"{family} frame header (SOF) is truncated")
    return FrameHeader(
        family=family,
        precision=data[offset + 4],
        height=_u16(data, offset + 5),
        width=_u16(data, offset + 7),
        components=data[offset + 9],
        sampling=tuple(
            (data[at] >> 4, data[at] & 0x0F)
            for at in range(offset + 11, offset + 11 + 3 * data[offset + 9], 3)
            if at < offset + 2 + length
        ),
        **_scan_parameters(data, *sos),
    )


def _scan_parameters(data: bytes, offset: int, length: int) -> dict[str, int]:
    """Ss, Se and Al of a scan header (T.81 B.2.3, T.87 C.2.3); none when it is too short."""
    # Ls(2) Ns(1), two bytes per component, then Ss Se Ah|Al
    count = data[offset + 4] if length >= 3 else 0
    tail = data[offset + 5 + 2 * count : min(offset + 8 + 2 * count, offset + 2 + length)]
    if len(tail) != 3:
        return {}
    return {"scan_start": tail[0], "scan_end": tail[1], "point_transform": tail[2] & 0x0F}


def _check_scan_tables(
    data: bytes, sof: tuple[int, int, int], sos: tuple[int, int],
    huffman: set[int], quant: set[int], family: str,
) -> None:
    """The first scan of a Huffman-coded JPEG names only tables defined before it."""
    marker, offset, length = sof
    if marker not in _HUFFMAN_SOF:
        return  # JPEG-LS and arithmetic coding: no Huffman tables to look up
    components = data[offset + 9] if length >= 8 else 0
    if length < 8 + 3 * components:
        raise DicomDecodeError(f"{family} frame header (SOF) is truncated")
    lossless = marker in (0xC3, 0xC7)
    if not lossless:
        for c in range(components):
            if data[offset + 12 + 3 * c] & 0x0F not in quant:
                raise DicomDecodeError(
                    f"{family} frame uses a quantisation table it does not define"
                )
    at, scan_length = sos
    count = data[at + 4] if scan_length >= 3 else 0
    if scan_length < 6 + 2 * count or count == 0:
        raise DicomDecodeError(f"{family} scan header (SOS) is truncated")
    progressive = marker in (0xC2, 0xC6)
    for c in range(count):
        selectors = data[at + 6 + 2 * c]
        if not progressive or data[at + 5 + 2 * count] == 0:  # DC table in use
            if selectors >> 4 not in huffman:
                raise DicomDecodeError(f"{family} scan uses a Huffman table it does not define")
        if not lossless and not progressive and (0x10 | selectors & 0x0F) not in huffman:
            raise DicomDecodeError(f"{family} scan uses a Huffman table it does not define")


def read_j2k_header(data: bytes) -> FrameHeader:
    """The SIZ segment of a JPEG 2000 codestream (a JP2 wrapper is looked through).

    Raises
    ------
    DicomDecodeError
        No SOC, SIZ not right after it (ISO/IEC 15444-1 A.5.1), or SIZ truncated.
    """
    offset = 0
    if data.startswith(_JP2_SIGNATURE):  # not allowed in DICOM, found in real files
        offset = 12
        while offset + 8 <= min(len(data), SEARCH_BYTES):
            size, kind = _u32(data, offset), data[offset + 4:offset + 8]
            if kind == b"jp2c":
                offset += 8
                break
            if size < 8:
                raise DicomDecodeError("JPEG 2000 frame has a malformed JP2 box")
            offset += size
        else:
            raise DicomDecodeError("JPEG 2000 frame has a JP2 wrapper without a codestream")
    if data[offset:offset + 2] != _J2K_SOC:
        raise DicomDecodeError("JPEG 2000 frame does not start with an SOC marker")
    siz = offset + 2
    if data[siz:siz + 2] != _J2K_SIZ:
        raise DicomDecodeError("JPEG 2000 frame has no SIZ segment after its SOC marker")
    # Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz, then Ssiz XRsiz YRsiz each
    if siz + 40 > len(data):
        raise DicomDecodeError("JPEG 2000 SIZ segment is truncated")
    components = _u16(data, siz + 38)
    if components == 0 or siz + 40 + 3 * components > len(data):
        raise DicomDecodeError("JPEG 2000 SIZ segment is truncated")
    xsiz, ysiz = _u32(data, siz + 6), _u32(data, siz + 10)
    xosiz, yosiz = _u32(data, siz + 14), _u32(data, siz + 18)
    if xosiz >= xsiz or yosiz >= ysiz:
        raise DicomDecodeError("JPEG 2000 SIZ segment describes an empty image")
    precision = max((data[siz + 40 + 3 * c] & 0x7F) + 1 for c in range(components))
    return FrameHeader("JPEG 2000", xsiz - xosiz, ysiz - yosiz, components, precision)


def read_frame_header(transfer_syntax: str, frame: bytes) -> FrameHeader | None:
    """The frame header of ``frame``; None for a syntax that has none to check (RLE, ...)."""
    if transfer_syntax in JPEG_SYNTAXES:
        return read_jpeg_header(frame, "JPEG")
    if transfer_syntax in JPEG_LS_SYNTAXES:
        return read_jpeg_header(frame, "JPEG-LS")
    if transfer_syntax in JPEG_2000_SYNTAXES:
        return read_j2k_header(frame)
    return None


def _precision_problem(found: FrameHeader, info: PixelInfo) -> str:
    """Why the stream's precision cannot be decoded as the header describes ('' when it can)."""
    p = found.precision
    if not 1 <= p <= 38:  # T.81 2..16, T.87 2..16, 15444-1 1..38
        return f"{found.family} codestream has a sample precision of {p} bits"
    if found.family == "JPEG 2000":
        # pydicom sizes its buffer from the stream's precision; only a stream
        # wider than any container is refused (J2K files often set Bits Stored
        # below or above the stream's precision)
        return ""
    if p > info.bits_allocated:
        return (
            f"{found.family} codestream has {p}-bit samples but the header says "
            f"BitsAllocated {info.bits_allocated}"
        )
    if found.family == "JPEG-LS":
        return ""  # decoders take the precision from SOF55
    if p < info.bits_stored:
        return (
            f"JPEG codestream has {p}-bit samples but the header says "
            f"BitsStored {info.bits_stored}"
        )
    if info.bits_allocated == 8 and info.bits_stored != p:
        # GDCM asserts BitsAllocated == BitsStored for 8-bit JPEG output (abort)
        return (
            f"JPEG codestream has {p}-bit samples but the header says "
            f"BitsStored {info.bits_stored} (BitsAllocated 8)"
        )
    return ""


def check_frame_codestream(info: PixelInfo, frame: bytes) -> None:
    """Refuse a compressed frame whose codestream disagrees with the Image Pixel header.

    Columns, Rows (a JPEG stream may leave its height to a DNL segment),
    Samples per Pixel and the sample precision (see the module docstring)
    are compared; syntaxes without a frame header (RLE, ...) pass.

    Raises
    ------
    DicomDecodeError
        The codestream does not parse or does not match; the message names the
        stream's geometry and the header attributes that disagree with it.
    """
    found = read_frame_header(info.transfer_syntax, frame)
    if found is None:
        return
    wrong = []
    if found.width != info.columns:
        wrong.append(f"Columns {info.columns}")
    if found.height != info.rows and not (found.height == 0 and found.family == "JPEG"):
        wrong.append(f"Rows {info.rows}")
    if found.components != info.samples_per_pixel:
        wrong.append(f"SamplesPerPixel {info.samples_per_pixel}")
    if wrong:
        raise DicomDecodeError(
            f"{found.family} codestream is {found.width} x {found.height} x "
            f"{found.components} sample(s) but the header says {', '.join(wrong)}"
        )
    problem = _precision_problem(found, info)
    if problem:
        raise DicomDecodeError(problem)
