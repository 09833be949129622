"""Overlay planes: parsing, bit unpacking, frame and origin mapping, OCR, clearing, removal.

Real bits come from pydicom's bundled Siemens MR file with a 484 x 484
graphics overlay (pydicom's own ``overlay_array`` is the reference there);
synthetic overlays from :mod:`tests.overlay_factory` carry invented PHI
(``ZELDA QUORNBY``, ``03/14/1961``) and a non-PHI word (``LEFT``) at known
boxes, in little and big endian, as OW and OB, single- and multi-frame, with
a shifted origin and with an odd number of bits. The OCR tests run the real
rapidocr engine on :func:`render_overlay` output.
"""

from __future__ import annotations

import difflib
import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from sparkdeid.boxes import Box
from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.dicom.overlays import (
    INK,
    PAPER,
    OverlayPlane,
    clear_overlay_regions,
    image_box_to_overlay,
    overlay_bits,
    overlay_box_to_image,
    overlay_frame_indices,
    overlay_planes,
    remove_embedded_overlay_bits,
    remove_overlay,
    render_overlay,
)
from sparkdeid.errors import DicomDecodeError, DicomEncodeError
from sparkdeid.ocr.base import OcrEngine, OcrLine
from tests.overlay_factory import (
    BIRTH_DATE,
    NAME,
    SAFE_WORD,
    OverlayCase,
    encode,
    overlay_case,
    text_mask,
)

SIEMENS = "MR-SIEMENS-DICOM-WithOverlays.dcm"
BIT_CASES = ("basic", "offset", "multiframe", "odd")
SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)
PHI_TEXTS = (NAME, BIRTH_DATE)


def siemens() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file(SIEMENS))


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    """``ds`` written by the project's codec and parsed again, as the pipeline would."""
    return read_dataset(write_dataset(ds))


def all_bits(ds: pydicom.Dataset, plane: OverlayPlane) -> np.ndarray:
    return np.stack([overlay_bits(ds, plane, k) for k in range(plane.number_of_frames)])


def inside(plane: OverlayPlane, boxes: dict[int, list[Box]]) -> np.ndarray:
    """Where the boxes (rounded outwards, clipped) fall, per overlay frame."""
    mask = np.zeros((plane.number_of_frames, plane.rows, plane.columns), dtype=bool)
    for frame, frame_boxes in boxes.items():
        for box in frame_boxes:
            x0, y0, x1, y1 = box.clipped(plane.columns, plane.rows).pixel_bounds()
            mask[frame, y0:y1, x0:x1] = True
    return mask


# --- the real Siemens file ------------------------------------------------------------------


def test_siemens_plane_is_found_without_text_values():
    planes = overlay_planes(siemens())
    assert planes == [
        OverlayPlane(
            group=0x6000,
            rows=484,
            columns=484,
            origin=(1, 1),
            number_of_frames=1,
            image_frame_origin=1,
            type="G",
            has_label=False,
            has_description=True,
        )
    ]
    assert "Siemens" not in repr(planes[0])  # the description text is never kept


def test_siemens_bits_match_pydicom():
    ds = siemens()
    (plane,) = overlay_planes(ds)
    bits = overlay_bits(ds, plane)
    assert bits.dtype == bool and bits.shape == (484, 484)
    assert np.array_equal(bits, ds.overlay_array(0x6000).astype(bool))
    assert bits.sum() == 323


def test_siemens_clearing_a_box_zeroes_exactly_its_bits_and_rewrites():
    ds = siemens()
    (plane,) = overlay_planes(ds)
    before = overlay_bits(ds, plane)
    element = ds[plane.data_tag]
    vr, length = element.VR, len(element.value)
    # Fractional edges: every pixel the box touches goes (columns 55-90, rows 229-299),
    # cutting through the middle of one of the overlay's three graphics.
    box = Box(55.4, 229.7, 90.2, 299.5)
    x0, y0, x1, y1 = box.pixel_bounds()
    assert (x0, y0, x1, y1) == (55, 229, 91, 300)
    expected = before.copy()
    expected[y0:y1, x0:x1] = False
    assert before[y0:y1, x0:x1].any() and before[220:280, 40:55].any()

    cleared = clear_overlay_regions(ds, plane, {0: [box]})

    assert cleared == int(before[y0:y1, x0:x1].sum())
    assert np.array_equal(overlay_bits(ds, plane), expected)
    assert ds[plane.data_tag].VR == vr and len(ds[plane.data_tag].value) == length
    again = pydicom.dcmread(io.BytesIO(write_dataset(ds)))
    assert np.array_equal(again.overlay_array(0x6000).astype(bool), expected)
    assert again.PixelData == siemens().PixelData


