"""JPEG lossless, processes 14 and 14 SV1 (ITU T.81 Annex H), with imagecodecs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.uid import JPEGLosslessSV1

from sparkdeid.dicom.codestream import read_jpeg_header
from sparkdeid.dicom.encoders.base import YBR, CannotEncode, unsigned_pattern

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo


def encode(frame: np.ndarray, original: bytes, info: PixelInfo) -> tuple[bytes, bool]:
    """The original frame's precision and predictor; no point transform."""
    import imagecodecs

    header = read_jpeg_header(original)
    precision = header.precision or info.bits_stored
    predictor = 1 if info.uid == JPEGLosslessSV1 else header.scan_start
    if not 2 <= precision <= 16 or not 1 <= predictor <= 7 or header.point_transform:
        raise CannotEncode("JPEG lossless parameters the encoder does not support")
    data = np.ascontiguousarray(unsigned_pattern(frame, precision))
    options: dict[str, Any] = {
        "lossless": True,
        "predictor": predictor,
        "bitspersample": precision,
    }
    if info.samples_per_pixel == 3:
        space = "YCbCr" if info.decoded_photometric in YBR else "RGB"
        options.update(colorspace=space, outcolorspace=space)
    elif info.samples_per_pixel != 1:
        raise CannotEncode("JPEG lossless with neither 1 nor 3 samples per pixel")
    return bytes(imagecodecs.jpeg8_encode(data, **options)), False
