"""Synthetic DICOM with planted PHI, and the leak detectors that look for it.

The tests and benchmarks need DICOM files whose every identifying value is
known in advance, so that a de-identified copy can be checked by searching it
for those values. Real files cannot serve: their PHI is unknown (or worse,
real). Everything here is therefore generated from a seed:

* :class:`SyntheticPatient` holds pseudo-word names, ids, addresses, ... built
  from random syllables and rejected when they occur in the DICOM dictionary,
  in Faker's name lists (the replacement names a cleaner may write) or in the
  factory's own non-PHI text, so a leak scan for them has no false positives.
* :func:`build_study` turns a patient into valid datasets carrying that PHI in
  standard tags, nested sequences, private blocks and free text, encoded in a
  chosen transfer syntax; :func:`write_corpus` writes several patients to disk
  and returns a :class:`Corpus` describing what was planted where.
* :func:`scan_for_strings` and :func:`scan_bytes` are the leak detectors.
* :func:`pydicom_pixel_files` / :func:`pydicom_unreadable_files` pick real
  files from pydicom's bundled test data for codec and robustness coverage.

Output is reproducible for a given seed within one environment (the
vocabulary used to reject pseudo-words comes from the installed pydicom and
Faker versions).
"""

from __future__ import annotations

import functools
import io
import os
import random
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    PYDICOM_ROOT_UID,
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)
from pydicom.valuerep import PersonName

__all__ = [
    "ALL_TRANSFER_SYNTAXES",
    "COMPRESSED_TRANSFER_SYNTAXES",
    "MODALITIES",
    "MODALITY_ORDER",
    "NATIVE_TRANSFER_SYNTAXES",
    "PRIVATE_TAGS",
    "RESEARCH_KEYWORDS",
    "UNKNOWN_PRIVATE_CREATOR",
    "UNKNOWN_PRIVATE_GROUP",
    "Corpus",
    "ModalitySpec",
    "SyntheticFile",
    "SyntheticPatient",
    "available_transfer_syntaxes",
    "build_study",
    "pseudo_word",
    "pydicom_pixel_files",
    "pydicom_unreadable_files",
    "scan_bytes",
    "scan_for_strings",
    "write_corpus",
]

# --------------------------------------------------------------------------
# Transfer syntaxes

NATIVE_TRANSFER_SYNTAXES: tuple[UID, ...] = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
)
COMPRESSED_TRANSFER_SYNTAXES: tuple[UID, ...] = (RLELossless, JPEGLSLossless, JPEG2000Lossless)
ALL_TRANSFER_SYNTAXES: tuple[UID, ...] = NATIVE_TRANSFER_SYNTAXES + COMPRESSED_TRANSFER_SYNTAXES