def test_siemens_origin_maps_overlay_pixels_onto_image_pixels():
    ds = siemens()
    (plane,) = overlay_planes(ds)
    box = Box(10.0, 20.0, 30.5, 40.0)
    assert overlay_box_to_image(plane, box) == box  # origin 1\1: the same pixels
    ds[0x60000050].value = [11, -4]  # 10 rows down, 5 columns left of the image
    (moved,) = overlay_planes(ds)
    assert moved.origin == (11, -4)
    assert overlay_box_to_image(moved, box) == Box(5.0, 30.0, 25.5, 50.0)
    assert image_box_to_overlay(moved, overlay_box_to_image(moved, box)) == box


# --- synthetic overlays: unpacking in every encoding ----------------------------------------


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda uid: uid.name)
@pytest.mark.parametrize("vr", ["OW", "OB"])
@pytest.mark.parametrize("name", BIT_CASES)
def test_bits_unpack_to_what_was_drawn(name: str, syntax, vr: str):
    case = overlay_case(name, syntax, vr=vr)
    planes = overlay_planes(case.ds)
    assert {p.group for p in planes} == set(case.bits)
    for plane in planes:
        assert np.array_equal(all_bits(case.ds, plane), case.bits[plane.group])


def test_planes_describe_each_case():
    basic = overlay_planes(overlay_case("basic").ds)
    assert [(p.group, p.type, p.has_label) for p in basic] == [
        (0x6000, "G", False),
        (0x6002, "R", True),
    ]
    (offset,) = overlay_planes(overlay_case("offset").ds)
    assert (offset.rows, offset.columns, offset.origin) == (120, 200, (101, 41))
    (multi,) = overlay_planes(overlay_case("multiframe").ds)
    assert (multi.number_of_frames, multi.image_frame_origin) == (3, 1)
    assert multi.bits_per_frame % 8 != 0  # frames 1 and 2 start inside a byte
    (embedded,) = overlay_planes(overlay_case("embedded").ds)
    assert embedded.embedded and (embedded.bits_allocated, embedded.bit_position) == (16, 13)


def test_big_endian_ow_is_read_as_16_bit_words():
    case = overlay_case("basic", ExplicitVRBigEndian, vr="OW")
    plane = overlay_planes(case.ds)[0]
    raw = case.ds[plane.data_tag].value
    naive = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[: plane.total_bits]
    assert not np.array_equal(naive.reshape(256, 256).astype(bool), case.bits[0x6000][0])
    assert np.array_equal(overlay_bits(case.ds, plane), case.bits[0x6000][0])


