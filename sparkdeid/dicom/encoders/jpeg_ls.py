"""JPEG-LS lossless and near-lossless (ITU T.87) with CharLS (the pyjpegls package)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydicom.uid import JPEGLSNearLossless

from sparkdeid.dicom.codestream import read_jpeg_header
from sparkdeid.dicom.encoders.base import CannotEncode, unsigned_pattern

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo


def encode(frame: np.ndarray, original: bytes, info: PixelInfo) -> tuple[bytes, bool]:
    """Precision, NEAR and interleave mode as the original frame had them."""
    import jpeg_ls

    header = read_jpeg_header(original, "JPEG-LS")
    precision = header.precision or info.bits_stored
    if not 2 <= precision <= 16:
        raise CannotEncode("JPEG-LS precision outside 2-16 bits")
    near = header.scan_start if info.uid == JPEGLSNearLossless else 0
    interleave = header.scan_end if header.scan_end in (0, 1, 2) else 2
    data = unsigned_pattern(frame, precision)
    if info.samples_per_pixel > 1 and interleave == 0:
        data = data.transpose(2, 0, 1)  # CharLS takes planes for ILV 0, pixels otherwise
    encoded = jpeg_ls.encode_buffer(
        np.ascontiguousarray(data).tobytes(),
        info.rows,
        info.columns,
        info.samples_per_pixel,
        precision,
        lossy_error=near,
        interleave_mode=interleave if info.samples_per_pixel > 1 else 0,
    )
    return bytes(encoded), near > 0