def dataset_bytes(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file (preamble and file meta written)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def engine_config(source: str, secret: bytes, **kwargs: Any) -> Any:
    """An EngineConfig for a profile name or CSV text, recording its method codes."""
    from sparkdeid.metadata.engine import EngineConfig
    from sparkdeid.metadata.strategy import resolve_strategy

    resolved = resolve_strategy(source)
    return EngineConfig(
        strategy_csv=resolved.csv_text,
        secret=secret,
        method_description=resolved.method_description,
        method_codes=resolved.method_codes,
        **kwargs,
    )


@functools.cache
def available_transfer_syntaxes() -> tuple[UID, ...]:
    """Transfer syntaxes :func:`build_study` can write here.

    Native syntaxes need no codec; a compressed one is listed only when one of
    pydicom's encoder plugins for it is installed, so callers can rotate
    through this list without probing.
    """
    from pydicom.pixels import get_encoder

    usable = []
    for uid in COMPRESSED_TRANSFER_SYNTAXES:
        try:
            if get_encoder(uid).is_available:
                usable.append(uid)
        except NotImplementedError:
            continue
    return NATIVE_TRANSFER_SYNTAXES + tuple(usable)


# --------------------------------------------------------------------------
# Modalities: SOP class, image format and the non-PHI wording used in text


@dataclass(frozen=True)
class ModalitySpec:
    """How one modality's instances look; the texts are non-PHI vocabulary."""

    sop_class_uid: UID
    multiframe_sop_class_uid: UID
    procedure: str
    procedure_code: str
    body_part: str
    series: tuple[str, ...]
    model: str
    bits_allocated: int
    bits_stored: int
    rgb: bool = False
    kvp: str | None = None
    geometry: bool = False  # carries patient-relative position/orientation


MODALITIES: dict[str, ModalitySpec] = {
    "CT": ModalitySpec(
        CTImageStorage,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        "CT CHEST W CONTRAST",
        "SYNCT001",
        "CHEST",
        ("AXIAL SOFT TISSUE", "CORONAL LUNG WINDOW"),
        "SYNTHETIC CT 64",
        16,
        12,
        kvp="120",
        geometry=True,
    ),
    "MR": ModalitySpec(
        MRImageStorage,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        "MR BRAIN WO CONTRAST",
        "SYNMR001",
        "HEAD",
        ("AXIAL T2 FLAIR", "SAGITTAL T1 GRADIENT"),
        "SYNTHETIC MR 3T",
        16,
        16,
        geometry=True,
    ),
    "US": ModalitySpec(
        UltrasoundImageStorage,
        UltrasoundMultiFrameImageStorage,
        "US ABDOMEN COMPLETE",
        "SYNUS001",
        "ABDOMEN",
        ("LIVER LONGITUDINAL", "RIGHT KIDNEY TRANSVERSE"),
        "SYNTHETIC US",
        8,
        8,
        rgb=True,
    ),
    "DX": ModalitySpec(
        DigitalXRayImageStorageForPresentation,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        "XR CHEST PA AND LATERAL",
        "SYNDX001",
        "CHEST",
        ("PA VIEW", "LATERAL VIEW"),
        "SYNTHETIC DR",
        16,
        14,
        kvp="110",
    ),
    "OT": ModalitySpec(
        SecondaryCaptureImageStorage,
        MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        "SCREEN CAPTURE DOSE REPORT",
        "SYNOT001",
        "CHEST",
        ("DOSE SUMMARY PAGE", "PROTOCOL PAGE"),
        "SYNTHETIC WORKSTATION",
        8,
        8,
    ),
}
MODALITY_ORDER: tuple[str, ...] = ("CT", "MR", "US", "DX", "OT")

#: Non-PHI attributes research depends on; a good cleaner keeps them unchanged.
RESEARCH_KEYWORDS: tuple[str, ...] = (
    "Modality",
    "Rows",
    "Columns",
    "PixelSpacing",
    "SliceThickness",
    "KVP",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "RescaleIntercept",
    "RescaleSlope",
    "PhotometricInterpretation",
    "BitsStored",
    "SamplesPerPixel",
)

# --------------------------------------------------------------------------
# Private tags. Dispositions are those of TCIA's private tag knowledge base
# (sparkdeid/data/tcia-private-tag-kb-2024-02-01.csv): k = keep, d = delete,
# o = offset (a date to shift). Key: (group, private creator, element offset).

PRIVATE_TAGS: dict[tuple[int, str, int], str] = {
    (0x0019, "GEMS_ACQU_01", 0x04): "k",  # Cell Spacing, DS
    (0x0019, "GEMS_ACQU_01", 0x0C): "d",  # Unknown, US
    (0x0019, "GEMS_ACQU_01", 0x9D): "o",  # Pulse Sequence Date, DT
    (0x0043, "GEMS_PARM_01", 0x62): "d",  # Scanner Study ID, SH (holds the StudyID)
    (0x0043, "GEMS_PARM_01", 0x91): "k",  # SAR Value, DS
}
#: A creator no knowledge base knows; its block carries PHI and must go.
UNKNOWN_PRIVATE_GROUP = 0x0035
UNKNOWN_PRIVATE_CREATOR = "SYNTHDEID LEAKY 1.0"

# --------------------------------------------------------------------------
# Pseudo-words

_ONSETS = (
    "b", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p",
    "pr", "qu", "r", "s", "st", "t", "tr", "v", "vr", "z", "zh",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou")
_CODAS = ("", "", "", "n", "r", "l", "x", "k", "s", "th", "v", "z")
_RARE_LETTERS = frozenset("qxzvk")

# Non-PHI text a cleaner may write into its output; pseudo-words must not
# occur inside any of it.
_DEID_VOCABULARY = (
    "ANONYMOUS ANONYMIZED ANONYMISED DEIDENTIFIED DE-IDENTIFIED REMOVED REDACTED "
    "sparkdeid PATIENT UNKNOWN YES NO",
    "Basic Application Confidentiality Profile",
    "Clean Pixel Data Option",
    "Clean Recognizable Visual Features Option",
    "Clean Graphics Option",
    "Clean Structured Content Option",
    "Clean Descriptors Option",
    "Retain Longitudinal Temporal Information With Full Dates Option",
    "Retain Longitudinal Temporal Information With Modified Dates Option",
    "Retain Patient Characteristics Option",
    "Retain Device Identity Option",
    "Retain UIDs Option",
    "Retain Safe Private Option",
    "Retain Institution Identity Option",
)
_FREE_TEXT_VOCABULARY = (
    "FOR DR",
    "Motion artifact minimal. Results to",
    "History of asthma. Prior films at",
    "call",
    "Prefers",
    "alternate contact",
    "General Hospital",
    "Radiology Wing",
    "Road Avenue ZZ MRN SN",
    "GE MEDICAL SYSTEMS",
    "Person Observer Name Findings",
    "ORIGINAL PRIMARY AXIAL DERIVED SECONDARY",
)


@functools.cache
def _vocabulary() -> str:
    """Lower-cased text that pseudo-words must not be a substring of."""
    from pydicom._uid_dict import UID_dictionary
    from pydicom.datadict import DicomDictionary

    parts: list[str] = []
    for entry in DicomDictionary.values():
        parts.extend((entry[2], entry[4]))
    parts.extend(entry[0] for entry in UID_dictionary.values())
    try:  # replacement names a Faker-based cleaner may write
        from faker.providers.person.en_US import Provider

        parts.extend(Provider.first_names)
        parts.extend(Provider.last_names)
    except ImportError:  # pragma: no cover - faker is a test dependency
        pass
    parts.extend(_DEID_VOCABULARY)
    parts.extend(_FREE_TEXT_VOCABULARY)
    for spec in MODALITIES.values():
        parts.extend((spec.procedure, spec.procedure_code, spec.body_part, spec.model))
        parts.extend(spec.series)
    return "\n".join(parts).lower()


def pseudo_word(rng: random.Random, min_len: int = 5, max_len: int = 10) -> str:
    """Return an upper-case made-up word for use as a name or place.

    Words carry at least one of q/x/z/v/k and are rejected when they occur in
    the DICOM dictionary, Faker's en_US name lists or this module's non-PHI
    text, so finding one in a de-identified file is always a real leak.
    """
    vocabulary = _vocabulary()
    while True:
        n_syllables = rng.choice((2, 3, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
            for _ in range(n_syllables)
        )
        if not min_len <= len(word) <= max_len or not _RARE_LETTERS & set(word):
            continue
        if word in vocabulary:
            continue
        return word.upper()


def _digits(rng: random.Random, n: int = 10) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


def _da(d: date) -> str:
    return d.strftime("%Y%m%d")


def _parse_da(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def _us_date(value: str) -> str:
    """DA ``19760616`` as free text ``06/16/1976``."""
    return _parse_da(value).strftime("%m/%d/%Y")


def _pn_parts(pn: str) -> list[str]:
    """Name components of a PN value long enough to be searched for."""
    parts = pn.replace("=", "^").split("^")
    return [p for p in parts if len(p) >= 5 and p.isalpha()]


# --------------------------------------------------------------------------
# Patient


@dataclass(frozen=True)
class SyntheticPatient:
    """A made-up patient with everything a DICOM header may say about them.

    PN values are DICOM strings (``FAMILY^GIVEN^MIDDLE``); every name part has
    at least five letters. Physicians, institution and device belong to the
    patient so one seed fixes every identifying value of their studies.
    """

    seed: int
    family_name: str
    given_name: str
    middle_name: str
    nickname: str  # only in the phonetic group of an OtherPatientNames value
    birth_family_name: str
    mother_birth_name: str
    patient_id: str
    issuer_of_patient_id: str
    other_patient_ids: tuple[str, ...]
    birth_date: str
    sex: str
    weight: str
    size: str
    address: str
    phone: str
    email: str
    referring_physician: str
    performing_physician: str
    operator: str
    reading_physician: str
    requesting_physician: str
    institution_name: str
    institution_address: str
    department: str
    station_name: str
    device_serial_number: str
    accession_numbers: tuple[str, ...]
    study_dates: tuple[str, ...]
    place_words: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_seed(cls, seed: int, *, n_studies: int = 2) -> SyntheticPatient:
        """Generate a patient; ``n_studies`` fixes accession numbers and dates.

        Studies are 20-400 days apart, the first in 2012-2022, and the
        patient is 18-80 years old then, so PatientAge stays below 90.
        """
        rng = random.Random(f"sparkdeid-patient:{seed}")

        def word() -> str:
            return pseudo_word(rng)

        def physician() -> str:
            return f"{word()}^{word()}"

        family, given, middle, nickname = word(), word(), word(), word()
        street, city, domain, issuer = word(), word(), word(), word()
        inst, inst_street, inst_city, dept, station = word(), word(), word(), word(), word()

        first = date(2012, 1, 1) + timedelta(days=rng.randrange(11 * 365))
        studies = [first]
        for _ in range(n_studies - 1):
            studies.append(studies[-1] + timedelta(days=rng.randint(20, 400)))
        age_days = rng.randint(18 * 365 + 5, 80 * 365)
        birth = first - timedelta(days=age_days)

        accession_prefix = "".join(rng.choice("QXZVKW") for _ in range(2))
        return cls(
            seed=seed,
            family_name=family,
            given_name=given,
            middle_name=middle,
            nickname=nickname,
            birth_family_name=word(),
            mother_birth_name=f"{word()}^{word()}",
            patient_id=_digits(rng),
            issuer_of_patient_id=f"{issuer} MRN",
            other_patient_ids=(_digits(rng, 9), _digits(rng)),
            birth_date=_da(birth),
            sex=rng.choice("FM"),
            weight=f"{rng.uniform(48, 110):.1f}",
            size=f"{rng.uniform(1.50, 1.95):.2f}",
            address=(
                f"{rng.randint(100, 9899)} {street.title()} Road, {city.title()} ZZ "
                f"{rng.randint(10000, 99999)}"
            ),
            phone=f"{rng.randint(201, 989)}-555-01{rng.randint(0, 99):02d}",
            email=f"{given.lower()}.{family.lower()}@{domain.lower()}.example",
            referring_physician=f"{physician()}^^DR",
            performing_physician=physician(),
            operator=physician(),
            reading_physician=physician(),
            requesting_physician=physician(),
            institution_name=f"{inst.title()} General Hospital",
            institution_address=(
                f"{rng.randint(1, 999)} {inst_street.title()} Avenue, {inst_city.title()} ZZ"
            ),
            department=f"Radiology {dept.title()} Wing",
            station_name=f"{station}01",
            device_serial_number=f"SN{_digits(rng)}",
            accession_numbers=tuple(
                f"{accession_prefix}{_digits(rng, 8)}" for _ in range(n_studies)
            ),
            study_dates=tuple(_da(d) for d in studies),
            place_words=(street, city, domain, issuer, inst, inst_street, inst_city, dept, station),
        )

    @property
    def name(self) -> str:
        """PatientName as stored: ``FAMILY^GIVEN^MIDDLE``."""
        return f"{self.family_name}^{self.given_name}^{self.middle_name}"

    def age_at(self, study_date: str) -> str:
        """PatientAge (``045Y``) on a DA date."""
        born, on = _parse_da(self.birth_date), _parse_da(study_date)
        years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        return f"{years:03d}Y"

    def planted_strings(self) -> set[str]:
        """PHI this patient puts into every one of their files."""
        pns = (
            self.name,
            f"{self.birth_family_name}^{self.given_name}^{self.middle_name}",
            self.mother_birth_name,
            self.referring_physician,
            self.performing_physician,
            self.operator,
            self.reading_physician,
            self.requesting_physician,
        )
        found = set(pns)
        for pn in (*pns, self.nickname):
            found.update(_pn_parts(pn))
        found.update(
            (
                self.patient_id,
                self.issuer_of_patient_id,
                *self.other_patient_ids,
                self.birth_date,
                _us_date(self.birth_date),
                self.address,
                self.phone,
                self.email,
                self.institution_name,
                self.institution_address,
                self.department,
                self.station_name,
                self.device_serial_number,
                *self.place_words,
            )
        )
        return found

    def phi_strings(self) -> set[str]:
        """Every PHI string of this patient, including all accession numbers."""
        return self.planted_strings() | set(self.accession_numbers)


# --------------------------------------------------------------------------
# Studies


@dataclass
class _Built:
    """One dataset and what the factory knows about it."""

    ds: Dataset
    keep_words: dict[str, tuple[str, ...]]
    phi: set[str]
    uids: set[str]
    private: dict[tuple[int, str, int], str]
    burned_text: tuple[tuple[str, tuple[int, int, int, int]], ...]


def _uid(*parts: object) -> str:
    return generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["sparkdeid-factory", *map(str, parts)])


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in text.split() if len(w) >= 2)


def _item(**attrs: Any) -> Dataset:
    item = Dataset()
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _pixels(rng: np.random.Generator, spec: ModalitySpec, size: int, frames: int) -> np.ndarray:
    """A smooth phantom (gradient + moving disk + noise) within BitsStored."""
    maxv = (1 << spec.bits_stored) - 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    radius = rng.uniform(0.15, 0.3) * size
    out = []
    for f in range(frames):
        img = (xx + yy) / (2 * (size - 1)) * 0.4 * maxv
        img += ((yy - cy) ** 2 + (xx - cx - 2 * f) ** 2 < radius**2) * 0.45 * maxv
        img += rng.integers(0, max(2, maxv // 40), (size, size))
        out.append(np.clip(img, 0, maxv))
    arr = np.stack(out)
    if spec.rgb:
        arr = np.stack([arr, arr * 0.8, arr * 0.6], axis=-1)
    dtype = np.uint8 if spec.bits_allocated == 8 else np.uint16
    return arr.astype(dtype)


def _burn_in(
    arr: np.ndarray, texts: Sequence[str], maxv: int
) -> tuple[tuple[str, tuple[int, int, int, int]], ...]:
    """Draw ``texts`` on every frame, one per line; return tight (x0, y0, x1, y1) boxes.

    Boxes come from the drawn mask, so they are exact whatever font Pillow
    falls back to, and are clipped to the image.
    """
    from PIL import Image, ImageDraw, ImageFont

    height, width = arr.shape[1:3]
    font = ImageFont.load_default()
    boxes = []
    total = np.zeros((height, width), dtype=bool)
    for line, text in enumerate(texts):
        mask_img = Image.new("L", (width, height), 0)
        ImageDraw.Draw(mask_img).text((2, 2 + 12 * line), text, fill=255, font=font)
        mask = np.asarray(mask_img) > 127
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        boxes.append((text, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
        total |= mask
    arr[:, total] = maxv
    return tuple(boxes)


def _set_pixel_data(ds: Dataset, arr: np.ndarray, transfer_syntax: UID) -> None:
    """Store ``arr`` (frames first) in ``ds`` encoded in ``transfer_syntax``."""
    data = arr if arr.shape[0] > 1 else arr[0]
    if transfer_syntax.is_compressed:
        ds.compress(transfer_syntax, data, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    if not transfer_syntax.is_little_endian and data.dtype.itemsize > 1:
        # pydicom writes OW bytes as given: they must already be big endian
        data = data.astype(data.dtype.newbyteorder(">"))
    ds.PixelData = data.tobytes()
    ds["PixelData"].VR = "OW" if ds.BitsAllocated > 8 else "OB"


def _pad(raw: bytes) -> bytes:
    return raw + b"\0" * (len(raw) % 2)


def _new_file_dataset(sop_class: str, sop_uid: str, ae_title: str) -> Dataset:
    """An empty dataset with preamble and file meta (AE title is PHI: a station name)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    meta.SourceApplicationEntityTitle = ae_title
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    return ds


def _add_patient(ds: Dataset, p: SyntheticPatient, *, study_date: str, history: str) -> None:
    """Patient module, with PHI in every name component group and free text."""
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = p.issuer_of_patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    ds.OtherPatientIDs = list(p.other_patient_ids)
    ds.OtherPatientNames = [
        f"{p.birth_family_name}^{p.given_name}^{p.middle_name}",
        f"{p.family_name}^{p.given_name}=={p.family_name}^{p.nickname}",
    ]
    ds.OtherPatientIDsSequence = [
        _item(
            PatientID=pid,
            IssuerOfPatientID=p.issuer_of_patient_id,
            TypeOfPatientID="TEXT",
        )
        for pid in p.other_patient_ids
    ]
    ds.PatientBirthName = f"{p.birth_family_name}^{p.given_name}"
    ds.PatientAge = p.age_at(study_date)
    ds.PatientSize = p.size
    ds.PatientWeight = p.weight
    ds.PatientAddress = p.address
    ds.PatientMotherBirthName = p.mother_birth_name
    ds.PatientTelephoneNumbers = p.phone
    ds.AdditionalPatientHistory = history
    ds.PatientComments = f"Prefers {p.given_name} {p.middle_name}; alternate contact {p.email}"


def _add_site_and_staff(ds: Dataset, p: SyntheticPatient) -> None:
    ds.InstitutionName = p.institution_name
    ds.InstitutionAddress = p.institution_address
    ds.InstitutionalDepartmentName = p.department
    ds.StationName = p.station_name
    ds.DeviceSerialNumber = p.device_serial_number
    ds.ReferringPhysicianName = p.referring_physician
    ds.PerformingPhysicianName = p.performing_physician
    ds.NameOfPhysiciansReadingStudy = p.reading_physician
    ds.OperatorsName = p.operator
    ds.RequestingPhysician = p.requesting_physician


def _add_private_blocks(
    ds: Dataset, p: SyntheticPatient, study_id: str, acquired: str
) -> dict[tuple[int, str, int], str]:
    """Known-creator elements of :data:`PRIVATE_TAGS` and a leaky unknown block.

    Returns the known elements' values as strings, keyed like ``PRIVATE_TAGS``.
    """
    private_values = {
        (0x0019, "GEMS_ACQU_01", 0x04): ("DS", "1.09375"),
        (0x0019, "GEMS_ACQU_01", 0x0C): ("US", 7),
        (0x0019, "GEMS_ACQU_01", 0x9D): ("DT", acquired),
        (0x0043, "GEMS_PARM_01", 0x62): ("SH", study_id),
        (0x0043, "GEMS_PARM_01", 0x91): ("DS", "0.0125"),
    }
    for (group, creator, offset), (vr, value) in private_values.items():
        ds.private_block(group, creator, create=True).add_new(offset, vr, value)
    unknown = ds.private_block(UNKNOWN_PRIVATE_GROUP, UNKNOWN_PRIVATE_CREATOR, create=True)
    unknown.add_new(0x01, "PN", p.name)
    unknown.add_new(0x02, "OB", _pad(f"MRN={p.patient_id};MAIL={p.email}".encode()))
    unknown.add_new(0x03, "UN", _pad(p.phone.encode()))
    return {key: str(value) for key, (_, value) in private_values.items()}


def _add_image_description(ds: Dataset, spec: ModalitySpec, size: int, frames: int) -> None:
    """Image pixel module attributes that :func:`_set_pixel_data` relies on."""
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 3 if spec.rgb else 1
    ds.PhotometricInterpretation = "RGB" if spec.rgb else "MONOCHROME2"
    if spec.rgb:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = spec.bits_allocated
    ds.BitsStored = spec.bits_stored
    ds.HighBit = spec.bits_stored - 1
    ds.PixelRepresentation = 0
    if spec.sop_class_uid == CTImageStorage:  # Hounsfield units
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameTime = "33.3"
        ds.FrameIncrementPointer = 0x00181063  # FrameTime


def _build_study(
    patient: SyntheticPatient,
    *,
    seed: int,
    modality: str,
    n_series: int,
    n_instances: int,
    transfer_syntax: str | Sequence[str],
    study_index: int,
    n_frames: int,
    image_size: int,
    burn_in_text: bool,
) -> list[_Built]:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {sorted(MODALITIES)}, not {modality!r}")
    if not 0 <= study_index < len(patient.study_dates):
        raise ValueError(
            f"study_index {study_index} out of range: the patient has "
            f"{len(patient.study_dates)} studies (SyntheticPatient.from_seed(n_studies=...))"
        )
    spec = MODALITIES[modality]
    syntaxes = (
        [UID(transfer_syntax)]
        if isinstance(transfer_syntax, str)
        else [UID(ts) for ts in transfer_syntax]
    )
    if not syntaxes:
        raise ValueError("transfer_syntax must name at least one transfer syntax")
    unknown = [ts for ts in syntaxes if ts not in ALL_TRANSFER_SYNTAXES]
    if unknown:
        raise ValueError(f"unsupported transfer syntax {unknown[0]!r}")

    rng = random.Random(f"sparkdeid-study:{patient.seed}:{seed}:{study_index}")
    np_rng = np.random.default_rng(rng.randrange(2**63))
    key = (patient.seed, seed, study_index)
    p = patient

    study_uid = _uid(*key, "study")
    frame_of_reference_uid = _uid(*key, "frame-of-reference")
    patient_uid = _uid(p.seed, "patient")
    accession = p.accession_numbers[study_index]
    study_id = _digits(rng)
    requested_procedure_id = _digits(rng)
    scheduled_step_id = _digits(rng)
    performed_step_id = _digits(rng)
    study_phi = {accession, study_id, requested_procedure_id, scheduled_step_id, performed_step_id}

    study_date = _parse_da(p.study_dates[study_index])
    study_start = datetime.combine(study_date, datetime.min.time()) + timedelta(
        seconds=rng.randrange(7 * 3600, 17 * 3600)
    )
    study_description = f"{spec.procedure} {p.family_name} {_us_date(p.birth_date)}"
    history = f"History of asthma. Prior films at {p.institution_name}, call {p.phone}"
    ref_family = p.referring_physician.split("^")[0]

    series_uids = [_uid(*key, "series", s) for s in range(n_series)]
    sop_uids = [[_uid(*key, "instance", s, i) for i in range(n_instances)] for s in range(n_series)]

    def n_frames_of(s: int, i: int) -> int:
        return n_frames if (s == 0 and i == n_instances - 1) else 1

    def sop_class_of(s: int, i: int) -> UID:
        multi = n_frames_of(s, i) > 1
        return spec.multiframe_sop_class_uid if multi else spec.sop_class_uid

    built: list[_Built] = []
    counter = 0
    for s in range(n_series):
        stem = spec.series[s % len(spec.series)]
        series_description = f"{stem} FOR DR {ref_family}"
        series_start = study_start + timedelta(minutes=5 * s)
        content_day = study_date + timedelta(days=1 if s >= 1 else 0)  # reprocessed next day
        for i in range(n_instances):
            frames = n_frames_of(s, i)
            ts = syntaxes[counter % len(syntaxes)]
            counter += 1
            acquired = series_start + timedelta(seconds=10 * i)
            content = datetime.combine(content_day, (acquired + timedelta(seconds=30)).time())
            sop_class = sop_class_of(s, i)
            sop_uid = sop_uids[s][i]
            image_comments = f"Motion artifact minimal. Results to {p.email} or {p.phone}"

            ds = _new_file_dataset(sop_class, sop_uid, p.station_name)
            ds.SpecificCharacterSet = "ISO_IR 100"
            ds.ImageType = (
                ["DERIVED", "SECONDARY"] if modality == "OT" else ["ORIGINAL", "PRIMARY", "AXIAL"]
            )
            ds.SOPClassUID = sop_class
            ds.SOPInstanceUID = sop_uid
            ds.StudyDate = _da(study_date)
            ds.SeriesDate = _da(study_date)
            ds.AcquisitionDate = _da(study_date)
            ds.ContentDate = _da(content_day)
            ds.InstanceCreationDate = _da(content_day)
            ds.StudyTime = study_start.strftime("%H%M%S")
            ds.SeriesTime = series_start.strftime("%H%M%S")
            ds.AcquisitionTime = acquired.strftime("%H%M%S")
            ds.ContentTime = content.strftime("%H%M%S")
            ds.InstanceCreationTime = content.strftime("%H%M%S")
            ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f")
            ds.AccessionNumber = accession
            ds.Modality = modality
            ds.Manufacturer = "GE MEDICAL SYSTEMS"
            ds.StudyDescription = study_description
            ds.ProcedureCodeSequence = [_code(spec.procedure_code, "99SYNTH", spec.procedure)]
            ds.SeriesDescription = series_description
            ds.ManufacturerModelName = spec.model
            ds.ReferencedStudySequence = [
                _item(
                    ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
                    ReferencedSOPInstanceUID=study_uid,
                )
            ]
            ds.ReferencedPatientSequence = [
                _item(
                    ReferencedSOPClassUID="1.2.840.10008.3.1.2.1.1",
                    ReferencedSOPInstanceUID=patient_uid,
                )
            ]
            references = []
            if n_instances > 1:  # the next instance of the series, cyclically
                j = (i + 1) % n_instances
                references.append(sop_uids[s][j])
                ds.ReferencedImageSequence = [
                    _item(
                        ReferencedSOPClassUID=sop_class_of(s, j),
                        ReferencedSOPInstanceUID=sop_uids[s][j],
                    )
                ]
            if i > 0:  # derived from the first instance of the series
                references.append(sop_uids[s][0])
                ds.SourceImageSequence = [
                    _item(
                        ReferencedSOPClassUID=sop_class_of(s, 0),
                        ReferencedSOPInstanceUID=sop_uids[s][0],
                    )
                ]

            _add_patient(ds, p, study_date=_da(study_date), history=history)
            _add_site_and_staff(ds, p)
            ds.BodyPartExamined = spec.body_part
            if spec.kvp:
                ds.KVP = spec.kvp
            ds.SoftwareVersions = "synthetic-1.0"
            if modality == "MR":
                ds.MagneticFieldStrength = "3"
                ds.RepetitionTime = "9000"
                ds.EchoTime = "81"

            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uids[s]
            ds.StudyID = study_id
            ds.SeriesNumber = s + 1
            ds.AcquisitionNumber = 1
            ds.InstanceNumber = i + 1
            ds.FrameOfReferenceUID = frame_of_reference_uid
            if spec.geometry:
                ds.SliceThickness = "2.5"
                ds.ImagePositionPatient = ["-22.5", "-22.5", f"{-100 + 2.5 * i:.1f}"]
                ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            if not spec.rgb:
                ds.PixelSpacing = ["0.703125", "0.703125"]
            ds.ImageComments = image_comments

            request = _item(
                AccessionNumber=accession,
                RequestedProcedureID=requested_procedure_id,
                RequestedProcedureDescription=spec.procedure,
                ScheduledProcedureStepID=scheduled_step_id,
                ScheduledProcedureStepDescription=spec.procedure,
            )
            nested = request.private_block(
                UNKNOWN_PRIVATE_GROUP, UNKNOWN_PRIVATE_CREATOR, create=True
            )
            nested.add_new(0x01, "LO", p.other_patient_ids[0])
            ds.RequestAttributesSequence = [request]
            ds.PerformedProcedureStepStartDate = _da(study_date)
            ds.PerformedProcedureStepStartTime = study_start.strftime("%H%M%S")
            ds.PerformedProcedureStepID = performed_step_id
            ds.PerformedProcedureStepDescription = spec.procedure
            observer = _item(
                RelationshipType="HAS OBS CONTEXT",
                ValueType="PNAME",
                ConceptNameCodeSequence=[_code("121008", "DCM", "Person Observer Name")],
                PersonName=p.reading_physician,
            )
            ds.ContentSequence = [
                _item(
                    RelationshipType="CONTAINS",
                    ValueType="CONTAINER",
                    ConceptNameCodeSequence=[_code("121070", "DCM", "Findings")],
                    ContinuityOfContent="SEPARATE",
                    ContentSequence=[observer],
                )
            ]

            private = _add_private_blocks(ds, p, study_id, acquired.strftime("%Y%m%d%H%M%S"))
            _add_image_description(ds, spec, image_size, frames)
            arr = _pixels(np_rng, spec, image_size, frames)
            burned: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()
            if burn_in_text:
                texts = (p.family_name, _us_date(p.birth_date))
                burned = _burn_in(arr, texts, (1 << spec.bits_stored) - 1)
            _set_pixel_data(ds, arr, ts)

            keep_words = {
                "StudyDescription": _words(spec.procedure),
                "SeriesDescription": _words(stem),
                "ImageComments": ("Motion", "artifact", "minimal", "Results"),
                "AdditionalPatientHistory": ("History", "asthma", "Prior", "films"),
            }
            built.append(
                _Built(
                    ds=ds,
                    keep_words=keep_words,
                    phi=p.planted_strings() | study_phi,
                    uids={study_uid, series_uids[s], sop_uid, frame_of_reference_uid, patient_uid}
                    | set(references),
                    private=private,
                    burned_text=burned,
                )
            )
    return built


def build_study(
    patient: SyntheticPatient,
    *,
    seed: int,
    modality: str = "CT",
    n_series: int = 2,
    n_instances: int = 2,
    transfer_syntax: str | Sequence[str] = ExplicitVRLittleEndian,
    study_index: int = 0,
    n_frames: int = 1,
    image_size: int = 64,
    burn_in_text: bool = False,
) -> list[Dataset]:
    """Build one study of ``patient`` as ready-to-save datasets.

    Parameters
    ----------
    patient
        Whose PHI to plant; ``patient.study_dates[study_index]`` and
        ``patient.accession_numbers[study_index]`` date and identify the study.
    seed
        Fixes UIDs, study ids and pixels (with the patient's own seed), so the
        same patient can have distinct studies.
    modality
        A key of :data:`MODALITIES`: CT, MR, US (RGB), DX or OT (secondary
        capture, 8-bit).
    transfer_syntax
        One UID, or several used in turn per instance; see
        :func:`available_transfer_syntaxes`.
    n_frames
        Frames of the last instance of the first series; above 1 it becomes a
        multi-frame instance (US multi-frame or multi-frame secondary capture).
    burn_in_text
        Draw the family name and birth date into the pixels (needs Pillow);
        :func:`write_corpus` records the boxes in ``SyntheticFile.burned_text``.

    Returns
    -------
    list of Dataset
        Series by series, each with file meta and preamble: save with
        ``ds.save_as(path, enforce_file_format=True)``.
    """
    return [
        b.ds
        for b in _build_study(
            patient,
            seed=seed,
            modality=modality,
            n_series=n_series,
            n_instances=n_instances,
            transfer_syntax=transfer_syntax,
            study_index=study_index,
            n_frames=n_frames,
            image_size=image_size,
            burn_in_text=burn_in_text,
        )
    ]


# --------------------------------------------------------------------------
# Corpus on disk


@dataclass(frozen=True)
class SyntheticFile:
    """One written file and the ground truth a de-identification test needs.

    ``dates`` maps DA keywords to their original values (PatientBirthDate is
    PHI, not an interval, and is left out); ``times`` does the same for TM
    and DT. ``references`` are the SOP Instance UIDs this instance points to
    (ReferencedImageSequence, SourceImageSequence), all in the same series.
    ``keep_words`` are the non-PHI words of free-text elements that a cleaner
    which cleans descriptions (rather than dropping them) must keep.
    ``private`` holds the values of :data:`PRIVATE_TAGS`. ``phi`` and
    ``uids`` are the PHI strings and original UIDs present in this file.
    """

    path: Path
    patient: SyntheticPatient
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    dates: dict[str, str]
    references: list[str]
    sop_class_uid: str = ""
    modality: str = ""
    transfer_syntax: str = ""
    n_frames: int = 1
    study_index: int = 0
    series_index: int = 0
    instance_index: int = 0
    accession_number: str = ""
    times: dict[str, str] = field(default_factory=dict)
    keep_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    private: dict[tuple[int, str, int], str] = field(default_factory=dict)
    phi: frozenset[str] = frozenset()
    uids: frozenset[str] = frozenset()
    burned_text: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()


_DATE_KEYWORDS = (
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "InstanceCreationDate",
    "PerformedProcedureStepStartDate",
)
_TIME_KEYWORDS = (
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "InstanceCreationTime",
    "PerformedProcedureStepStartTime",
    "AcquisitionDateTime",
)


@dataclass
class Corpus:
    """Files written by :func:`write_corpus`, in writing order."""

    root: Path
    patients: list[SyntheticPatient]
    files: list[SyntheticFile]

    def __iter__(self) -> Iterator[SyntheticFile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def paths(self) -> list[Path]:
        return [f.path for f in self.files]

    def phi_strings(self) -> set[str]:
        """Every PHI string planted in the corpus (UIDs are separate)."""
        found: set[str] = set()
        for patient in self.patients:
            found |= patient.phi_strings()
        for f in self.files:
            found |= f.phi
        return found

    def original_uids(self) -> set[str]:
        """Study, series, instance, frame of reference and patient UIDs as written."""
        return set().union(*(f.uids for f in self.files)) if self.files else set()

    def by_sop_instance_uid(self) -> dict[str, SyntheticFile]:
        return {f.sop_instance_uid: f for f in self.files}


def write_corpus(
    out_dir: str | os.PathLike[str],
    *,
    n_patients: int = 3,
    studies_per_patient: int = 2,
    series_per_study: int = 2,
    instances_per_series: int = 2,
    seed: int = 0,
    transfer_syntaxes: Sequence[str] | None = None,
    image_size: int = 64,
    burn_in_text: bool = False,
) -> Corpus:
    """Write a small multi-patient corpus under ``out_dir`` and describe it.

    Layout is ``patientNN/studyN/<file>``; every other file has no ``.dcm``
    suffix, as on real PACS exports. Modalities rotate per study through
    :data:`MODALITY_ORDER` and transfer syntaxes per file through
    ``transfer_syntaxes`` (default: :func:`available_transfer_syntaxes`).
    The last instance of the first series of the first US study (or of the
    first study when there is none) has three frames.
    """
    root = Path(out_dir)
    syntaxes = list(transfer_syntaxes or available_transfer_syntaxes())
    rng = random.Random(f"sparkdeid-corpus:{seed}")
    modalities = [
        MODALITY_ORDER[k % len(MODALITY_ORDER)] for k in range(n_patients * studies_per_patient)
    ]
    multiframe_study = modalities.index("US") if "US" in modalities else 0

    patients: list[SyntheticPatient] = []
    files: list[SyntheticFile] = []
    n_written = 0
    for pi in range(n_patients):
        patient = SyntheticPatient.from_seed(rng.randrange(2**32), n_studies=studies_per_patient)
        patients.append(patient)
        for si in range(studies_per_patient):
            k = pi * studies_per_patient + si
            n_files = series_per_study * instances_per_series
            built = _build_study(
                patient,
                seed=rng.randrange(2**32),
                modality=modalities[k],
                n_series=series_per_study,
                n_instances=instances_per_series,
                transfer_syntax=[syntaxes[(n_written + j) % len(syntaxes)] for j in range(n_files)],
                study_index=si,
                n_frames=3 if k == multiframe_study else 1,
                image_size=image_size,
                burn_in_text=burn_in_text,
            )
            folder = root / f"patient{pi:02d}" / f"study{si}"
            folder.mkdir(parents=True, exist_ok=True)
            for j, b in enumerate(built):
                ds = b.ds
                series_index, instance_index = divmod(j, instances_per_series)
                stem = f"s{series_index + 1}_i{instance_index + 1:03d}"
                path = folder / (f"{stem}.dcm" if (n_written + j) % 2 == 0 else f"IM_{stem}")
                ds.save_as(path, enforce_file_format=True)
                references = list(
                    dict.fromkeys(
                        item.ReferencedSOPInstanceUID
                        for kw in ("ReferencedImageSequence", "SourceImageSequence")
                        for item in ds.get(kw, [])
                    )
                )
                files.append(
                    SyntheticFile(
                        path=path,
                        patient=patient,
                        sop_instance_uid=ds.SOPInstanceUID,
                        study_uid=ds.StudyInstanceUID,
                        series_uid=ds.SeriesInstanceUID,
                        frame_of_reference_uid=ds.FrameOfReferenceUID,
                        dates={kw: ds[kw].value for kw in _DATE_KEYWORDS if kw in ds},
                        references=references,
                        sop_class_uid=ds.SOPClassUID,
                        modality=ds.Modality,
                        transfer_syntax=ds.file_meta.TransferSyntaxUID,
                        n_frames=int(ds.get("NumberOfFrames", 1)),
                        study_index=si,
                        series_index=series_index,
                        instance_index=instance_index,
                        accession_number=ds.AccessionNumber,
                        times={kw: ds[kw].value for kw in _TIME_KEYWORDS if kw in ds},
                        keep_words=b.keep_words,
                        private=b.private,
                        phi=frozenset(b.phi),
                        uids=frozenset(b.uids),
                        burned_text=b.burned_text,
                    )
                )
            n_written += n_files
    return Corpus(root=root, patients=patients, files=files)


# --------------------------------------------------------------------------
# Leak detectors


def _needles(needles: Iterable[str]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for needle in needles:
        if needle and needle.lower() not in seen:
            seen[needle.lower()] = needle
    return [(original, lowered) for lowered, original in seen.items()]


def value_texts(value: Any) -> Iterator[str]:
    """String forms of a value: every item of a multi-value, bytes as latin-1."""
    if value is None:
        return
    if isinstance(value, bytes | bytearray | memoryview):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, str):
        yield value
    elif isinstance(value, PersonName):
        yield str(value)  # all component groups: alphabetic=ideographic=phonetic
    elif isinstance(value, MultiValue | list | tuple):
        for item in value:
            yield from value_texts(item)
    else:
        yield str(value)


_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # Float/DoubleFloat/PixelData


def _scan(
    ds: Dataset,
    prefix: str,
    needles: list[tuple[str, str]],
    hits: list[tuple[str, str]],
    include_pixel_data: bool,
) -> None:
    for tag in list(ds.keys()):
        if tag in _PIXEL_TAGS and not include_pixel_data:
            continue
        path = f"{prefix}{tag}"
        try:
            elem = ds[tag]
            value = elem.value
            is_sequence = elem.VR == "SQ"
        except Exception:  # a value pydicom cannot convert: search its raw bytes
            value = ds.get_item(tag).value
            is_sequence = False
        if is_sequence:
            for index, item in enumerate(value or []):
                _scan(item, f"{path}[{index}].", needles, hits, include_pixel_data)
            continue
        for text in value_texts(value):
            lowered = text.lower()
            hits.extend((path, original) for original, low in needles if low in lowered)


def scan_for_strings(
    ds: Dataset, needles: Iterable[str], *, include_pixel_data: bool = False
) -> list[tuple[str, str]]:
    """Find ``needles`` in any value of ``ds``, case-insensitively.

    Walks the file meta, every element, sequence items at any depth and
    private elements; multi-valued elements item by item, PN values with all
    their component groups, and bytes (OB/OW/UN, unconvertible values) as
    latin-1 text. Pixel Data is skipped unless ``include_pixel_data``: text
    burned into pixels is not ASCII there, and searching megabytes for every
    needle dominated scan time (:func:`scan_bytes` still covers raw bytes).

    Returns
    -------
    list of (path, needle)
        ``path`` like ``(0008,1110)[0].(0008,1155)``; one entry per element
        and needle found in it.
    """
    wanted = _needles(needles)
    hits: list[tuple[str, str]] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _scan(meta, "", wanted, hits, include_pixel_data)
    _scan(ds, "", wanted, hits, include_pixel_data)
    return hits


def _inflated(data: bytes) -> bytes:
    """The file with a deflated data set inflated, else ``data`` unchanged."""
    if len(data) < 144 or data[128:132] != b"DICM" or data[132:138] != b"\x02\x00\x00\x00UL":
        return data
    end = 144 + int.from_bytes(data[140:144], "little")
    if DeflatedExplicitVRLittleEndian.encode() not in data[144:end]:
        return data
    try:
        return data[:end] + zlib.decompress(data[end:], -zlib.MAX_WBITS)
    except zlib.error:
        return data


def scan_bytes(data: bytes, needles: Iterable[str]) -> list[str]:
    """Needles found in raw file bytes (ASCII, case-insensitive).

    Catches what a dataset walk could miss (values pydicom never parses,
    trailing garbage). A Deflated Explicit VR data set is inflated first, so
    a deflated file cannot hide a leak.
    """
    haystack = _inflated(bytes(data)).lower()
    return [original for original, low in _needles(needles) if low.encode() in haystack]


# --------------------------------------------------------------------------
# pydicom's bundled test files


@functools.cache
def _classify_testdata() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from pydicom.data import get_testdata_files

    with_pixels, unreadable = [], []
    for path in sorted(get_testdata_files()):
        if not os.path.isfile(path):
            continue
        try:
            ds = dcmread(path, defer_size=1024)
        except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError):
            unreadable.append(path)
            continue
        if "PixelData" in ds:
            with_pixels.append(path)
    return tuple(with_pixels), tuple(unreadable)


def pydicom_pixel_files() -> list[str]:
    """Bundled pydicom (and pydicom-data) test files with Pixel Data that read."""
    return list(_classify_testdata()[0])


def pydicom_unreadable_files() -> list[str]:
    """Bundled test files that ``dcmread(path)`` rejects (no preamble/meta, not DICOM)."""
    return list(_classify_testdata()[1])


# --------------------------------------------------------------------------
# A small image with one private element (dates held in odd VRs)


def private_element_image(
    group: int, creator: str, offset: int, vr: str, value: Any, *, patient_id: str = "PX40417"
) -> Dataset:
    """A 2x2 CT with ``value`` in ``creator``'s block of ``group`` at ``offset``.

    GE keeps dates in binary VRs (GEMS_IDEN_01 (0009,xx27) "Image actual date"
    is SL ``YYYYMMDD``; others hold epoch seconds): this builds such a block
    for any VR, so the date-shift rules can be checked per VR.
    """
    sop_uid = "2.25.90417110020000101"
    ds = _new_file_dataset(CTImageStorage, sop_uid, "CTSCAN")
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop_uid
    ds.PatientID, ds.PatientName, ds.StudyDate = patient_id, "QUORVAL^ESTIN", "20000101"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = b"\x00\x01" * 4
    ds.private_block(group, creator, create=True).add_new(offset, vr, value)
    return ds