def test_odd_bit_count_keeps_even_padded_length():
    case = overlay_case("odd")
    (plane,) = overlay_planes(case.ds)
    assert plane.total_bits == 64515 and -(-plane.total_bits // 8) == 8065
    assert len(case.ds[plane.data_tag].value) == 8066
    clear_overlay_regions(case.ds, plane, case.boxes())
    data = case.ds[plane.data_tag].value
    assert len(data) == 8066
    tail = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[plane.total_bits :]
    assert not tail.any()


def test_unpadded_odd_overlay_data_is_read_and_padded_when_written():
    case = overlay_case("odd")
    (plane,) = overlay_planes(case.ds)
    case.ds[plane.data_tag].value = case.ds[plane.data_tag].value[:8065]
    assert np.array_equal(overlay_bits(case.ds, plane), case.bits[0x6000][0])
    clear_overlay_regions(case.ds, plane, {})
    assert len(case.ds[plane.data_tag].value) == 8066
    assert np.array_equal(overlay_bits(case.ds, plane), case.bits[0x6000][0])


# --- clearing ------------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda uid: uid.name)
@pytest.mark.parametrize("name", BIT_CASES)
def test_clearing_phi_boxes_keeps_every_other_bit(name: str, syntax):
    case = overlay_case(name, syntax)
    plane = overlay_planes(case.ds)[0]
    before = case.bits[plane.group]
    length = len(case.ds[plane.data_tag].value)
    boxes = case.boxes(phi=True)
    covered = inside(plane, boxes)

    cleared = clear_overlay_regions(case.ds, plane, boxes)

    after = all_bits(case.ds, plane)
    assert cleared == int((before & covered).sum()) > 0
    assert not after[covered].any()
    assert np.array_equal(after[~covered], before[~covered])
    assert len(case.ds[plane.data_tag].value) == length
    again = read_dataset(encode(case.ds))
    assert np.array_equal(all_bits(again, overlay_planes(again)[0]), after)


def test_clearing_one_frame_leaves_neighbouring_frames_bits():
    case = overlay_case("multiframe")
    (plane,) = overlay_planes(case.ds)
    whole_frame = Box(0, 0, plane.columns, plane.rows)
    cleared = clear_overlay_regions(case.ds, plane, {1: [whole_frame]})
    after = all_bits(case.ds, plane)
    assert cleared == int(case.bits[0x6000][1].sum())
    assert not after[1].any()
    assert np.array_equal(after[0], case.bits[0x6000][0])
    assert np.array_equal(after[2], case.bits[0x6000][2])


def test_clearing_ignores_outside_and_empty_boxes_and_rejects_unknown_frames():
    case = overlay_case("basic")
    plane = overlay_planes(case.ds)[0]
    original = bytes(case.ds[plane.data_tag].value)
    outside = [Box(-50, -50, -1, -1), Box(300, 10, 400, 20), Box(40, 40, 40, 80)]
    assert clear_overlay_regions(case.ds, plane, {0: outside}) == 0
    assert case.ds[plane.data_tag].value == original
    with pytest.raises(IndexError):
        clear_overlay_regions(case.ds, plane, {1: [Box(0, 0, 5, 5)]})


def test_clearing_an_embedded_overlay_is_refused():
    case = overlay_case("embedded")
    (plane,) = overlay_planes(case.ds)
    with pytest.raises(DicomEncodeError, match="remove_embedded_overlay_bits"):
        clear_overlay_regions(case.ds, plane, case.boxes())


# --- removal -------------------------------------------------------------------------------


def test_remove_overlay_deletes_the_whole_group_only():
    case = overlay_case("basic")
    first, second = overlay_planes(case.ds)
    remove_overlay(case.ds, second)
    assert not [t for t in case.ds.keys() if t.group == 0x6002]
    again = reread(case.ds)
    assert [p.group for p in overlay_planes(again)] == [0x6000]
    assert np.array_equal(overlay_bits(again, first), case.bits[0x6000][0])


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian], ids=lambda uid: uid.name
)
def test_embedded_bits_are_zeroed_in_every_word_and_the_group_removed(syntax):
    case = overlay_case("embedded", syntax)
    (plane,) = overlay_planes(case.ds)
    before = stored_words(case.ds)
    assert np.array_equal(((before >> 13) & 1).astype(bool), case.bits[0x6000][0])
    assert np.array_equal(overlay_bits(case.ds, plane), case.bits[0x6000][0])

    cleared = remove_embedded_overlay_bits(case.ds, plane)

    assert cleared == int(case.bits[0x6000][0].sum())
    assert overlay_planes(case.ds) == []
    after = stored_words(reread(case.ds))
    assert not (after & (1 << 13)).any()
    assert np.array_equal(after, before & ~np.uint16(1 << 13))  # nothing else changed
    assert np.array_equal(reread(case.ds).pixel_array, pydicom_pixels(before))


