"""deidentify_large_file: the same pixels as mask_pixels, streamed frame by frame."""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate_extended, parse_basic_offsets
from pydicom.pixels import pixel_array

from sparkdeid.boxes import Box
from sparkdeid.dicom import frames
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.dicom.large_file import LargeFileResult, deidentify_large_file, per_frame
from sparkdeid.dicom.pixel_writer import mask_pixels
from sparkdeid.errors import DicomDecodeError, DicomEncodeError
from tests.unit.test_frame_source import bundled, rewrap, rle_frames, synthetic

NOTHING = per_frame(lambda i, r: [])  # no PHI on any frame


def _box(info: frames.PixelInfo) -> Box:
    """A box over the middle of the frame, with fractional edges."""
    w, h = info.columns, info.rows
    return Box(0.2 * w + 0.4, 0.25 * h, 0.65 * w + 0.2, 0.6 * h + 0.5)


def _info(content: bytes) -> frames.PixelInfo:
    info = frames.pixel_info(read_dataset(content))
    assert info is not None
    return info


def _regions(info: frames.PixelInfo) -> dict[int, list[Box]]:
    """Boxes on every other frame (frame 0 included)."""
    return {i: [_box(info)] for i in range(0, info.num_frames, 2)}


def _finder(regions: dict[int, list[Box]]):  # -> RegionFinder
    def find(index: int, rendered: RenderedFrame) -> Sequence[Box]:
        assert rendered.image.dtype == np.uint8
        return regions.get(index, [])

    return find


def _pixels(content: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(pydicom.dcmread(io.BytesIO(content)))


def _encoded_frames(content: bytes) -> list[bytes]:
    ds = read_dataset(content)
    info = frames.pixel_info(ds)
    assert info is not None
    if info.is_encapsulated:
        return [frames.encoded_frame(ds, info, i) for i in range(info.num_frames)]
    size = info.rows * info.columns * info.samples_per_pixel * info.bits_allocated // 8
    return [bytes(ds.PixelData[i * size : (i + 1) * size]) for i in range(info.num_frames)]


def _no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".sparkdeid-")]


CASES = {
    "native": lambda: Path(bundled("emri_small.dcm")).read_bytes(),
    "native_rgb": lambda: Path(bundled("SC_rgb_2frame.dcm")).read_bytes(),
    "implicit_vr": lambda: Path(bundled("rtdose.dcm")).read_bytes(),
    "rle": lambda: Path(bundled("emri_small_RLE.dcm")).read_bytes(),
    "rle_rgb": lambda: Path(bundled("SC_rgb_rle_2frame.dcm")).read_bytes(),
    "jpeg_2000_lossless": lambda: Path(bundled("emri_small_jpeg_2k_lossless.dcm")).read_bytes(),
    "jpeg_ls_lossless": lambda: Path(bundled("emri_small_jpeg_ls_lossless.dcm")).read_bytes(),
    "one_bit": lambda: Path(bundled("liver.dcm")).read_bytes(),
    "jpeg_baseline_lossy": lambda: Path(bundled("examples_ybr_color.dcm")).read_bytes(),
}


# --------------------------------------------------------------------------
# Same result as the whole-file path


@pytest.mark.parametrize("case", sorted(CASES))
def test_pixels_equal_mask_pixels_and_unmasked_frames_are_untouched(
    case: str, tmp_path: Path
) -> None:
    content = CASES[case]()
    info = _info(content)
    regions = _regions(info)
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)

    result = deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)))

    output = dst.read_bytes()
    reference = mask_pixels(content, regions)
    np.testing.assert_array_equal(_pixels(output), _pixels(reference.content))
    assert result == LargeFileResult(
        frames=info.num_frames,
        frames_masked=len(reference.frames_changed),
        bytes_in=len(content),
        bytes_out=len(output),
        encoding=reference.encoding,
    )
    if info.bits_allocated != 1:
        before, after = _encoded_frames(content), _encoded_frames(output)
        for index in range(info.num_frames):
            if index not in reference.frames_changed:
                assert after[index] == before[index]
    assert pydicom.dcmread(io.BytesIO(output)).file_meta.TransferSyntaxUID == info.uid
    assert _no_temporaries(tmp_path)


