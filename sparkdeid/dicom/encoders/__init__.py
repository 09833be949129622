"""Frame encoders as a registry keyed by transfer syntax (after pydicom's encoder plugins).

Each codec family is one module with an ``encode`` function (see
:mod:`~sparkdeid.dicom.encoders.base` for its signature); the registry maps
a transfer syntax to that function's import path, the Lossy Image
Compression Method its lossy output is recorded with, and the packages it
needs. Adding a codec is one module and one entry here.

:func:`encoder_for` resolves a syntax: one without an encoder raises
:class:`~sparkdeid.dicom.encoders.base.CannotEncode`, one whose package is
missing raises :class:`~sparkdeid.errors.BackendUnavailableError` naming the
pip package. Modules are imported only when their syntax is asked for.
Native (uncompressed) Pixel Data needs no encoder: its masked pixels are
painted into the stored bytes in place.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from sparkdeid.dicom.encoders.base import CannotEncode, Encoder
from sparkdeid.errors import BackendUnavailableError

if TYPE_CHECKING:
    from sparkdeid.dicom.frames import PixelInfo

__all__ = [
    "ENCODERS",
    "CannotEncode",
    "Encoder",
    "EncoderSpec",
    "encoder_for",
    "has_module",
    "require",
]


@dataclass(frozen=True)
class EncoderSpec:
    """How to load the encoder of some transfer syntaxes.

    ``target`` is ``"module:function"``; ``modules`` are the import names that
    must be present (packages every install has, pydicom and Pillow, are not
    listed); ``method`` is the Lossy Image Compression Method of a lossy result.
    """

    target: str
    method: str
    modules: tuple[str, ...] = ()


#: Import name -> what ``pip install`` takes, for the error message.
PIP_PACKAGES = {
    "jpeg_ls": "pyjpegls",
    "openjpeg": "pylibjpeg-openjpeg",
    "imagecodecs": "imagecodecs",
}

_PACKAGE = __name__
_RLE = EncoderSpec(f"{_PACKAGE}.rle:encode", "")
_JPEG_LS = EncoderSpec(f"{_PACKAGE}.jpeg_ls:encode", "ISO_14495_1", ("jpeg_ls",))
_JPEG_2000 = EncoderSpec(f"{_PACKAGE}.jpeg2000:encode", "ISO_15444_1", ("openjpeg",))
# 8-bit with Pillow; 12-bit needs imagecodecs, checked when such a frame comes.
_JPEG = EncoderSpec(f"{_PACKAGE}.jpeg:encode", "ISO_10918_1")
_JPEG_LOSSLESS = EncoderSpec(f"{_PACKAGE}.jpeg_lossless:encode", "", ("imagecodecs",))

ENCODERS: dict[str, EncoderSpec] = {
    RLELossless: _RLE,
    JPEGLSLossless: _JPEG_LS,
    JPEGLSNearLossless: _JPEG_LS,
    JPEG2000Lossless: _JPEG_2000,
    JPEG2000: _JPEG_2000,
    JPEGBaseline8Bit: _JPEG,
    JPEGExtended12Bit: _JPEG,
    JPEGLossless: _JPEG_LOSSLESS,
    JPEGLosslessSV1: _JPEG_LOSSLESS,
}


def has_module(module: str) -> bool:
    """Whether an optional codec package is importable (tests patch this)."""
    return importlib.util.find_spec(module) is not None


def require(module: str) -> None:
    """Raise :class:`BackendUnavailableError` naming the pip package unless ``module`` imports."""
    if not has_module(module):
        package = PIP_PACKAGES.get(module, module)
        raise BackendUnavailableError(
            f"the {module} package is not installed: pip install {package}"
        )


def encoder_for(info: PixelInfo) -> Encoder:
    """The re-encoder of ``info``'s transfer syntax.

    Raises
    ------
    CannotEncode
        No encoder for this transfer syntax.
    BackendUnavailableError
        The encoder's package is not installed.
    """
    spec = ENCODERS.get(str(info.transfer_syntax))
    if spec is None:
        raise CannotEncode("no encoder for this transfer syntax")
    for module in spec.modules:
        require(module)
    module_name, function = spec.target.split(":")
    return Encoder(spec.method, getattr(importlib.import_module(module_name), function))
