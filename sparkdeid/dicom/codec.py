"""Read and write DICOM bytes without touching what de-identification leaves alone.

Pixel Data is never decoded here: pydicom keeps it as the raw bytes it read
(native or encapsulated), so an untouched image comes out byte-identical in
its original transfer syntax. Errors are reported by kind, never with the
bytes or values that caused them (they may be PHI).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from typing import Any

import pydicom
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    UID_dictionary,
)
from pydicom.valuerep import VR

from sparkdeid.errors import DicomDecodeError, DicomEncodeError

# A 2.25 UID derived from a fixed UUID; identifies files written by sparkdeid.
IMPLEMENTATION_CLASS_UID = "2.25.171209735846520318410127361394372961027"
IMPLEMENTATION_VERSION_NAME = "SPARKDEID_010"

# File meta elements that name the sending site or carry free private data.
_IDENTIFYING_META = (
    0x00020016, 0x00020017, 0x00020018,  # source/sending/receiving AE titles
    0x00020026, 0x00020027, 0x00020028,  # their presentation addresses (URLs)
    0x00020100, 0x00020102,  # private information
)
# VRs pydicom can convert, and the value size of the fixed-size binary ones.
_VALID_VRS = frozenset(str(vr.value) for vr in VR)
_FIXED_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "OF": 4, "OL": 4,
                "FD": 8, "SV": 8, "UV": 8, "OD": 8, "OV": 8}
# IS/DS strings that surely convert (others are tried with pydicom at read time).
_NUMBERS = re.compile(
    rb"[ \x00]*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?[ \x00]*"
    rb"(?:\\[ \x00]*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?[ \x00]*)*"
)
# Pixel Data, Float Pixel Data, Double Float Pixel Data: any of them is an image's pixels.
_PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
# Deeper nesting than real objects use; pydicom's recursive reader and writer
# would hit Python's recursion limit not far beyond a few hundred levels.
MAX_SEQUENCE_DEPTH = 64
_EOF_WARNING = re.compile(
    r"End of file reached before delimiter (\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))"
)
_UID_TEXT = re.compile(r"[0-9][0-9.]{0,63}")
# Any run of three letters in a preamble could be part of a name: zero it.
_PREAMBLE_TEXT = re.compile(rb"[A-Za-z]{3,}")


def looks_like_dicom(data: bytes) -> bool:
    """Cheap content sniffing: Part 10 magic, or a raw dataset's first tag.

    Files without a preamble (old ACR-NEMA style or bare datasets) start with a
    group 0x0008 element in either byte order; the check reads 4 bytes.
    """
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    group_le, group_be = struct.unpack("<H", data[:2])[0], struct.unpack(">H", data[:2])[0]
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def read_dataset(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse DICOM bytes into a Dataset; element values stay raw until used.

    pydicom reads every element header and length here, so truncation and
    broken structure fail now; values are converted only when a rule needs
    them, and untouched raw values are written back verbatim.

    Parameters
    ----------
    data
        The whole file as bytes.
    stop_before_pixels
        Skip Pixel Data and what follows it (metadata extraction needs no pixels).

    Raises
    ------
    DicomDecodeError
        With a message naming the kind of problem only.
    """
    if not data:
        raise DicomDecodeError("empty file (0 bytes)")
    if not looks_like_dicom(data):
        raise DicomDecodeError("not a DICOM file: no DICM marker and no DICOM tag at the start")
    try:
        ds = _dcmread(data, stop_before_pixels)
        _check_transfer_syntax(ds)
        if not stop_before_pixels:
            _check_last_element_complete(ds, data)
        _parse_sequences(ds)
        if isinstance(getattr(ds, "file_meta", None), Dataset):
            _parse_sequences(ds.file_meta)
    except DicomDecodeError:
        raise
    except (EOFError, struct.error) as exc:
        raise DicomDecodeError(f"truncated or malformed DICOM ({type(exc).__name__})") from None
    except RecursionError:
        raise DicomDecodeError("sequences nested too deeply to read") from None
    except zlib.error:
        raise DicomDecodeError(
            "deflated transfer syntax declared but the data does not inflate"
        ) from None
    except OSError as exc:
        if str(exc).startswith("No tag to read"):  # pydicom, at the end of the bytes
            raise DicomDecodeError(
                "truncated DICOM: the file ends inside a sequence or item that is never closed"
            ) from None
        raise DicomDecodeError(f"unreadable DICOM ({type(exc).__name__})") from None
    except Exception as exc:  # pydicom raises many types for bad input
        raise DicomDecodeError(f"unreadable DICOM ({type(exc).__name__})") from None
    if len(ds) == 0:
        raise DicomDecodeError(_empty_reason(data))
    if not any(int(tag) in DicomDictionary for tag in ds.keys()):
        # Bytes after a valid header that parse as one unknown element are not a dataset.
        raise DicomDecodeError("not a DICOM dataset: no standard data element found")
    if not stop_before_pixels:
        _check_image_has_pixels(ds)
    return ds


