"""CDA cleaning: participants masked by structure, narrative judged by the detector, codes kept."""

from __future__ import annotations

import defusedxml.ElementTree as SafeET
import pytest

from sparkdeid.documents.cda import HL7_NAMESPACE, MASKED, clean_cda, participant_terms
from sparkdeid.errors import DocumentNotCleanableError
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ner.header import header_terms_of
from tests.document_factory import PlantedDocument, encapsulated_cda

NS = {"h": HL7_NAMESPACE}


@pytest.fixture(scope="module")
def detector() -> PhiDetector:
    return PhiDetector()


@pytest.fixture(scope="module")
def planted() -> PlantedDocument:
    return encapsulated_cda(seed=8)


@pytest.fixture(scope="module")
def cleaned(planted: PlantedDocument, detector: PhiDetector) -> tuple[str, int]:
    out, count = clean_cda(planted.document, detector, header_terms_of(planted.ds))
    return out.decode("utf-8"), count


def found(text: str, needles: tuple[str, ...]) -> list[str]:
    lowered = text.lower()
    return [n for n in needles if n.lower() in lowered]


def test_the_original_holds_every_planted_value(planted: PlantedDocument) -> None:
    text = planted.document.decode("utf-8")
    missing = set(planted.phi) - set(found(text, planted.phi))
    assert missing <= {planted.patient.phone.replace("-", "")}  # only a looser spelling


def test_no_planted_phi_survives(planted: PlantedDocument, cleaned: tuple[str, int]) -> None:
    text, count = cleaned
    assert found(text, planted.phi) == []
    assert count >= 15


def test_codes_and_clinical_narrative_are_kept(
    planted: PlantedDocument, cleaned: tuple[str, int]
) -> None:
    text = cleaned[0]
    assert found(text, planted.keep) == list(planted.keep)
    root = SafeET.fromstring(text.encode("utf-8"))
    gender = root.find(".//h:administrativeGenderCode", NS)
    assert gender is not None and gender.get("code") == planted.patient.sex
    value = root.find(".//h:observation/h:value", NS)
    assert value is not None and (value.get("value"), value.get("unit")) == ("12.5", "mm")
    assert root.find(".//h:observation/h:text/h:reference", NS).get("value") == "#f1"


def test_participants_are_masked_by_structure(cleaned: tuple[str, int]) -> None:
    root = SafeET.fromstring(cleaned[0].encode("utf-8"))
    patient_role = root.find("h:recordTarget/h:patientRole", NS)
    assert patient_role is not None
    for path in ("h:id", "h:addr", "h:telecom", "h:patient/h:name", "h:patient/h:birthTime"):
        elem = patient_role.find(path, NS)
        assert elem is not None and elem.get("nullFlavor") == MASKED, path
        assert len(elem) == 0 and not (elem.text or "").strip()
        assert {"extension", "root", "value"}.isdisjoint(elem.attrib)
    assert patient_role.find("h:addr", NS).get("use") == "HP"
    author_name = root.find(".//h:author//h:assignedPerson/h:name", NS)
    assert author_name is not None and author_name.get("nullFlavor") == MASKED
    effective = root.find("h:effectiveTime", NS)
    assert effective is not None and "value" not in effective.attrib


def test_output_is_utf8_cda_with_the_hl7_default_namespace(cleaned: tuple[str, int]) -> None:
    text = cleaned[0]
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    assert '<ClinicalDocument xmlns="urn:hl7-org:v3"' in text
    assert "<!--" not in text and "<?xml-stylesheet" not in text


def test_participant_names_are_removed_from_the_narrative_too(
    planted: PlantedDocument, detector: PhiDetector
) -> None:
    """The author is named only in the CDA: the narrative loses the name anyway."""
    out, _ = clean_cda(planted.document, detector, ())  # no DICOM header terms at all
    assert found(out.decode("utf-8"), planted.phi) == []


def test_participant_terms(planted: PlantedDocument) -> None:
    root = SafeET.fromstring(planted.document)
    terms = participant_terms(root)
    p = planted.patient
    assert HeaderTerm("person_name", f"{p.family_name.title()}^{p.given_name.title()}^"
                      f"{p.middle_name.title()}") in terms
    assert HeaderTerm("id", p.patient_id) in terms
    assert HeaderTerm("id", p.phone) in terms
    assert HeaderTerm("date", p.birth_date) in terms
    assert HeaderTerm("place", p.institution_name) in terms


def test_embedded_binary_content_is_dropped(detector: PhiDetector) -> None:
    extra = (
        '<entry><observationMedia classCode="OBS" moodCode="EVN">'
        '<value mediaType="image/png" representation="B64">iVBORw0KGgoAAAANSUhEUg==</value>'
        "</observationMedia></entry>"
    )
    planted = encapsulated_cda(seed=8, extra_body=extra)
    out, _ = clean_cda(planted.document, detector, ())
    root = SafeET.fromstring(out)
    value = root.find(".//h:observationMedia/h:value", NS)
    assert value is not None and value.get("nullFlavor") == MASKED
    assert value.get("mediaType") == "image/png" and not value.text
    assert b"iVBORw0K" not in out


def test_values_typed_as_names_ids_or_addresses_are_masked(detector: PhiDetector) -> None:
    extra = (
        '<entry><observation classCode="OBS" moodCode="EVN">'
        '<code code="52473-6" codeSystem="2.16.840.1.113883.6.1"/>'
        '<value xsi:type="PN"><given>Quorvix</given><family>Zeltrane</family></value>'
        "</observation></entry>"
        '<entry><observation classCode="OBS" moodCode="EVN">'
        '<value xsi:type="II" root="2.16.840.1.113883.19.5" extension="QX-55120"/>'
        "</observation></entry>"
    )
    out, _ = clean_cda(encapsulated_cda(seed=8, extra_body=extra).document, detector, ())
    text = out.decode("utf-8")
    assert "Quorvix" not in text and "Zeltrane" not in text and "QX-55120" not in text
    assert "52473-6" in text


def test_redact_all_removes_every_narrative_text(planted: PlantedDocument) -> None:
    out, _ = clean_cda(planted.document, PhiDetector(DetectorConfig(redact_all=True)), ())
    text = out.decode("utf-8")
    assert "fracture" not in text and "Heart size" not in text
    assert "18748-4" in text  # codes are structure, not text


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY n "VRAXOLIN KEZZEL">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&n;</title></ClinicalDocument>',
            "xml-entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>',
            "xml-entities",
        ),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>VRAXOLIN</ClinicalDocument>",
         "malformed-xml"),
        (b"%PDF-1.7 not xml", "malformed-xml"),
        (b"<report><name>VRAXOLIN KEZZEL</name></report>", "not-cda"),
    ],
)
def test_documents_that_cannot_be_cleaned(
    document: bytes, reason: str, detector: PhiDetector
) -> None:
    with pytest.raises(DocumentNotCleanableError) as info:
        clean_cda(document, detector)
    assert info.value.reason == reason
    assert "VRAXOLIN" not in str(info.value) and "passwd" not in str(info.value)


def test_trailing_pad_byte_and_other_encodings(detector: PhiDetector) -> None:
    document = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Röntgen Thorax</title>'
        "</ClinicalDocument>"
    ).encode("latin-1") + b"\x00"
    out, _ = clean_cda(document, detector)
    assert "Röntgen Thorax" in out.decode("utf-8")
