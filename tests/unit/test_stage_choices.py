"""A choice Param refuses a misspelt value wherever it comes from: setter, keyword, saved file.

``DicomToImage(handleInvalid="skp")`` used to be accepted and then acted as
``keep``; a choice is now checked by the Param's converter, which Spark runs
for setters, constructor keywords and pipelines being loaded alike.
"""

from __future__ import annotations

import inspect
import json
import os

import pytest
from pyspark import keyword_only
from pyspark.ml import Pipeline, PipelineModel

from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.dicom_to_metadata import DicomToMetadata
from sparkdeid.stages.document_cleaner import DicomDocumentCleaner
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.params import HANDLE_INVALID_CHOICES, HasKeepInput
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector

STAGES = [DicomToImage, DicomToMetadata, DicomMetadataDeidentifier, NerDeid, TextDetector,
          PositionFinder, DicomDrawRegions, DicomDocumentCleaner, ResidualPhiGate]
CHOICES = [
    (DicomToImage, "frameSampling", "stride"), (DicomToImage, "frameReuse", "changed"),
    (DicomDrawRegions, "fill", "background"), (DicomDrawRegions, "overlays", "remove"),
    (DicomDocumentCleaner, "onUncleanable", "error"), (ResidualPhiGate, "mode", "pixels"),
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.__name__)
def test_handle_invalid_is_checked_by_keyword_and_setter(stage):
    with pytest.raises(ValueError, match="handleInvalid must be one of"):
        stage(handleInvalid="skp")
    with pytest.raises(ValueError, match="handleInvalid must be one of"):
        stage().setHandleInvalid("Keep")
    for choice in HANDLE_INVALID_CHOICES:
        assert stage(handleInvalid=choice).getHandleInvalid() == choice


@pytest.mark.parametrize(("stage", "name", "good"), CHOICES, ids=lambda v: str(v))
def test_every_choice_param_refuses_what_it_does_not_offer(stage, name, good):
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        stage(**{name: good + "x"})
    setter = getattr(stage(), "set" + name[0].upper() + name[1:])
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        setter(good.upper() + "?")
    assert stage(**{name: good}).getOrDefault(name) == good


@pytest.mark.spark
@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.__name__)
def test_a_saved_pipeline_with_a_misspelt_choice_does_not_load(spark, tmp_path, stage):
    empty = spark.createDataFrame([], "path string")
    Pipeline(stages=[stage()]).fit(empty).save(str(tmp_path / "p"))
    stage_dir = next(d for d in os.listdir(tmp_path / "p" / "stages"))
    folder = tmp_path / "p" / "stages" / stage_dir / "metadata"
    meta_file = next(folder.glob("part-*"))
    meta = json.loads(meta_file.read_text())
    meta["paramMap"]["handleInvalid"] = "skp"
    meta_file.write_text(json.dumps(meta))
    for checksum in folder.glob(".part-*.crc"):  # Hadoop would refuse the edited file
        checksum.unlink()
    with pytest.raises(ValueError, match="handleInvalid must be one of"):
        PipelineModel.load(str(tmp_path / "p"))


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.__name__)
def test_every_param_has_its_default_from_the_constructor(stage):
    signature = inspect.signature(stage)
    instance = stage()
    assert {p.name for p in instance.params} == set(signature.parameters)
    for param in instance.params:
        default = signature.parameters[param.name].default
        expected = list(default) if isinstance(default, tuple) else default
        assert instance.getOrDefault(param) == expected, param.name
        assert not instance.isSet(param)


def test_set_params_takes_the_constructor_keywords_only():
    stage = PositionFinder().setParams(padding=5.0, inputCols=None)
    assert stage.getPadding() == 5.0 and stage.getInputCols() == ["ocr", "entities"]
    with pytest.raises(TypeError, match="has no param paddin"):
        stage.setParams(paddin=1.0)
    with pytest.raises(ValueError, match="handleInvalid must be one of"):
        stage.setParams(handleInvalid="skp")
    with pytest.raises(TypeError):
        PositionFinder(["ocr", "entities"])  # type: ignore[misc]  # keywords only


def test_a_list_default_is_not_shared_between_stages():
    first, second = PositionFinder(), PositionFinder()
    first.getInputCols().append("extra")
    assert second.getInputCols() == ["ocr", "entities"]


def test_a_stage_whose_constructor_misses_a_param_fails_when_defined():
    with pytest.raises(TypeError, match=r"without a keyword \['keepInput'\]"):

        class Incomplete(DeidStage, HasKeepInput):
            @keyword_only
            def __init__(self, *, errorCol: str = "error", handleInvalid: str = "keep") -> None:
                super().__init__()

    with pytest.raises(TypeError, match="must be keyword-only with a default"):

        class NoDefault(DeidStage):
            @keyword_only
            def __init__(self, *, errorCol: str, handleInvalid: str = "keep") -> None:
                super().__init__()
