"""Synthetic Encapsulated PDF and CDA DICOM files with planted PHI, for the document cleaners.

Every identifying value comes from :class:`tests.factories.SyntheticPatient`
(made-up pseudo-words such as ``KRAIVOUTH``, never a real person) or is
drawn from the same pseudo-word generator, so finding one in a cleaned
document is always a leak. Each :class:`PlantedDocument` lists what must go
(``phi``), what only an embedded image carries (``image_phi``: the text
layer cannot see it, only OCR) and the report text that must survive
(``keep``).

The PDF (fpdf2) has the patient's name, MRN, birth date and phone number in
its text layer, the referring physician in a line a rule recognises, the
patient's name again in a free-text annotation and in the Info dictionary,
a technologist's name and a date drawn with PIL into an embedded PNG, and
the findings sentence that must remain readable. The CDA has the patient
(name, id, address, telecom, birth time) as recordTarget, an author, a
custodian and a legal authenticator, coded entries, and narrative text that
names the patient and a date.
"""

from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from tests.factories import SyntheticPatient, dataset_bytes, pseudo_word

ENCAPSULATED_PDF_STORAGE = UID("1.2.840.10008.5.1.4.1.1.104.1")
ENCAPSULATED_CDA_STORAGE = UID("1.2.840.10008.5.1.4.1.1.104.2")
ENCAPSULATED_STL_STORAGE = UID("1.2.840.10008.5.1.4.1.1.104.3")

FINDINGS = "FINDINGS: No acute fracture. Impression: normal study."
#: Words of the findings an OCR of the cleaned page must still read.
FINDINGS_WORDS = ("FINDINGS", "acute", "fracture", "Impression", "normal", "study")
CDA_KEEP = (
    "No acute fracture",
    "Heart size",
    "within normal limits",
    "18748-4",
    "LOINC",
    "Diagnostic imaging study",
    "2.16.840.1.113883.10.20.22.1.1",
    "12.5",
)


@dataclass(frozen=True)
class PlantedDocument:
    """A DICOM dataset carrying a document, and what the document hides."""

    ds: Dataset
    document: bytes
    phi: tuple[str, ...]
    image_phi: tuple[str, ...]
    keep: tuple[str, ...]
    patient: SyntheticPatient


def us_date(da: str) -> str:
    """``19760616`` -> ``06/16/1976``."""
    return datetime.strptime(da, "%Y%m%d").strftime("%m/%d/%Y")


def _given(patient: SyntheticPatient) -> str:
    return patient.given_name.title()


def _family(patient: SyntheticPatient) -> str:
    return patient.family_name.title()


def _referring_family(patient: SyntheticPatient) -> str:
    return patient.referring_physician.split("^")[0].title()


# --------------------------------------------------------------------------- PDF


def text_image(text: str, size: int = 30) -> bytes:
    """PNG of dark text on white, as a scanned label or a screenshot in a report."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 40, bottom - top + 40), 255)
    ImageDraw.Draw(image).text((20 - left, 20 - top), text, fill=0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def report_pdf(
    patient: SyntheticPatient, *, technologist: str, scan_date: str, pages: int = 1
) -> bytes:
    """A one-page radiology report (more pages repeat the findings) with PHI in every layer."""
    pdf = FPDF(unit="pt", format="letter")
    pdf.set_title(f"Report for {_given(patient)} {_family(patient)}")
    pdf.set_author(f"Dr. {_referring_family(patient)}")
    pdf.set_subject(f"MRN {patient.patient_id}")
    pdf.set_keywords(patient.phone)
    pdf.set_creator("synthetic report writer")
    pdf.add_page()
    pdf.set_font("Helvetica", size=16)
    pdf.text(72, 64, "Radiology Report")
    pdf.set_font("Helvetica", size=11)
    lines = (
        f"Patient: {_given(patient)} {_family(patient)}",
        f"MRN: {patient.patient_id}",
        f"Date of birth: {us_date(patient.birth_date)}",
        f"Phone: {patient.phone}",
        f"Referring: Dr. {_referring_family(patient)}",
    )
    for index, line in enumerate(lines):
        pdf.text(72, 100 + 16 * index, line)
    pdf.text(72, 200, FINDINGS)
    pdf.image(io.BytesIO(text_image(f"Technologist: {technologist} {scan_date}")),
              x=72, y=240, w=330)
    pdf.free_text_annotation(f"Call {_family(patient)}", x=400, y=90, w=120, h=24)
    for _ in range(pages - 1):
        pdf.add_page()
        pdf.text(72, 100, FINDINGS)
    return bytes(pdf.output())


def encrypted_pdf(*, user_password: bool = True) -> bytes:
    """A PDF with PHI that needs a password to open (or, without one, only restricts use)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.text(20, 20, "Patient: VRAXOLIN KEZZEL")
    pdf.set_encryption(owner_password="owner-secret",
                       user_password="user-secret" if user_password else "")
    return bytes(pdf.output())


