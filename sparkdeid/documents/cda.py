"""Encapsulated CDA (HL7 v3 XML): structure decides what must go, the detector judges the rest.

A CDA document says in its structure where the people are: the header's
participants (``recordTarget``, ``author``, ``custodian``, ...) and the
participants of entries hold names, addresses, telecoms, ids and birth
times. Those are removed whatever they say, failing closed:

* inside a participant (:data:`PARTICIPANTS`), ``name``, ``addr`` and
  ``telecom`` become empty elements with ``nullFlavor="MSK"`` (HL7's
  "masked for privacy"), keeping only their ``use`` code, and every other
  text node is dropped;
* anywhere, ``id``/``setId`` elements lose ``root``, ``extension`` and
  ``assigningAuthorityName`` (ids name people and sites, and document ids
  are the equivalent of DICOM UIDs), ``telecom`` and ``addr`` are masked,
  and so are values typed as such (``xsi:type`` II, TEL, AD, PN, EN, ON),
  person-name and address parts (``given``, ``family``, ``city``, ...) are
  emptied, every time stamp (``value`` of ``effectiveTime``, ``birthTime``,
  ``time``, ``low``/``high`` ..., or of a TS-typed value) is replaced by
  ``nullFlavor="MSK"``, and embedded binary content (``representation="B64"``:
  images, whole PDF bodies we cannot inspect here) is dropped.

Coded values stay (``code``, ``codeSystem``, ``codeSystemName``,
``displayName`` and the other structural attributes in
:data:`SAFE_ATTRIBUTES`), as do numbers with units. Everything else, narrative
text (section ``text``, paragraphs, table cells, titles, ``originalText``)
and attribute values not known safe, goes through
:meth:`~sparkdeid.ner.detect.PhiDetector.detect_document` and
:meth:`~sparkdeid.ner.detect.PhiDetector.redact_text`. Before anything
changes, the participants' own names, ids, telecoms, addresses and birth
times are added to the DICOM header's terms, so the narrative loses the
patient's and the author's names however they are written there.

Parsing uses :mod:`defusedxml`: no entity expansion, no external resources
(entity declarations make the document not cleanable). Comments and
processing instructions are not kept. Output is UTF-8 with an XML
declaration, HL7 as the default namespace and ``sdtc`` for its extensions;
other namespace prefixes may be renamed (``ns0``), which XML readers ignore.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from sparkdeid.dicom.identity import name_parts
from sparkdeid.errors import DocumentNotCleanableError
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.detect import PhiDetector

logger = logging.getLogger(__name__)

HL7_NAMESPACE = "urn:hl7-org:v3"
SDTC_NAMESPACE = "urn:hl7-org:sdtc"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NAMESPACE}}}type"
MASKED = "MSK"

#: Elements whose whole subtree is about a person, device or organisation.
PARTICIPANTS = frozenset(
    """recordTarget author custodian legalAuthenticator authenticator informant participant
    dataEnterer informationRecipient encompassingEncounter performer responsibleParty
    encounterParticipant subject""".split()
)
#: Inside participants these become empty ``nullFlavor="MSK"`` elements.
_CONTACT_ELEMENTS = frozenset({"name", "addr", "telecom"})
#: Everywhere: identifiers and contact points are masked whole, as are values
#: typed as identifiers, telecoms, addresses or names (``xsi:type="II"`` ...).
_ALWAYS_MASKED = frozenset({"id", "setId", "addr", "telecom"})
_MASKED_TYPES = frozenset({"II", "TEL", "AD", "PN", "EN", "ON"})
#: Parts of person names and addresses: emptied wherever they appear.
_NAME_AND_ADDRESS_PARTS = frozenset(
    """given family prefix suffix delimiter streetAddressLine houseNumber houseNumberNumeric
    streetName streetNameBase streetNameType direction additionalLocator unitID unitType
    deliveryAddressLine deliveryInstallationType deliveryInstallationArea
    deliveryInstallationQualifier deliveryMode deliveryModeIdentifier buildingNumberSuffix
    postBox precinct careOf censusTract city county state postalCode country""".split()
)
_TIME_ELEMENTS = frozenset(
    "effectiveTime birthTime deceasedTime time low high center copyTime expectedUseTime".split()
)
_TIME_TYPES = frozenset({"TS", "IVL_TS", "PIVL_TS", "EIVL_TS", "SXCM_TS", "IVXB_TS"})
#: Attributes that hold codes or structure, never identifying text.
SAFE_ATTRIBUTES = frozenset(
    """code codeSystem codeSystemName codeSystemVersion displayName classCode moodCode typeCode
    determinerCode contextControlCode contextConductionInd negationInd inversionInd use
    nullFlavor unit mediaType representation compression integrityCheckAlgorithm operator
    inclusive institutionSpecified partType styleCode listType colspan rowspan align valign
    char charoff border cellpadding cellspacing frame rules scope span width lang
    independentInd isCriterionInd actionNegationInd""".split()
)
_TEMPLATE_ELEMENTS = frozenset({"templateId", "typeId"})
_TS = re.compile(r"\d{4}(?:\d{2}){0,5}(?:\.\d+)?(?:[+-]\d{2,4})?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def clean_cda(
    data: bytes, detector: PhiDetector, header: tuple[HeaderTerm, ...] = ()
) -> tuple[bytes, int]:
    """The cleaned document (UTF-8 XML) and the number of values masked or redacted.

    Parameters
    ----------
    data
        The XML document as stored (any encoding its declaration names).
    detector
        Judges narrative text and unknown attribute values; with
        ``redact_all`` every such text is removed.
    header
        The DICOM file's identifying values; the document's own participants
        are added to them.

    Raises
    ------
    DocumentNotCleanableError
        Not well-formed XML, entity declarations or external references, or
        a root element that is not an HL7 ``ClinicalDocument``.
    """
    root = _parse(data)
    terms = _merge_terms(header, participant_terms(root))
    cleaner = _Cleaner(detector, terms)
    cleaner.clean(root, in_participant=False)
    # ElementTree's default_namespace option rejects CDA's unqualified
    # attributes; a registered prefix is its only other way to keep HL7 the
    # default namespace (process-wide, but it names only these two URIs).
    ET.register_namespace("", HL7_NAMESPACE)
    ET.register_namespace("sdtc", SDTC_NAMESPACE)
    out = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    logger.debug("CDA: %d value(s) masked or redacted, %d header term(s)",
                 cleaner.count, len(terms))
    return out, cleaner.count


def _parse(data: bytes) -> ET.Element:
    try:
        root = fromstring(bytes(data).rstrip(b"\x00"))
    except DefusedXmlException:
        raise DocumentNotCleanableError(
            "CDA declares entities or external references", "xml-entities"
        ) from None
    except ET.ParseError:
        raise DocumentNotCleanableError("CDA is not well-formed XML", "malformed-xml") from None
    if _local(root.tag) != "ClinicalDocument":
        raise DocumentNotCleanableError("XML document is not an HL7 CDA", "not-cda")
    return root


def _local(tag: object) -> str:
    """Local name of an element or attribute (``{ns}name`` -> ``name``)."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def _xsi_type(elem: ET.Element) -> str:
    return elem.get(XSI_TYPE, "").rsplit(":", 1)[-1]