def is_image_sop_class(uid: str) -> bool:
    """True for a storage SOP class whose IOD requires pixel data.

    The rule: the class's name in pydicom's UID dictionary contains
    ``Image Storage`` (CT, MR, CR, DX, MG, US, NM, PET, SC, XA, VL, RT Image,
    WSI, ...). Every such IOD includes the Image Pixel module, where Pixel
    Data is Type 1. Classes whose pixels are optional or float-only
    (RT Dose, Segmentation, Parametric Map, MR Spectroscopy) and non-image
    objects (SR, presentation states, documents) are not named so.
    """
    entry = UID_dictionary.get(str(uid).strip(" \x00"))
    if entry is None:
        return False
    return entry[1] == "SOP Class" and "Image Storage" in entry[0]


def _check_image_has_pixels(ds: Dataset) -> None:
    """An image object without pixels has lost them: its file was cut or stripped.

    The class is the data set's own or, when the cut took that too, the one
    the file meta information declares.
    """
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID")
                                          if meta is not None else None)
    if not sop_class or not is_image_sop_class(str(sop_class)):
        return
    if any(tag in ds for tag in _PIXEL_DATA_TAGS):
        return
    raise DicomDecodeError(
        f"image without pixels: {UID(str(sop_class)).name} requires Pixel Data and the file has "
        "none (truncated, or its pixels were removed)"
    )


def _check_last_element_complete(ds: Dataset, data: bytes) -> None:
    """A file cut inside an element's header: pydicom stops there without a word.

    pydicom reads an element header in one 8-byte read and ends the data set
    quietly when fewer bytes remain, so a file cut a few bytes into an element
    reads as complete, minus that element and everything after it. The bytes
    after the last element read are such a fragment unless they are zero
    padding. Deflated data and undefined-length last elements are checked
    elsewhere (inflate errors, missing delimiters).
    """
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if syntax.strip(" \x00") == "1.2.840.10008.1.2.1.99" or len(ds) == 0:
        return
    last = ds.get_item(list(ds.keys())[-1])
    value_tell = getattr(last, "value_tell", None)
    length = getattr(last, "length", None)
    if value_tell is None or length is None or length == 0xFFFFFFFF:
        return
    rest = data[value_tell + length:]
    if 0 < len(rest) < 12 and rest.strip(b"\x00"):
        raise DicomDecodeError(
            f"truncated DICOM: the file ends {len(rest)} bytes into the header of an element "
            "after the last complete one"
        )


def _dcmread(data: bytes, stop_before_pixels: bool) -> Dataset:
    """pydicom's read, with the end-of-file warnings it gives instead of failing raised.

    pydicom stops at the end of the bytes inside an undefined-length element
    (a sequence or encapsulated Pixel Data without its delimiter), warns and
    returns what it read so far: that is a truncated file.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            ds = pydicom.dcmread(
                io.BytesIO(data), stop_before_pixels=stop_before_pixels, force=True
            )
    for warning in caught:
        found = _EOF_WARNING.search(str(warning.message))
        if found:
            raise DicomDecodeError(
                f"truncated DICOM: the file ends before the delimiter {found.group(1)} of an "
                "undefined-length element (sequence, item or encapsulated Pixel Data)"
            )
    for warning in caught:  # the others go on as pydicom gave them
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return ds


def _check_transfer_syntax(ds: Dataset) -> None:
    """A transfer syntax pydicom does not know cannot be read or written faithfully."""
    meta = getattr(ds, "file_meta", None)
    declared = meta.get("TransferSyntaxUID") if meta is not None else None
    if not declared:
        return  # inferred from the data, as pydicom read it
    uid = str(declared).strip(" \x00")
    if UID(uid).is_transfer_syntax:
        return
    shown = uid if _UID_TEXT.fullmatch(uid) else "(not a valid UID)"
    raise DicomDecodeError(f"unsupported transfer syntax {shown}")


def _empty_reason(data: bytes) -> str:
    """Why a file with a valid start held no data element: cut in its file meta, or empty."""
    if data[128:132] == b"DICM" and data[132:138] == b"\x02\x00\x00\x00UL" and len(data) >= 144:
        declared = struct.unpack("<I", data[140:144])[0]
        remain = len(data) - 144
        if declared > remain:
            return f"truncated DICOM: file meta declares {declared} bytes, {remain} remain"
        if declared == remain:
            return "no data elements after the file meta"
    return "DICOM file holds no data elements"


def _parse_sequences(ds: Dataset, depth: int = 0) -> None:
    """Parse sequence items now (cheap) so a file cut inside one fails at read time.

    Also catches values cut short: pydicom returns fewer bytes than an
    element's declared length when the file ends early.
    """
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        declared = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if (
            isinstance(value, bytes)
            and declared is not None
            and declared != 0xFFFFFFFF
            and len(value) < declared
        ):
            raise DicomDecodeError(
                f"truncated DICOM: element ({int(tag) >> 16:04X},{int(tag) & 0xFFFF:04X}) declares "
                f"{declared} bytes, {len(value)} remain"
            )
        _check_element(ds, int(tag), raw, value)
        if element_vr(ds, int(tag)) == "SQ":
            if depth >= MAX_SEQUENCE_DEPTH:
                raise DicomDecodeError(
                    f"sequences nested more than {MAX_SEQUENCE_DEPTH} deep"
                )
            for item in ds[tag].value or []:
                _parse_sequences(item, depth + 1)


def _check_element(ds: Dataset, tag: int, raw: object, value: object) -> None:
    """Reject what pydicom reads but can never convert, rather than keep it raw.

    Found by fuzzing: such elements passed through de-identification
    untouched and gave outputs that pydicom could not read back.
    """
    where = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    if tag >> 16 == 0xFFFE:
        raise DicomDecodeError(f"malformed DICOM: item or delimiter tag {where} outside a sequence")
    vr = getattr(raw, "VR", None)
    if vr and vr not in _VALID_VRS:
        raise DicomDecodeError(f"malformed DICOM: element {where} has an unknown VR")
    standard_vr = element_vr(ds, tag)
    size = _FIXED_SIZES.get(standard_vr)
    if size and isinstance(value, bytes) and len(value) % size:
        raise DicomDecodeError(
            f"malformed DICOM: element {where} length {len(value)} is not a multiple of {size}"
        )
    if (
        standard_vr in ("IS", "DS")
        and isinstance(value, bytes)
        # an IS with an exponent can overflow: pydicom decides
        and not (_NUMBERS.fullmatch(value) and (standard_vr == "DS" or b"e" not in value.lower()))
    ):
        try:  # pydicom's own conversion decides what an odd number string is
            converted = ds[tag].value
            for item in converted if isinstance(converted, MultiValue | list) else [converted]:
                if item not in ("", None):  # an unconvertible one stays a str
                    float(item) if standard_vr == "DS" else int(item)
        except Exception:
            raise DicomDecodeError(
                f"malformed DICOM: element {where} ({standard_vr}) holds a value that is not "
                "a number"
            ) from None


def element_vr(ds: Dataset, tag: int) -> str:
    """An element's VR without converting its value (implicit VR: the dictionary's)."""
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None)
    if vr and vr != "UN":
        return str(vr)
    return dictionary_vr(tag, str(vr or "UN"))


def dictionary_vr(tag: int, default: str = "UN") -> str:
    """The standard's VR for a tag (the first of ``US or SS``), else ``default``."""
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return default