def test_one_bit_frames_sharing_bytes_are_masked_bit_by_bit(tmp_path: Path) -> None:
    # 63 bits a frame: frames start mid-byte. mask_pixels cannot decode every
    # frame of such a file (pydicom's per-frame index), so the answer is built here.
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 2, size=(4, 9, 7), dtype=np.uint8)
    content = synthetic(arr, bits_allocated=1)
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    box = Box(1.5, 2.0, 5.0, 6.5)  # pixels x 1..5, y 2..7
    odd_frames = per_frame(lambda i, r: [box] if i % 2 else [])
    result = deidentify_large_file(src, dst, frame_boxes=odd_frames)
    expected = arr.copy()
    expected[1::2, 2:7, 1:5] = 0
    np.testing.assert_array_equal(_pixels(dst.read_bytes()), expected)
    assert result.frames_masked == 2 and result.encoding == "native"
    assert len(pydicom.dcmread(dst).PixelData) == len(pydicom.dcmread(src).PixelData)


def test_background_fill_matches_mask_pixels(tmp_path: Path) -> None:
    content = Path(bundled("emri_small_RLE.dcm")).read_bytes()
    regions = _regions(_info(content))
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)), fill="background")
    reference = mask_pixels(content, regions, fill="background")
    np.testing.assert_array_equal(_pixels(dst.read_bytes()), _pixels(reference.content))


def test_no_regions_keeps_every_frame(tmp_path: Path) -> None:
    content = Path(bundled("emri_small_jpeg_ls_lossless.dcm")).read_bytes()
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    result = deidentify_large_file(src, dst, frame_boxes=NOTHING)
    assert result.encoding == "unchanged" and result.frames_masked == 0
    assert _encoded_frames(dst.read_bytes()) == _encoded_frames(content)


def test_render_width_is_handed_to_frame_boxes(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(Path(bundled("emri_small.dcm")).read_bytes())
    widths: list[tuple[int, float]] = []

    def find(index: int, rendered: RenderedFrame) -> list[Box]:
        widths.append((rendered.image.shape[1], rendered.scale))
        return []

    deidentify_large_file(src, dst, frame_boxes=per_frame(find), render_width=32)
    assert widths == [(32, 0.5)] * 10


# --------------------------------------------------------------------------
# Header, trailing elements, offset tables, lossy marks


def test_header_transform_is_applied_and_sees_the_trailing_elements(tmp_path: Path) -> None:
    extra = Dataset()
    extra.add_new(0x7FE10010, "LO", "SYNTHETIC CREATOR")
    extra.add_new(0x7FE11001, "LO", "kept after pixels")
    extra.add_new(0x7FE11002, "LO", "removed by the transform")
    extra.add_new(0xFFFCFFFC, "OB", b"\0" * 16)
    arr = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(synthetic(arr, extra=extra))
    seen: list[int] = []

    def transform(ds: Dataset) -> None:
        seen.extend(int(t) for t in ds.keys())
        ds.PatientName = ""
        del ds[0x7FE11002]

    deidentify_large_file(src, dst, frame_boxes=NOTHING, header_transform=transform)
    out = pydicom.dcmread(dst)
    assert out.PatientName == ""
    assert 0x7FE11002 in seen and 0x7FE00010 not in seen
    assert out[0x7FE11001].value == "kept after pixels"
    assert 0x7FE11002 not in out and 0xFFFCFFFC not in out
    np.testing.assert_array_equal(out.pixel_array, arr)
    assert out.file_meta.FileMetaInformationGroupLength == len(
        _meta_bytes(dst.read_bytes())
    )


def _meta_bytes(content: bytes) -> bytes:
    """File meta elements after the group length element (explicit VR little endian)."""
    position = 132 + 12  # DICM prefix, then (0002,0000) UL 4
    start = position
    while content[position : position + 2] == b"\x02\x00":
        vr = content[position + 4 : position + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            length = struct.unpack("<I", content[position + 8 : position + 12])[0]
            position += 12 + length
        else:
            length = struct.unpack("<H", content[position + 6 : position + 8])[0]
            position += 8 + length
    return content[start:position]


def test_a_transform_that_changes_the_pixel_module_is_refused(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(Path(bundled("emri_small.dcm")).read_bytes())

    def transform(ds: Dataset) -> None:
        ds.Rows = 32

    with pytest.raises(DicomEncodeError, match="Image Pixel"):
        deidentify_large_file(src, dst, frame_boxes=NOTHING, header_transform=transform)
    assert not dst.exists() and _no_temporaries(tmp_path)


def test_basic_offset_table_is_rewritten(tmp_path: Path) -> None:
    content = Path(bundled("emri_small_RLE.dcm")).read_bytes()
    regions = _regions(_info(content))
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)))
    pixel_data = pydicom.dcmread(dst).PixelData
    offsets = parse_basic_offsets(io.BytesIO(pixel_data))
    assert len(offsets) == 10
    first_item = 8 + 4 * len(offsets)
    for offset in offsets:
        assert pixel_data[first_item + offset : first_item + offset + 4] == b"\xfe\xff\x00\xe0"
    assert _encoded_frames(dst.read_bytes()) == _encoded_frames(
        mask_pixels(content, regions).content
    )


