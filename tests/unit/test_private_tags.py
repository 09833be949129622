"""TCIA private tag knowledge base: parsing and lookups."""

from __future__ import annotations

import pytest

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.private_tags import PathStep, PrivateTagKnowledgeBase, private_step


def test_default_parses_nearly_every_row() -> None:
    kb = PrivateTagKnowledgeBase.default()
    assert kb.parsed_rows > 8700
    assert kb.skipped_rows < 50  # the rows with no disposition at all
    assert kb.parsed_rows + kb.skipped_rows == 8787  # every data row accounted for
    assert 5000 < len(kb) <= kb.parsed_rows
    assert PrivateTagKnowledgeBase.default() is kb


def test_known_rows_resolve() -> None:
    kb = PrivateTagKnowledgeBase.default()
    assert kb.disposition([private_step(0x00191002, "GEMS_ACQU_01")]) == "k"
    assert kb.disposition([private_step(0x00091004, "FDMS 1.0")]) == "d"
    assert kb.disposition([private_step(0x00091005, "FDMS 1.0")]) == "h"
    assert kb.disposition([private_step(0x00091027, "GEMS_IDEN_01")]) == "oi"
    # Upper-case and padded dispositions in the file are normalised.
    assert kb.disposition([private_step(0x00191010, "MMCPrivate")]) == "k"
    assert kb.disposition([private_step(0x00191005, "HOLOGIC, Inc.")]) == "k"


def test_block_byte_is_ignored() -> None:
    kb = PrivateTagKnowledgeBase.default()
    assert kb.disposition([private_step(0x00191102, "GEMS_ACQU_01")]) == "k"
    assert private_step(0x00191102, "X") == PathStep(0x0019, "X", 0x02)


def test_nested_paths_resolve() -> None:
    kb = PrivateTagKnowledgeBase.default()
    ramsoft = PathStep(0x312F, "Ramsoft Diagnosis Datetime Identifier", 0x10)
    assert kb.disposition([PathStep(0x0008, None, 0x1084), ramsoft]) == "d"
    # Outside its sequence the same element is a different path.
    assert kb.disposition([ramsoft]) is None
    # A standard element inside a private sequence.
    thumbnail = private_step(0x00091010, "GEIIS")
    assert kb.disposition([thumbnail, PathStep(0x0028, None, 0x0002)]) == "na"


def test_creator_match_is_case_insensitive_and_trimmed() -> None:
    kb = PrivateTagKnowledgeBase.default()
    assert kb.disposition([private_step(0x00191002, "  gems_acqu_01 ")]) == "k"


def test_unknown_is_none() -> None:
    kb = PrivateTagKnowledgeBase.default()
    assert kb.disposition([private_step(0x00191002, "NO SUCH CREATOR")]) is None
    assert kb.disposition([PathStep(0x0010, None, 0x0010)]) is None
    assert kb.disposition([]) is None


def test_from_csv_text_normalises_and_counts() -> None:
    text = (
        "element_sig_pattern,tag_name,vr,private_disposition\n"
        '"(0011,""ACME SAFE"",10)",Pixel Spacing Copy,DS,k\n'
        '"(0011,ACME SAFE"",11)",Some Date,DA, O\n'
        '"(0011,""ACME SAFE,  V2"" ,12)",Comma Creator,LO,K\n'
        '"(0013,ACME SAFE"",10)",Per VR duplicate,LO,k\n'
        '"(0013,ACME SAFE"",10)",Per VR duplicate,UN,d\n'
        '"(0008,1115)[<0>](0008,1140)[<3>](0011,""ACME SAFE"",20)",Deep,UI,h\n'
        '"(0012,""EVEN GROUP"",10)",Not private,LO,k\n'
        '"(0011,""ACME SAFE"",10",Unclosed,LO,k\n'
        '"(0011,""ACME SAFE"",13)",No disposition,LO,\n'
        '"(0011,""ACME SAFE"",14)",Odd disposition,LO,maybe\n'
    )
    kb = PrivateTagKnowledgeBase.from_csv_text(text)
    assert (kb.parsed_rows, kb.skipped_rows, len(kb)) == (6, 4, 5)
    assert kb.disposition([private_step(0x00111010, "acme safe")]) == "k"
    assert kb.disposition([private_step(0x00111011, "ACME SAFE")]) == "o"
    assert kb.disposition([private_step(0x00111012, "ACME SAFE,  V2")]) == "k"
    # Duplicate rows that disagree keep the more protective disposition.
    assert kb.disposition([private_step(0x00131010, "ACME SAFE")]) == "d"
    deep = [
        PathStep(0x0008, None, 0x1115),
        PathStep(0x0008, None, 0x1140),
        private_step(0x00111020, "ACME SAFE"),
    ]
    assert kb.disposition(deep) == "h"


def test_wrong_columns_are_an_error() -> None:
    with pytest.raises(StrategyError, match="private_disposition"):
        PrivateTagKnowledgeBase.from_csv_text("element_sig_pattern,tag_name\n")