def write_dataset(ds: Dataset) -> bytes:
    """Serialise ``ds`` as a Part 10 file in the transfer syntax it was read in.

    File meta is refreshed: Media Storage SOP Class/Instance UID follow the
    dataset, the Implementation Class UID / Version Name become ours, and meta
    elements that name the sending site are dropped. A preamble that holds
    letters is zeroed (it could carry a name); other preambles (TIFF headers) are kept.
    """
    meta = ds.file_meta if isinstance(getattr(ds, "file_meta", None), FileMetaDataset) else None
    if meta is None:
        meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(meta.get("TransferSyntaxUID") or _infer_transfer_syntax(ds))
    for tag in _IDENTIFYING_META:
        if tag in meta:
            del meta[tag]
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    meta.FileMetaInformationVersion = b"\x00\x01"
    ds.file_meta = meta
    preamble = getattr(ds, "preamble", None)
    if not preamble or len(preamble) != 128 or _PREAMBLE_TEXT.search(preamble):
        ds.preamble = b"\x00" * 128
    # Non-image objects without SOP UIDs cannot pass pydicom's Part 10 check;
    # they are written with the meta they have rather than rejected.
    complete = "SOPClassUID" in ds and "SOPInstanceUID" in ds
    buffer = io.BytesIO()
    try:
        pydicom.dcmwrite(buffer, ds, enforce_file_format=complete)
    except TypeError:
        # Data encoded implicit VR under an explicit-VR transfer syntax reads with
        # no VRs; converting every element gives each its dictionary VR (or UN).
        for _ in ds.iterall():
            pass
        buffer = io.BytesIO()
        try:
            pydicom.dcmwrite(buffer, ds, enforce_file_format=complete)
        except Exception as exc:
            raise DicomEncodeError(f"could not write DICOM ({type(exc).__name__})") from None
    except Exception as exc:
        raise DicomEncodeError(f"could not write DICOM ({type(exc).__name__})") from None
    return buffer.getvalue()


def _infer_transfer_syntax(ds: Dataset) -> str:
    """Transfer syntax for a dataset read without file meta (its original encoding)."""
    implicit, little = ds.original_encoding
    if little is False:
        return str(ExplicitVRBigEndian)  # implicit big endian does not exist in DICOM
    return str(ImplicitVRLittleEndian if implicit in (True, None) else ExplicitVRLittleEndian)


def values_of(elem: DataElement) -> list[Any]:
    """The element's values as a list; bytes of UN/unknown VRs are decoded as text."""
    value = elem.value
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, bytes):
        value = value.decode("latin-1").rstrip("\x00 ")
        return value.split("\\") if value else []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]
