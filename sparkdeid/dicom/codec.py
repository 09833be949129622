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

import pydicom
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

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
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            ds = pydicom.dcmread(
                io.BytesIO(data), stop_before_pixels=stop_before_pixels, force=True
            )
        _parse_sequences(ds)
    except DicomDecodeError:
        raise
    except (EOFError, struct.error) as exc:
        raise DicomDecodeError(f"truncated or malformed DICOM ({type(exc).__name__})") from None
    except Exception as exc:  # pydicom raises many types for bad input
        raise DicomDecodeError(f"unreadable DICOM ({type(exc).__name__})") from None
    if len(ds) == 0:
        raise DicomDecodeError("DICOM file holds no data elements")
    if not any(int(tag) in DicomDictionary for tag in ds.keys()):
        # Bytes after a valid header that parse as one unknown element are not a dataset.
        raise DicomDecodeError("not a DICOM dataset: no standard data element found")
    return ds


def _parse_sequences(ds: Dataset) -> None:
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
            raise DicomDecodeError("truncated DICOM: a value is shorter than its declared length")
        if element_vr(ds, int(tag)) == "SQ":
            for item in ds[tag].value or []:
                _parse_sequences(item)


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
