"""``sparkdeid deid`` and ``sparkdeid stream`` take the same de-identification options.

Both build their pipeline from one definition (``jobs/options.py``), so the
same words on either command give the same pipeline and the same run.
"""

from __future__ import annotations

import argparse

import pytest

from sparkdeid import schemas
from sparkdeid.cli import _build_parser
from sparkdeid.jobs.batch import RELPATH_COL
from sparkdeid.jobs.options import GROUP_TITLE, DeidRun, deid_run
from sparkdeid.pipeline import DeidSettings, full_pipeline

SOURCE_OPTIONS = {
    "deid": {"--input", "--output"},
    "stream": {"--landing", "--output", "--checkpoint", "--trigger", "--max-files-per-trigger"},
}
REQUIRED = {"deid": ["--input", "in", "--output", "out"],
            "stream": ["--landing", "in", "--output", "out", "--checkpoint", "ck"]}


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = _build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def _shared(command: str) -> dict[str, tuple]:
    group = next(g for g in _subparser(command)._action_groups if g.title == GROUP_TITLE)
    return {a.option_strings[-1]: (a.default, a.choices, a.nargs, type(a).__name__, a.type)
            for a in group._group_actions}


def _all_options(command: str) -> set[str]:
    return {a.option_strings[-1] for a in _subparser(command)._actions
            if a.option_strings and a.dest != "help"}


def test_both_commands_share_every_deid_option_with_equal_defaults():
    deid, stream = _shared("deid"), _shared("stream")
    assert deid == stream
    # the options the issue found missing on stream are among them
    for option in ("--redact-all", "--residual-check", "--fill", "--scale", "--force-output",
                   "--frame-reuse", "--max-file-mb", "--max-frames", "--max-decoded-mpixels",
                   "--large-file-mb", "--output-layout", "--overwrite"):
        assert option in stream


@pytest.mark.parametrize("command", ["deid", "stream"])
def test_a_command_adds_only_its_source_options(command):
    assert _all_options(command) - set(_shared(command)) == SOURCE_OPTIONS[command]


def _stage_params(run) -> list[tuple[str, dict]]:
    return [(type(stage).__name__,
             {p.name: stage.getOrDefault(p) for p in stage.params if stage.isDefined(p)})
            for stage in run.pipeline.getStages()]


@pytest.mark.parametrize("words", [
    [],
    ["--metadata-only", "--residual-check", "off", "--keep-private-tags"],
    ["--redact-all", "--fill", "background", "--scale", "800", "--frame-reuse", "off",
     "--force-output", "--max-frames", "10", "--max-decoded-mpixels", "3", "--max-file-mb", "7"],
    ["--strategy", "basic+retain-uids", "--output-layout", "uids", "--large-file-mb", "0",
     "--overwrite", "--no-progress"],
])
def test_the_same_words_build_the_same_run_on_both_commands(words, monkeypatch):
    monkeypatch.setenv("SPARKDEID_SECRET", "cli-options-test-secret")
    parser = _build_parser()
    runs = [deid_run(parser.parse_args([command, *REQUIRED[command], *words]))
            for command in ("deid", "stream")]
    assert _stage_params(runs[0]) == _stage_params(runs[1])
    fields = [(r.large_file_bytes, r.output_layout, r.overwrite, r.progress, r.master)
              for r in runs]
    assert fields[0] == fields[1]
    if "--redact-all" in words:
        names = [name for name, _ in _stage_params(runs[0])]
        assert "DicomDrawRegions" in names
        drawn = dict(_stage_params(runs[0]))["DicomDrawRegions"]
        assert drawn["fill"] == "background"


def test_the_command_line_defaults_are_the_settings_defaults(monkeypatch):
    """No default is written twice: the CLI with no options builds the API's default pipeline."""
    monkeypatch.setenv("SPARKDEID_SECRET", "cli-options-test-secret")
    run = deid_run(_build_parser().parse_args(["deid", *REQUIRED["deid"]]))
    api = DeidSettings(input_col=schemas.PATH_COL,
                       agg_cols=(schemas.PATH_COL, RELPATH_COL)).pipeline()
    assert _stage_params(run) == _stage_params(DeidRun(api, 0, "relative", False, True, None))
    from_api = full_pipeline(input_col=schemas.PATH_COL, agg_cols=[schemas.PATH_COL, RELPATH_COL])
    assert _stage_params(run) == _stage_params(DeidRun(from_api, 0, "relative", False, True, None))


@pytest.mark.parametrize("field, value", [
    ("frame_reuse", "sometimes"), ("frame_sampling", "every"), ("overlays", "keep"),
    ("documents", "drop"), ("fill", "white"), ("residual_check", "strict"),
])
def test_settings_refuse_an_unknown_choice_when_made(field, value):
    with pytest.raises(ValueError, match=field):
        DeidSettings(**{field: value})


def test_anonymisation_defaults_to_the_basic_profile_unless_a_strategy_is_named():
    assert DeidSettings(redact_all=True).strategy_name == "basic"
    assert DeidSettings(redact_all=True, strategy="tcia").strategy_name == "tcia"
    assert DeidSettings().strategy_name == "tcia"
