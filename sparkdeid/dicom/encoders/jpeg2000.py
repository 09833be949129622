"""JPEG 2000 lossless and lossy (ISO/IEC 15444-1) with openjpeg through pydicom."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.uid import JPEG2000Lossless

from sparkdeid.dicom.encoders.base import CannotEncode, container

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo

# Upper bound of the compression ratio used when re-encoding lossy frames.
MAX_RATIO = 10.0


def encode(frame: np.ndarray, original: bytes, info: PixelInfo) -> tuple[bytes, bool]:
    from pydicom.pixels.encoders import JPEG2000Encoder, JPEG2000LosslessEncoder
    from pydicom.pixels.utils import get_j2k_parameters

    precision = int(get_j2k_parameters(original).get("precision", info.bits_stored))
    # openjpeg here writes 6 resolution levels (frames need >= 32 px a side), <= 24 bits.
    if not 1 <= precision <= 24 or min(info.rows, info.columns) < 32:
        raise CannotEncode("openjpeg needs 1-24 bits and frames of at least 32 pixels a side")
    options: dict[str, Any] = {
        "rows": info.rows,
        "columns": info.columns,
        "samples_per_pixel": info.samples_per_pixel,
        "bits_allocated": info.bits_allocated,
        "bits_stored": precision,
        "pixel_representation": info.pixel_representation,
        "photometric_interpretation": info.photometric,  # YBR_RCT/ICT switch MCT on
        "planar_configuration": 0,
        "number_of_frames": 1,
    }
    data = np.ascontiguousarray(frame.astype(container(precision, info.is_signed)))
    if info.uid == JPEG2000Lossless:
        return bytes(JPEG2000LosslessEncoder.encode(data, validate=False, **options)), False
    # Half the original frame's compression ratio, at most MAX_RATIO: a
    # second lossy generation should cost less than the first did.
    raw_size = info.rows * info.columns * info.samples_per_pixel * math.ceil(precision / 8)
    ratio = min(MAX_RATIO, max(1.0, raw_size / max(1, len(original)) / 2))
    encoded = JPEG2000Encoder.encode(data, validate=False, j2k_cr=[ratio], **options)
    return bytes(encoded), True