def test_extended_offset_table_is_rewritten(tmp_path: Path) -> None:
    ds, encoded = rle_frames()
    pixel_data, offsets, lengths = encapsulate_extended(encoded)
    content = rewrap(ds, pixel_data, ExtendedOffsetTable=offsets,
                     ExtendedOffsetTableLengths=lengths)
    regions = _regions(_info(content))
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)))
    out = pydicom.dcmread(dst)
    table = struct.unpack("<10Q", out.ExtendedOffsetTable)
    sizes = struct.unpack("<10Q", out.ExtendedOffsetTableLengths)
    expected = _encoded_frames(mask_pixels(content, regions).content)
    assert _encoded_frames(dst.read_bytes()) == expected  # read through the new table
    assert list(sizes) == [len(frame) for frame in expected]
    assert table[0] == 0 and list(table) == sorted(table)


def test_lossy_reencoding_records_lossy_compression(tmp_path: Path) -> None:
    content = Path(bundled("examples_ybr_color.dcm")).read_bytes()
    regions = {3: [_box(_info(content))]}
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    result = deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)))
    out, reference = pydicom.dcmread(dst), read_dataset(mask_pixels(content, regions).content)
    assert result.encoding == "lossy"
    assert out.LossyImageCompression == "01"
    assert list(out.LossyImageCompressionRatio) == list(reference.LossyImageCompressionRatio)
    assert list(out.LossyImageCompressionMethod) == list(reference.LossyImageCompressionMethod)
    assert _no_temporaries(tmp_path)


# --------------------------------------------------------------------------
# Failures leave nothing behind


def test_truncated_input_fails_without_output(tmp_path: Path) -> None:
    content = Path(bundled("emri_small_RLE.dcm")).read_bytes()
    for cut in (len(content) - 5, len(content) // 2):
        src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
        src.write_bytes(content[:cut])
        with pytest.raises(DicomDecodeError, match="truncated"):
            deidentify_large_file(src, dst, frame_boxes=NOTHING)
        assert not dst.exists()
        assert _no_temporaries(tmp_path)


def test_failure_mid_file_keeps_the_old_destination(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(Path(bundled("emri_small.dcm")).read_bytes())
    dst.write_bytes(b"previous output")

    def find(index: int, rendered: RenderedFrame) -> list[Box]:
        if index == 6:
            raise RuntimeError("OCR failed")
        return []

    with pytest.raises(RuntimeError):
        deidentify_large_file(src, dst, frame_boxes=per_frame(find))
    assert dst.read_bytes() == b"previous output"
    assert _no_temporaries(tmp_path)


def test_unknown_fill_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fill"):
        deidentify_large_file(tmp_path / "a", tmp_path / "b", frame_boxes=NOTHING, fill="white")


# --------------------------------------------------------------------------
# Memory


def test_memory_stays_a_few_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 4096, size=(160, 128, 128), dtype=np.uint16)  # 5 MiB, 32 KiB/frame
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(synthetic(arr))
    box = [Box(10, 10, 60, 30)]
    tracemalloc.start()
    try:
        deidentify_large_file(src, dst, frame_boxes=per_frame(lambda i, r: box))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < src.stat().st_size / 4
    masked = pydicom.dcmread(dst).pixel_array
    assert (masked[:, 10:30, 10:60] == masked.min()).all()


def test_several_fragments_per_frame_are_split_and_kept_alike_on_both_routes(
    tmp_path: Path,
) -> None:
    """One splitter (dicom/encapsulation.py): both writers keep unmasked frames' fragments."""
    from tests.unit.test_frame_source import encapsulate

    ds, encoded = rle_frames()
    content = rewrap(ds, encapsulate(encoded, fragments_per_frame=3, has_bot=True))
    info = _info(content)
    source_ds = read_dataset(content)
    stored = frames.frame_fragments(source_ds, info)
    assert len(stored) == 30 and all(len(stored.of_frame(i)) == 3 for i in range(10))
    assert [frames.encoded_frame(source_ds, info, i) for i in range(10)] == encoded
    regions = _regions(info)
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(content)
    deidentify_large_file(src, dst, frame_boxes=per_frame(_finder(regions)))
    in_memory = pydicom.dcmread(io.BytesIO(mask_pixels(content, regions).content)).PixelData
    streamed = pydicom.dcmread(dst).PixelData
    assert streamed == in_memory
    out = read_dataset(dst.read_bytes())
    written = frames.frame_fragments(out, info)
    for index in range(10):  # masked frames become one item; the others keep their three
        assert len(written.of_frame(index)) == (1 if index in regions else 3)
        if index not in regions:
            assert frames.encoded_frame(out, info, index) == encoded[index]
