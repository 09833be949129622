"""One source for what the strategy keeps: the engine's decisions match what it does.

The residual-PHI gate reads :meth:`MetadataEngine.decisions` (through
:func:`sparkdeid.verify.residual.engine_decisions`); these tests check, for
every action in the registry over several VRs, the shipped strategies and
pydicom's real files, that each decision is what the engine then did to the
element: kept ones are byte-for-byte unchanged, removed ones are gone,
changed ones are still there, and nothing the engine keeps lacks a decision.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.metadata.actions import ACTIONS, action_accepts_vr
from sparkdeid.metadata.decisions import ElementDecisions, Fate
from sparkdeid.metadata.engine import EngineConfig, deidentify_bytes
from sparkdeid.verify.residual import (
    DEFAULT,
    DELIBERATE,
    PROCESSED,
    GatePolicy,
    engine_decisions,
    metadata_residuals,
    replacement_values,
    strategy_decisions,
)
from tests.factories import dataset_bytes

SECRET = b"engine-decisions-test-secret-0123"
STRATEGIES = sorted(Path(__file__).resolve().parents[2].joinpath("strategies").glob("*.csv"))
HEADER = "Tags,VR,Name,Status,Action,Option\n"
# Written by the engine after the walk (PS3.15 E.1.1), whatever the walk decided.
MARKS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
OPTIONS = {"replaceWithLiteral": "REPLACED VALUE", "shiftDateByFixedNbOfDays": "10"}
# The registry lets these fit any VR, but what they write is text: in a number,
# date or sequence VR the file would not write (or warns), which tests the codec.
_TEXT_WRITERS = frozenset({"U", "X/Z/U*", "replaceWithLiteral"})
_TEXT_VRS = frozenset({"LO", "SH", "PN", "UI", "LT", "ST", "CS"})
# Catch-all private actions that cannot take a sequence (they write strings into it).
_SEQUENCE_SAFE = frozenset(
    {"K", "keep", "X", "delete", "Z", "remove", "D", "U", "C", "ensureTagExists",
     "retainSafePrivate", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
)
_STEP = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)|\[(\d+)\]\.")


def _element_at(ds: Dataset, path: str) -> tuple[bool, object]:
    """(present, value) at an engine path such as ``(0010,1002)[0].(0010,0020)``."""
    node: object = ds
    for match in _STEP.finditer(path):
        if match.group(3) is not None:
            items = list(node.value or [])  # type: ignore[attr-defined]
            index = int(match.group(3))
            if index >= len(items):
                return False, None
            node = items[index]
            continue
        tag = int(match.group(1) + match.group(2), 16)
        if tag not in node:  # type: ignore[operator]
            return False, None
        node = node[tag]  # type: ignore[index]
    value = node.value  # type: ignore[attr-defined]
    return True, None if isinstance(value, Sequence) else value


def _all_paths(ds: Dataset, prefix: str = "") -> list[str]:
    paths = []
    for elem in ds:
        path = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        paths.append(path)
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or []):
                paths.extend(_all_paths(item, f"{path}[{index}]."))
    return paths


def _tag_of(path: str) -> int:
    group, element = _STEP.findall(path)[-1][:2]
    return int(group + element, 16)


def _assert_engine_did(content: bytes, decisions: ElementDecisions, config: EngineConfig) -> None:
    """Each decision against the engine's real output for the file ``content``."""
    output = read_dataset(deidentify_bytes(content, config)[0])
    source = read_dataset(content, stop_before_pixels=True)  # what the gate reads
    for path, decision in decisions.by_path.items():
        if "[" not in path and _tag_of(path) in MARKS:
            continue
        present, value = _element_at(output, path)
        where = f"{path} ({decision.action}, {decision.fate.value})"
        if decision.fate is Fate.REMOVED:
            assert not present, where
            continue
        assert present, where
        if decision.fate in (Fate.KEPT, Fate.KEPT_BY_DEFAULT):
            assert value == _element_at(source, path)[1], where
    # every original element the engine left in place has a decision
    for path in _all_paths(source):
        if "[" not in path and _tag_of(path) in MARKS:
            continue
        parts = [m.start() for m in re.finditer(r"\[\d+\]\.", path)]
        removed_above = any(decisions.fate(path[:cut]) is Fate.REMOVED for cut in parts)
        if _element_at(output, path)[0] and not removed_above:
            assert path in decisions.by_path, path


