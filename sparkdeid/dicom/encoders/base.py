"""What every frame encoder shares: its signature, its refusal, sample containers.

An encoder takes one decoded frame (stored values, in the colour space
:attr:`~sparkdeid.dicom.frames.PixelInfo.decoded_photometric` names), the
frame's original codestream (to copy its parameters: precision, sampling,
predictor, NEAR) and the file's Image Pixel values, and returns the new
codestream, unpadded, and whether it is lossy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo

EncodeFunction = Callable[[np.ndarray, bytes, "PixelInfo"], tuple[bytes, bool]]

#: Photometric interpretations whose pixels decode (and are re-encoded) as full YCbCr.
YBR = ("YBR_FULL", "YBR_FULL_422")


class CannotEncode(Exception):
    """No encoder here for this syntax or frame, or the encoder failed.

    The message is a short reason without any value from the file.
    """


@dataclass(frozen=True)
class Encoder:
    """A resolved encoder: the function and the Lossy Image Compression Method it writes."""

    method: str  # Lossy Image Compression Method (0028,2114) when the result is lossy
    encode: EncodeFunction


def container(bits: int, signed: bool) -> np.dtype:
    """The little endian integer dtype that holds ``bits``-bit samples."""
    size = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    return np.dtype(f"<{'i' if signed else 'u'}{size}")


def unsigned_pattern(frame: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement bit patterns of ``bits`` bits (codecs that ignore sign)."""
    return (frame.astype(np.int64) & ((1 << bits) - 1)).astype(container(bits, False))
