"""A choice Param refuses a misspelt value wherever it comes from: setter, keyword, saved file.

``DicomToImage(handleInvalid="skp")`` used to be accepted and then acted as
``keep``; a choice is now checked by the Param's converter, which Spark runs
for setters, constructor keywords and pipelines being loaded alike.
"""

from __future__ import annotations

import json
import os

import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.dicom_to_metadata import DicomToMetadata
from sparkdeid.stages.document_cleaner import DicomDocumentCleaner
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.params import HANDLE_INVALID_CHOICES
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector

STAGES = [DicomToImage, DicomToMetadata, DicomMetadataDeidentifier, NerDeid, TextDetector,
          DicomDrawRegions, DicomDocumentCleaner, ResidualPhiGate]
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
def test_a_saved_pipeline_with_a_misspelt_choice_does_not_load(spark, tmp_path):
    empty = spark.createDataFrame([], "path string")
    Pipeline(stages=[DicomToMetadata(inputCol="path")]).fit(empty).save(str(tmp_path / "p"))
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
