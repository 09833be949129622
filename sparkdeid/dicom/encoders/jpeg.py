"""JPEG baseline (8-bit, Pillow) and extended (12-bit greyscale, imagecodecs), ITU T.81."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from sparkdeid.dicom.codestream import read_jpeg_header
from sparkdeid.dicom.encoders import require
from sparkdeid.dicom.encoders.base import YBR, CannotEncode, unsigned_pattern

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo

# Quality of the re-encoding (libjpeg scale, 1-100).
QUALITY = 95


def encode(frame: np.ndarray, original: bytes, info: PixelInfo) -> tuple[bytes, bool]:
    """8-bit JPEG with Pillow; 12-bit (JPEG Extended) with imagecodecs when installed."""
    header = read_jpeg_header(original)
    precision = header.precision or info.bits_stored
    if precision > 8:
        return _encode_12_bit(frame, info, precision)
    from PIL import Image

    data = np.ascontiguousarray(np.clip(frame, 0, 255).astype(np.uint8))
    size = (info.columns, info.rows)
    options: dict[str, Any] = {"quality": QUALITY}
    if info.samples_per_pixel == 1:
        image = Image.frombytes("L", size, data.tobytes())
    elif info.samples_per_pixel == 3 and info.decoded_photometric in YBR:
        # Pixels stay YCbCr (no colour conversion); chroma sampling as before.
        image = Image.frombytes("YCbCr", size, data.tobytes())
        options["subsampling"] = _pillow_subsampling(header.sampling)
    elif info.samples_per_pixel == 3 and info.decoded_photometric == "RGB":
        image = Image.frombytes("RGB", size, data.tobytes())
        options.update(subsampling=0, keep_rgb=True)  # Adobe marker, no YCbCr transform
    else:
        raise CannotEncode("JPEG baseline colour that is neither RGB nor YCbCr")
    out = io.BytesIO()
    image.save(out, format="JPEG", **options)
    return out.getvalue(), True


def _pillow_subsampling(sampling: tuple[tuple[int, int], ...]) -> int:
    """Pillow's code for the luminance sampling factors: 4:4:4, 4:2:2 or 4:2:0."""
    if not sampling:
        return 0
    return {(1, 1): 0, (2, 1): 1, (2, 2): 2}.get(sampling[0], 0)


def _encode_12_bit(frame: np.ndarray, info: PixelInfo, precision: int) -> tuple[bytes, bool]:
    require("imagecodecs")
    import imagecodecs

    if precision != 12 or info.samples_per_pixel != 1:
        raise CannotEncode("JPEG extended other than 12-bit greyscale")
    data = np.ascontiguousarray(unsigned_pattern(frame, 12))
    encoded = imagecodecs.jpeg8_encode(data, level=QUALITY, bitspersample=12)
    return bytes(encoded), True