def stored_words(ds: pydicom.Dataset) -> np.ndarray:
    """Pixel words as stored, high bits included (pydicom's pixel_array masks them off)."""
    order = "<" if ds.file_meta.TransferSyntaxUID.is_little_endian else ">"
    return np.frombuffer(ds.PixelData, dtype=f"{order}u2").reshape(256, 256).astype(np.uint16)


def pydicom_pixels(words: np.ndarray) -> np.ndarray:
    return words & 0x0FFF  # Bits Stored 12: what a viewer shows


def test_remove_overlay_on_an_embedded_planeclears_its_bits_too():
    case = overlay_case("embedded")
    (plane,) = overlay_planes(case.ds)
    remove_overlay(case.ds, plane)
    assert not (stored_words(case.ds) & (1 << 13)).any()
    assert overlay_planes(case.ds) == []


def test_embedded_bit_inside_the_stored_bits_is_refused():
    case = overlay_case("embedded")
    case.ds[0x60000102].value = 10  # inside Bits Stored 12 / High Bit 11
    (plane,) = overlay_planes(case.ds)
    pixels = case.ds.PixelData
    with pytest.raises(DicomDecodeError, match="6000.*inside Bits Stored"):
        remove_embedded_overlay_bits(case.ds, plane)
    assert case.ds.PixelData == pixels and 0x60000010 in case.ds


def test_embedded_overlay_in_compressed_pixel_data_is_refused():
    case = overlay_case("embedded")
    (plane,) = overlay_planes(case.ds)
    case.ds.file_meta.TransferSyntaxUID = RLELossless
    case.ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    with pytest.raises(DicomDecodeError, match="compressed"):
        remove_embedded_overlay_bits(case.ds, plane)
    with pytest.raises(DicomDecodeError, match="compressed"):
        overlay_bits(case.ds, plane)


# --- frames --------------------------------------------------------------------------------


def make_plane(frames: int = 1, frame_origin: int = 1) -> OverlayPlane:
    return OverlayPlane(0x6000, 8, 8, number_of_frames=frames, image_frame_origin=frame_origin)


@pytest.mark.parametrize(
    ("frames", "frame_origin", "image_frames", "expected"),
    [
        (1, 1, 1, {0: 0}),
        (3, 1, 3, {0: 0, 1: 1, 2: 2}),
        (3, 2, 4, {0: 1, 1: 2, 2: 3}),
        (1, 1, 10, {0: 0}),  # a one-frame overlay on a multi-frame image: the first frame only
        (1, 3, 10, {0: 2}),  # ... or the frame Image Frame Origin names
    ],
)
def test_overlay_frames_map_to_image_frames(frames, frame_origin, image_frames, expected):
    assert overlay_frame_indices(make_plane(frames, frame_origin), image_frames) == expected


@pytest.mark.parametrize(("frames", "frame_origin", "image_frames"), [(3, 1, 2), (2, 3, 3)])
def test_overlay_frames_past_the_image_fail_closed(frames, frame_origin, image_frames):
    with pytest.raises(DicomDecodeError, match="6000"):
        overlay_frame_indices(make_plane(frames, frame_origin), image_frames)


def test_multiframe_case_maps_one_to_one():
    case = overlay_case("multiframe")
    (mf,) = overlay_planes(case.ds)
    assert overlay_frame_indices(mf, int(case.ds.NumberOfFrames)) == {0: 0, 1: 1, 2: 2}
    with pytest.raises(IndexError):
        overlay_bits(case.ds, mf, 3)


# --- malformed overlays --------------------------------------------------------------------


def test_short_overlay_data_raises_without_values():
    case = overlay_case("basic")
    case.ds[0x60003000].value = case.ds[0x60003000].value[:1000]
    with pytest.raises(DicomDecodeError) as info:
        overlay_planes(case.ds)
    message = str(info.value)
    assert "6000" in message and "shorter" in message
    for value in ("256", "1000", "8192", NAME):
        assert value not in message


