"""RLE Lossless (PS3.5 Annex G) with pydicom's own encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sparkdeid.dicom.encoders.base import CannotEncode, container

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo


def encode(frame: np.ndarray, original: bytes, info: PixelInfo) -> tuple[bytes, bool]:
    from pydicom.pixels.encoders import RLELosslessEncoder

    if info.bits_allocated % 8 or info.samples_per_pixel * info.bits_allocated // 8 > 15:
        raise CannotEncode("RLE allows at most 15 byte segments")
    # Bits Stored is given as Bits Allocated so each sample keeps its full
    # container: the RLE segment count follows Bits Allocated.
    data = np.ascontiguousarray(frame.astype(container(info.bits_allocated, info.is_signed)))
    encoded = RLELosslessEncoder.encode(
        data,
        validate=False,
        rows=info.rows,
        columns=info.columns,
        samples_per_pixel=info.samples_per_pixel,
        bits_allocated=info.bits_allocated,
        bits_stored=info.bits_allocated,
        pixel_representation=info.pixel_representation,
        photometric_interpretation=info.decoded_photometric,
        planar_configuration=0,
        number_of_frames=1,
    )
    return bytes(encoded), False