def corrupt_pdf() -> bytes:
    """PDF magic, then garbage: pdfium cannot open it."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog /Pages 9 0 R\n"
    return head + bytes(range(256))


def encapsulated_pdf(seed: int = 7, *, pages: int = 1) -> PlantedDocument:
    """Encapsulated PDF Storage with the report; the technologist appears in the image only."""
    patient = SyntheticPatient.from_seed(seed)
    rng = random.Random(f"document-factory:{seed}")
    technologist = f"{pseudo_word(rng).title()} {pseudo_word(rng).title()}"
    scan_date = us_date(patient.study_dates[0])
    document = report_pdf(patient, technologist=technologist, scan_date=scan_date, pages=pages)
    ds = encapsulated_dataset(document, ENCAPSULATED_PDF_STORAGE, "application/pdf", patient)
    phi = (
        _given(patient),
        _family(patient),
        patient.patient_id,
        us_date(patient.birth_date),
        patient.phone,
        _referring_family(patient),
    )
    image_phi = (*technologist.split(), scan_date)
    return PlantedDocument(ds, document, phi, image_phi, FINDINGS_WORDS, patient)


#: Clinical words of the searchable report that its cleaned text layer must still hold.
SEARCHABLE_KEEP = ("Impression", "cardiopulmonary")
IMPRESSION = "Impression: No acute cardiopulmonary process."


def searchable_report(seed: int = 11) -> PlantedDocument:
    """A report with PHI in its header lines, its body, Info, XMP and an attachment.

    The patient is renamed ``Quaxley Zorbina`` (invented); the body names
    them again beside a date and a phone number, and the impression line
    holds the clinical words that must stay searchable.
    """
    patient = dataclasses.replace(
        SyntheticPatient.from_seed(seed), given_name="QUAXLEY", family_name="ZORBINA"
    )
    name = f"{_given(patient)} {_family(patient)}"
    study_date = us_date(patient.study_dates[0])
    pdf = FPDF(unit="pt", format="letter")
    pdf.set_title(f"Report for {name}")
    pdf.set_author(f"Dr. {_referring_family(patient)}")
    pdf.set_subject(f"MRN {patient.patient_id}")
    pdf.set_keywords(f"{patient.phone} {us_date(patient.birth_date)}")
    pdf.set_creator("synthetic report writer")
    pdf.set_xmp_metadata(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:creator>{name}</dc:creator><dc:identifier>{patient.patient_id}</dc:identifier>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    pdf.embed_file(bytes=f"{name} {patient.patient_id}".encode(), basename="notes.txt")
    pdf.add_page()
    pdf.set_font("Helvetica", size=16)
    pdf.text(72, 64, "Radiology Report")
    pdf.set_font("Helvetica", size=11)
    lines = (
        f"Patient: {name}",
        f"MRN: {patient.patient_id}",
        f"Date of birth: {us_date(patient.birth_date)}",
        "",
        "CLINICAL HISTORY: Cough and fever for two weeks.",
        "FINDINGS: The lungs are clear. Heart size is within normal limits.",
        IMPRESSION,
        "",
        f"Results discussed with {name} on {study_date}",
        f"by telephone at {patient.phone}.",
    )
    for index, line in enumerate(lines):
        if line:
            pdf.text(72, 100 + 18 * index, line)
    document = bytes(pdf.output())
    ds = encapsulated_dataset(document, ENCAPSULATED_PDF_STORAGE, "application/pdf", patient)
    phi = (
        _given(patient),
        _family(patient),
        patient.patient_id,
        us_date(patient.birth_date),
        study_date,
        patient.phone,
        _referring_family(patient),
    )
    return PlantedDocument(ds, document, phi, (), SEARCHABLE_KEEP, patient)


# --------------------------------------------------------------------------- CDA


def cda_xml(patient: SyntheticPatient, *, author: str, extra_body: str = "") -> bytes:
    """A CDA R2 radiology report: participants in the header, narrative and coded entries."""
    given, family, middle = _given(patient), _family(patient), patient.middle_name.title()
    author_given, author_family = (p.title() for p in author.split())
    street, city = patient.address.split(",")[0], patient.place_words[1].title()
    postal = patient.address.rsplit(" ", 1)[-1]
    study = patient.study_dates[0]
    institution = escape(patient.institution_name)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="CDA.xsl"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:sdtc="urn:hl7-org:sdtc">
  <!-- generated for {family} -->
  <realmCode code="US"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
  <id root="2.16.840.1.113883.19.5.99999.1" extension="{patient.accession_numbers[0]}"/>
  <code code="18748-4" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
      displayName="Diagnostic imaging study"/>
  <title>Radiology Report for {given} {family}</title>
  <effectiveTime value="{study}093000-0500"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="en-US"/>
  <recordTarget>
    <patientRole>
      <id root="2.16.840.1.113883.19.5" extension="{patient.patient_id}"/>
      <addr use="HP">
        <streetAddressLine>{street}</streetAddressLine>
        <city>{city}</city><state>ZZ</state><postalCode>{postal}</postalCode>
      </addr>
      <telecom use="HP" value="tel:{patient.phone}"/>
      <patient>
        <name use="L"><given>{given}</given><given>{middle}</given><family>{family}</family></name>
        <administrativeGenderCode code="{patient.sex}" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="{patient.birth_date}"/>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="{study}101500-0500"/>
    <assignedAuthor>
      <id root="2.16.840.1.113883.4.6" extension="{patient.other_patient_ids[0]}"/>
      <telecom use="WP" value="tel:{patient.phone[:-2]}99"/>
      <assignedPerson>
        <name><prefix>Dr.</prefix><given>{author_given}</given><family>{author_family}</family></name>
      </assignedPerson>
      <representedOrganization><name>{institution}</name></representedOrganization>
    </assignedAuthor>
  </author>
  <custodian>
    <assignedCustodian>
      <representedCustodianOrganization>
        <id root="2.16.840.1.113883.19.5"/>
        <name>{institution}</name>
        <addr><streetAddressLine>{escape(patient.institution_address)}</streetAddressLine></addr>
      </representedCustodianOrganization>
    </assignedCustodian>
  </custodian>
  <legalAuthenticator>
    <time value="{study}120000-0500"/>
    <signatureCode code="S"/>
    <assignedEntity>
      <id root="2.16.840.1.113883.4.6" extension="{patient.other_patient_ids[0]}"/>
      <assignedPerson><name><given>{author_given}</given><family>{author_family}</family></name>
      </assignedPerson>
    </assignedEntity>
  </legalAuthenticator>
  <component>
    <structuredBody>
      <component>
        <section>
          <templateId root="2.16.840.1.113883.10.20.6.1.2"/>
          <code code="18782-3" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
              displayName="Radiology Study observation"/>
          <title>Findings</title>
          <text>
            <paragraph>{given} {family} was examined on {us_date(study)}.</paragraph>
            <paragraph ID="f1">{FINDINGS}</paragraph>
            <paragraph>Dictated by Dr. {author_family}.</paragraph>
            <table border="1">
              <thead><tr><th>Observation</th><th>Result</th></tr></thead>
              <tbody><tr><td>Heart size</td><td>within normal limits</td></tr></tbody>
            </table>
          </text>
          <entry>
            <observation classCode="OBS" moodCode="EVN">
              <code code="21889-1" codeSystem="2.16.840.1.113883.6.1" displayName="Size"/>
              <text><reference value="#f1"/></text>
              <effectiveTime value="{study}"/>
              <value xsi:type="PQ" value="12.5" unit="mm"/>
            </observation>
          </entry>
          {extra_body}
        </section>
      </component>
    </structuredBody>
  </component>
</ClinicalDocument>
"""
    return text.encode("utf-8")