def test_unreadable_value_raises_without_the_value(recwarn, caplog):
    caplog.set_level("DEBUG")
    case = overlay_case("basic")
    case.ds[0x60000015] = RawDataElement(Tag(0x60000015), "IS", 6, b"ZELDA ", 0, False, True)
    with pytest.raises(DicomDecodeError) as info:
        overlay_planes(case.ds)
    assert "6000" in str(info.value) and "ZELDA" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "ZELDA" not in caplog.text  # neither logged nor warned, by us or by pydicom
    assert not [w for w in recwarn if "ZELDA" in str(w.message)]


@pytest.mark.parametrize(
    ("element", "value"),
    [(0x0010, None), (0x0011, 0), (0x0015, "0"), (0x0051, 0), (0x0050, [1])],
    ids=["no-rows", "zero-columns", "zero-frames", "zero-frame-origin", "one-origin-value"],
)
def test_malformed_geometry_raises(element: int, value):
    case = overlay_case("basic")
    tag = 0x60000000 | element
    if value is None:
        del case.ds[tag]
    else:
        vr = {0x0011: "US", 0x0015: "IS", 0x0051: "US", 0x0050: "SS"}[element]
        case.ds.add_new(tag, vr, value)
    with pytest.raises(DicomDecodeError, match="overlay 6000"):
        overlay_planes(case.ds)


def test_groups_without_geometry_or_bits_are_ignored():
    case = overlay_case("offset")
    case.ds.add_new((0x6004, 0x0022), "LO", "NOTHING DRAWN")
    case.ds.add_new((0x6001, 0x0010), "LO", "PRIVATE CREATOR")
    assert [p.group for p in overlay_planes(case.ds)] == [0x6000]


def test_overlay_data_without_rows_is_an_error_not_a_skip():
    case = overlay_case("basic")
    del case.ds[0x60000010]
    del case.ds[0x60000011]
    with pytest.raises(DicomDecodeError, match="6000"):
        overlay_planes(case.ds)


# --- rendering and OCR ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    from sparkdeid.ocr.registry import get_engine

    return get_engine("rapidocr", {})


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.upper(), b.upper()).ratio()


def reads(lines: list[OcrLine], text: str, box: Box | None = None) -> bool:
    """A line reads ``text`` (similarity >= 0.8), and covers ``box`` when one is given."""
    for line in lines:
        if similarity(line.text, text) < 0.8:
            continue
        b = line.box
        if box is None or (b.x0 <= box.x0 and b.y0 <= box.y0 and b.x1 >= box.x1 and b.y1 >= box.y1):
            return True
    return False


def ocr_frames(engine: OcrEngine, case: OverlayCase) -> list[list[OcrLine]]:
    ds_plane = overlay_planes(case.ds)[0]
    return [
        engine.read(render_overlay(overlay_bits(case.ds, ds_plane, k)))
        for k in range(ds_plane.number_of_frames)
    ]


def test_render_is_white_ink_on_black_with_the_overlays_shape():
    bits = np.zeros((5, 7), dtype=bool)
    bits[1, 2] = True
    image = render_overlay(bits)
    assert image.dtype == np.uint8 and image.shape == (5, 7)
    assert image[1, 2] == INK == 255 and (image[~bits] == PAPER).all() and PAPER == 0
    with pytest.raises(ValueError):
        render_overlay(np.zeros((2, 3, 4), dtype=bool))


@pytest.mark.parametrize("name", BIT_CASES)
def test_ocr_reads_planted_text_and_not_after_clearing(engine: OcrEngine, name: str):
    case = overlay_case(name)
    plane = overlay_planes(case.ds)[0]
    found = ocr_frames(engine, case)
    for text in case.texts:  # boxes on the rendered image are overlay pixel boxes
        assert reads(found[text.frame], text.text, text.box), (text.text, text.frame)
    safe = case.text(SAFE_WORD)
    safe_before = case.bits[0x6000][safe.frame]

    clear_overlay_regions(case.ds, plane, case.boxes(phi=True))

    after = ocr_frames(engine, case)
    for frame_lines in after:
        assert not any(reads(frame_lines, text) for text in PHI_TEXTS)
    assert reads(after[safe.frame], SAFE_WORD, safe.box)
    x0, y0, x1, y1 = safe.box.pixel_bounds()
    kept = overlay_bits(case.ds, plane, safe.frame)
    assert np.packbits(kept[y0:y1, x0:x1]).tobytes() == np.packbits(
        safe_before[y0:y1, x0:x1]
    ).tobytes()