def _synthetic() -> Dataset:
    """One element of each of several VRs, a sequence, and a private block with a sequence."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66"  # Raw Data: no pixels needed
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1001"
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "5512347"
    ds.AccessionNumber = "ACC778812"
    ds.StudyDate = "20210314"
    ds.StudyTime = "101530"
    ds.AcquisitionDateTime = "20210314101530"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2002"
    ds.PatientAge = "093Y"
    ds.PatientSex = "F"
    ds.SeriesNumber = "7"
    ds.PatientWeight = "61.5"
    ds.Rows = 8
    ds.ImageComments = "scanned for Jane Doe"
    ds.InstitutionAddress = "12 Harbour Road"
    other = Dataset()
    other.PatientID = "5512347"
    other.IssuerOfPatientID = "NORTH HOSPITAL"
    ds.OtherPatientIDsSequence = Sequence([other])
    block = ds.private_block(0x0029, "SPARKDEID DECISIONS TEST", create=True)
    block.add_new(0x10, "LO", "5512347")
    nested = Dataset()
    nested.PatientID = "5512347"
    block.add_new(0x11, "SQ", Sequence([nested]))
    return ds


def _rows(ds: Dataset, action: str, *, private: bool) -> str:
    """A row with ``action`` for every element of ``ds`` (top level) whose VR it fits."""
    spec = ACTIONS[action]
    option = OPTIONS.get(action, "")
    rows = []
    for elem in ds:
        tag = int(elem.tag)
        if bool(elem.tag.group & 1) != private or elem.tag.element < 0x1000 and private:
            continue
        if tag in (0x00080016, 0x00080018) or not action_accepts_vr(spec, elem.VR):
            continue
        if action in _TEXT_WRITERS and elem.VR not in _TEXT_VRS:
            continue
        rows.append(f'"({tag >> 16:04X}, {tag & 0xFFFF:04X})",{elem.VR},x,active,{action},{option}')
    return "\n".join(rows) + "\n"


ROW_ACTIONS = sorted(a for a in ACTIONS if a != "retainSafePrivate")


@pytest.mark.parametrize("action", ROW_ACTIONS)
@pytest.mark.parametrize("private_row", ["none", "X", "K"])
def test_every_registry_action_is_decided_as_done(action: str, private_row: str) -> None:
    original = _synthetic()
    csv = HEADER + _rows(original, action, private=False)
    if private_row != "none":
        csv += f'"(gggg, eeee)",*,Private,active,{private_row},\n'
    for remove_private in (True, False):
        config = EngineConfig(csv, SECRET, remove_private_tags=remove_private)
        policy = GatePolicy.from_engine_config(config)
        decisions = engine_decisions(original, policy)
        assert decisions.by_path["(0010,0010)"].action in (action, "unlisted_person_name_emptied")
        _assert_engine_did(dataset_bytes(original), decisions, config)
        # the registry says what an action does; the engine does that
        effect = ACTIONS[action].effect
        for path, decision in decisions.by_path.items():
            if decision.action == action and "[" not in path:
                if effect is Fate.CHANGED:
                    assert decision.fate in (Fate.CHANGED, Fate.REMOVED), path
                else:
                    assert decision.fate is effect, path


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_registry_action_as_private_rule_or_private_row(action: str) -> None:
    original = _synthetic()
    if action not in _SEQUENCE_SAFE:
        del original[0x00291011]
    option = OPTIONS.get(action, "")
    catch_all = HEADER + f'"(gggg, eeee)",*,Private,active,{action},{option}\n'
    sources = [catch_all]
    if action != "retainSafePrivate":  # a private rule only, never a row of its own
        sources.append(HEADER + _rows(original, action, private=True))
    for csv in sources:
        config = EngineConfig(csv, SECRET, remove_private_tags=True)
        decisions = engine_decisions(original, GatePolicy.from_engine_config(config))
        _assert_engine_did(dataset_bytes(original), decisions, config)


REAL_FILES = ("CT_small.dcm", "MR_small.dcm")


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda p: p.name)
@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("remove_private", [True, False])
def test_shipped_strategies_on_real_files(strategy: Path, name: str, remove_private: bool) -> None:
    content = Path(get_testdata_file(name)).read_bytes()
    original = read_dataset(content, stop_before_pixels=True)  # what the gate reads
    config = EngineConfig(strategy.read_text(encoding="utf-8"), SECRET,
                          remove_private_tags=remove_private)
    policy = GatePolicy.from_engine_config(config)
    decisions = engine_decisions(original, policy)
    assert {d.fate for d in decisions.by_path.values()} >= {Fate.KEPT, Fate.CHANGED, Fate.REMOVED}
    _assert_engine_did(content, decisions, config)
    # the gate's view is the engine's, relabelled
    gate = strategy_decisions(original, policy)
    assert set(gate.values()) <= {DELIBERATE, PROCESSED, DEFAULT}
    kept = sum(d.fate is Fate.KEPT for d in decisions.by_path.values())
    assert sum(v == DELIBERATE for v in gate.values()) == kept
    assert original == read_dataset(content, stop_before_pixels=True)  # input left alone


def test_literals_come_from_the_registry() -> None:
    csv = (HEADER + '"(0008, 0080)",LO,x,active,replaceWithLiteral,north clinic\n'
           '"(0008, 1040)",LO,x,active,ensureTagExists,RADIOLOGY\n'
           '"(0008, 0081)",ST,x,active,Z,\n')
    assert replacement_values(GatePolicy(csv)) == {"NORTH CLINIC", "RADIOLOGY"}


def test_private_sequence_kept_wholesale_is_still_checked() -> None:
    """The gate's old tables walked a private sequence the engine keeps without a walk.

    They judged its items by the standard rows (PatientID: processed, so an
    unchanged copy passed); the engine keeps them as read, which is not on purpose.
    """
    original = _synthetic()
    csv = HEADER + '"(0010, 0020)",LO,x,active,hashId,\n"(gggg, eeee)",*,Private,active,K,\n'
    config = EngineConfig(csv, SECRET)
    output = read_dataset(deidentify_bytes(dataset_bytes(original), config)[0])
    policy = GatePolicy.from_engine_config(config)
    assert engine_decisions(original, policy).by_path[
        "(0029,1011)[0].(0010,0020)"
    ].fate is Fate.KEPT_BY_DEFAULT
    where = {f.location for f in metadata_residuals(original, output, policy)}
    assert "(0029,1011)[0].PatientID" in where
    assert "(0029,1010)" in where