def encapsulated_cda(seed: int = 8, *, extra_body: str = "") -> PlantedDocument:
    """Encapsulated CDA Storage; the author's name is in the CDA only, not the DICOM header."""
    patient = SyntheticPatient.from_seed(seed)
    rng = random.Random(f"document-factory-cda:{seed}")
    author = f"{pseudo_word(rng)} {pseudo_word(rng)}"
    document = cda_xml(patient, author=author, extra_body=extra_body)
    ds = encapsulated_dataset(document, ENCAPSULATED_CDA_STORAGE, "text/XML", patient)
    phi = (
        patient.given_name,
        patient.middle_name,
        patient.family_name,
        patient.patient_id,
        patient.birth_date,
        patient.phone,
        patient.phone.replace("-", ""),
        patient.address.split(",")[0],
        patient.place_words[1],
        patient.address.rsplit(" ", 1)[-1],
        patient.accession_numbers[0],
        patient.other_patient_ids[0],
        patient.study_dates[0],
        us_date(patient.study_dates[0]),
        patient.place_words[4],  # the institution's distinctive word
        *author.split(),
    )
    return PlantedDocument(ds, document, phi, (), CDA_KEEP, patient)


# --------------------------------------------------------------------------- DICOM


def encapsulated_dataset(
    document: bytes, sop_class: str, mime_type: str | None, patient: SyntheticPatient
) -> Dataset:
    """Encapsulated Document IOD header with the patient's PHI; the document padded to even."""
    sop_uid = generate_uid(entropy_srcs=["document-factory", sop_class, patient.patient_id])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = UID(sop_uid)
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["document-study", patient.patient_id])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["document-series", sop_uid])
    ds.Modality = "DOC"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientTelephoneNumbers = patient.phone
    ds.ReferringPhysicianName = patient.referring_physician
    ds.AccessionNumber = patient.accession_numbers[0]
    ds.StudyDate = patient.study_dates[0]
    ds.ContentDate = patient.study_dates[0]
    ds.InstitutionName = patient.institution_name
    ds.InstanceNumber = 1
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Radiology Report"
    if mime_type is not None:
        ds.MIMETypeOfEncapsulatedDocument = mime_type
    ds.EncapsulatedDocument = document + b"\0" * (len(document) % 2)
    ds.EncapsulatedDocumentLength = len(document)
    return ds


dicom_bytes = dataset_bytes  # the name the document tests use