def test_ocr_word_boxes_clear_phi_end_to_end(engine: OcrEngine):
    """Word boxes from OCR of the rendered overlay clear the PHI and map onto the image."""
    case = overlay_case("offset")
    (plane,) = overlay_planes(case.ds)
    lines = engine.read(render_overlay(overlay_bits(case.ds, plane)))
    words = [w for line in lines for w in line.words]
    phi_boxes = [w.box for w in words if similarity(w.text, SAFE_WORD) < 0.8]
    assert phi_boxes and len(phi_boxes) < len(words)

    clear_overlay_regions(case.ds, plane, {0: phi_boxes})

    for text in case.texts:
        x0, y0, x1, y1 = text.box.pixel_bounds()
        drawn = overlay_bits(case.ds, plane)[y0:y1, x0:x1]
        assert drawn.any() == (not text.phi), text.text
    name_box = case.text(NAME).box
    image_box = overlay_box_to_image(plane, name_box)  # origin 101\41
    assert (image_box.x0, image_box.y0) == (name_box.x0 + 40, name_box.y0 + 100)


def test_white_on_black_reads_small_overlay_text_at_least_as_well(engine: OcrEngine):
    """The render polarity, measured: 6-8 px one-bit text, both polarities, ink fully boxed."""
    lines_of_text = ("QUORNBY ZELDA", "03/14/1961", "ID 4821937", "LEFT", "OXBRIDGE LANE 12")
    scores = {}
    for polarity in ("white_on_black", "black_on_white"):
        boxed = read = 0
        for size in (6, 7, 8):
            inks = [
                text_mask(text, size, 128, 160, 3 + 7 * i, 4 + 24 * i)
                for i, text in enumerate(lines_of_text)
            ]
            image = render_overlay(np.logical_or.reduce(inks))
            if polarity == "black_on_white":
                image = 255 - image
            found = engine.read(image)
            covered = np.zeros((128, 160), dtype=bool)
            for line in found:
                for word in line.words:
                    x0, y0, x1, y1 = word.box.clipped(160, 128).pixel_bounds()
                    covered[y0:y1, x0:x1] = True
            boxed += sum(bool((ink <= covered).all()) for ink in inks)
            read += sum(reads(found, text) for text in lines_of_text)
        scores[polarity] = (boxed, read)
    assert scores["white_on_black"] >= scores["black_on_white"], scores
    assert scores["white_on_black"][0] >= 13, scores  # of 15 planted lines


# --------------------------------------------------------------------------- clean_overlays


def test_clean_overlays_leaves_a_file_byte_identical_when_nothing_is_found():
    from sparkdeid.dicom.overlays import clean_overlays
    from tests.factories import dataset_bytes

    data = dataset_bytes(overlay_case("basic").ds)
    assert clean_overlays(data, {}) == (data, 0)


def test_clean_overlays_clears_found_boxes_and_removes_on_request():
    from sparkdeid.dicom.overlays import clean_overlays
    from tests.factories import dataset_bytes

    case = overlay_case("basic")
    data = dataset_bytes(case.ds)
    boxes = case.boxes(0x6000, phi=True)
    cleaned, count = clean_overlays(data, {"6000": boxes})
    assert count > 0
    out = read_dataset(cleaned)
    plane = next(p for p in overlay_planes(out) if p.group == 0x6000)
    for box in boxes[0]:
        x0, y0, x1, y1 = box.pixel_bounds()
        assert not overlay_bits(out, plane)[y0:y1, x0:x1].any()
    removed, _ = clean_overlays(data, {}, remove=True)
    assert overlay_planes(read_dataset(removed)) == []