# --------------------------------------------------------------------------- terms


def participant_terms(root: ET.Element) -> tuple[HeaderTerm, ...]:
    """Names, ids, telecoms, addresses and birth dates the document's participants carry.

    Read before cleaning, so that the narrative loses them wherever it
    repeats them (``person_name`` for names with parts, ``place`` for
    organisation names and address lines, ``id`` for ids, phone numbers and
    postal codes, ``date`` for time stamps).
    """
    found: dict[HeaderTerm, None] = {}

    def walk(elem: ET.Element, inside: bool) -> None:
        local = _local(elem.tag)
        inside = inside or local in PARTICIPANTS
        if local in ("id", "setId"):
            extension = (elem.get("extension") or "").strip()
            if len(extension) >= 3:
                found[HeaderTerm("id", extension)] = None
        elif local == "telecom":
            value = re.sub(r"^[a-z]+:", "", (elem.get("value") or "").strip(), flags=re.I)
            if len(value) >= 3:
                found[HeaderTerm("other" if "@" in value else "id", value)] = None
        elif inside and local == "name":
            for term in _name_terms(elem):
                found[term] = None
            return
        elif local == "addr":
            for part in elem.iter():
                text = (part.text or "").strip()
                if len(text) >= 2 and part is not elem:
                    kind = "id" if _local(part.tag) == "postalCode" else "place"
                    found[HeaderTerm(kind, text)] = None
            return
        elif inside and local in _TIME_ELEMENTS:
            value = elem.get("value") or ""
            if _TS.fullmatch(value) and len(value) >= 8:
                found[HeaderTerm("date", value[:8])] = None
        for child in elem:
            walk(child, inside)

    walk(root, False)
    return tuple(found)


def _name_terms(name: ET.Element) -> list[HeaderTerm]:
    family = [(p.text or "").strip() for p in name if _local(p.tag) == "family"]
    given = [(p.text or "").strip() for p in name if _local(p.tag) == "given"]
    family, given = [f for f in family if f], [g for g in given if g]
    if family or given:
        value = "^".join((" ".join(family), *(given[:1] or [""]), " ".join(given[1:])))
        return [HeaderTerm("person_name", value)] if name_parts(value) else []
    text = " ".join("".join(name.itertext()).split())  # an organisation's or a place's name
    return [HeaderTerm("place", text)] if len(text) >= 3 else []


def _merge_terms(*groups: tuple[HeaderTerm, ...]) -> tuple[HeaderTerm, ...]:
    merged: dict[HeaderTerm, None] = {}
    for group in groups:
        merged.update(dict.fromkeys(group))
    return tuple(merged)


# --------------------------------------------------------------------------- cleaning


class _Cleaner:
    """Walks the tree once, masking by structure and redacting the rest."""

    def __init__(self, detector: PhiDetector, header: tuple[HeaderTerm, ...]) -> None:
        self.detector = detector
        self.header = header
        self.count = 0

    def clean(self, elem: ET.Element, in_participant: bool) -> None:
        local = _local(elem.tag)
        inside = in_participant or local in PARTICIPANTS
        if (
            local in _ALWAYS_MASKED
            or (inside and local in _CONTACT_ELEMENTS)
            or _xsi_type(elem) in _MASKED_TYPES
        ):
            self._mask(elem)
            return
        if elem.get("representation", "").upper() == "B64":
            self._mask(elem, keep=("mediaType",))
            return
        if local in _NAME_AND_ADDRESS_PARTS:
            if self._has_content(elem):
                self.count += 1
            for child in list(elem):
                elem.remove(child)
            elem.text = None
            elem.attrib.clear()
            return
        self._clean_attributes(elem, local)
        elem.text = self._text(elem.text, inside)
        for child in list(elem):
            if not isinstance(child.tag, str):
                elem.remove(child)  # a comment or processing instruction
                continue
            self.clean(child, inside)
            child.tail = self._text(child.tail, inside)

    def _mask(self, elem: ET.Element, keep: tuple[str, ...] = ("use",)) -> None:
        """Empty ``elem``, keep only the ``keep`` attributes, mark it masked."""
        kept = {k: v for k, v in elem.attrib.items() if _local(k) in keep}
        if self._has_content(elem) or set(elem.attrib) - set(kept) - {"nullFlavor"}:
            self.count += 1
        for child in list(elem):
            elem.remove(child)
        elem.text = None
        elem.attrib.clear()
        elem.attrib.update(kept)
        elem.set("nullFlavor", MASKED)

    @staticmethod
    def _has_content(elem: ET.Element) -> bool:
        return any(text.strip() for text in elem.itertext()) or len(elem) > 0

    def _clean_attributes(self, elem: ET.Element, local: str) -> None:
        xsi_type = _xsi_type(elem)
        for key, value in list(elem.attrib.items()):
            name = _local(key)
            if key == XSI_TYPE or name in SAFE_ATTRIBUTES:
                continue
            if local in _TEMPLATE_ELEMENTS and name in ("root", "extension"):
                continue
            if name == "value":
                if self._is_time(elem, local, xsi_type, value):
                    del elem.attrib[key]
                    elem.set("nullFlavor", MASKED)
                    self.count += 1
                    continue
                if _NUMBER.fullmatch(value.strip()) or value in ("true", "false"):
                    continue
                if local == "reference" and re.fullmatch(r"#[\w.\-]+", value):
                    continue  # a link to narrative inside this document
            cleaned = self._redact(value)
            if cleaned != value:
                elem.set(key, cleaned)

    @staticmethod
    def _is_time(elem: ET.Element, local: str, xsi_type: str, value: str) -> bool:
        if not _TS.fullmatch(value.strip()) or "unit" in elem.attrib:
            return False
        return xsi_type in _TIME_TYPES or (local in _TIME_ELEMENTS and not xsi_type)

    def _text(self, text: str | None, in_participant: bool) -> str | None:
        if text is None or not text.strip():
            return text
        if in_participant:
            self.count += 1
            return None
        return self._redact(text)

    def _redact(self, text: str) -> str:
        """``text`` without what the detector finds; outer whitespace is kept."""
        if not text.strip():
            return text
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        if self.detector.config.redact_all:
            self.count += 1
            return " " if lead or trail else ""
        entities = self.detector.detect_document(text, self.header)
        if not entities:
            return text
        self.count += len(entities)
        cleaned = self.detector.redact_text(text, entities).strip()
        if not cleaned:
            return " " if lead or trail else ""
        return lead + cleaned + trail
