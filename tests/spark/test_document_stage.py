"""DicomDocumentCleaner inside real Spark: one PDF, one CDA, one image, one corrupt file."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pypdfium2 as pdfium
import pytest
from pydicom.data import get_testdata_file

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.ocr.base import layout_text
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.document_cleaner import (
    DOCUMENT_ACTION_COL,
    DOCUMENT_DICOM_COL,
    DicomDocumentCleaner,
)
from tests.document_factory import dicom_bytes, encapsulated_cda, encapsulated_pdf

pytestmark = pytest.mark.spark

DPI = 100
PDF = encapsulated_pdf(seed=7)
CDA = encapsulated_cda(seed=8)
IMAGE = "CT_small.dcm"


def compact(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


@pytest.fixture(scope="module")
def files_df(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("documents")
    (folder / "report_pdf.dcm").write_bytes(dicom_bytes(PDF.ds))
    (folder / "report_cda.dcm").write_bytes(dicom_bytes(CDA.ds))
    shutil.copy(get_testdata_file(IMAGE), folder / IMAGE)
    (folder / "corrupt.dcm").write_bytes(b"\x00" * 64 + b"truncated")
    return spark.read.format("binaryFile").load(str(folder)).select("path", "content")


@pytest.fixture(scope="module")
def rows(files_df):
    stage = DicomDocumentCleaner(dpi=DPI)
    return {os.path.basename(r["path"]): r.asDict() for r in stage.transform(files_df).collect()}


def test_schema_and_actions(rows) -> None:
    assert set(rows) == {"report_pdf.dcm", "report_cda.dcm", IMAGE, "corrupt.dcm"}
    first = next(iter(rows.values()))
    assert set(first) == {"path", DOCUMENT_DICOM_COL, DOCUMENT_ACTION_COL, "error"}
    assert rows["report_pdf.dcm"][DOCUMENT_ACTION_COL].startswith("redacted:pdf:")
    assert rows["report_cda.dcm"][DOCUMENT_ACTION_COL].startswith("redacted:cda:")
    assert rows[IMAGE][DOCUMENT_ACTION_COL] is None
    assert all(rows[name]["error"] is None for name in ("report_pdf.dcm", "report_cda.dcm", IMAGE))


def test_image_file_passes_byte_identical(rows) -> None:
    with open(get_testdata_file(IMAGE), "rb") as handle:
        assert bytes(rows[IMAGE][DOCUMENT_DICOM_COL]) == handle.read()


def test_corrupt_file_is_an_error_row(rows) -> None:
    assert rows["corrupt.dcm"][DOCUMENT_DICOM_COL] is None
    assert rows["corrupt.dcm"]["error"].startswith("not a DICOM file")


def test_pdf_phi_is_gone(rows) -> None:
    ds = read_dataset(bytes(rows["report_pdf.dcm"][DOCUMENT_DICOM_COL]))
    document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert len(ds.EncapsulatedDocument) % 2 == 0 and document.startswith(b"%PDF-")
    page = pdfium.PdfDocument(document)[0]
    layer = compact(page.get_textpage().get_text_range())  # the invisible, searchable words
    image = np.asarray(page.render(scale=DPI / 72).to_pil())
    text = compact(layout_text(get_engine("rapidocr").read(image)).text)
    for seen in (layer, text):
        assert [p for p in PDF.phi + PDF.image_phi if compact(p) in seen] == []
        assert "fracture" in seen and "impression" in seen


def test_cda_phi_is_gone(rows) -> None:
    ds = read_dataset(bytes(rows["report_cda.dcm"][DOCUMENT_DICOM_COL]))
    document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    text = document.decode("utf-8").lower()
    assert [p for p in CDA.phi if p.lower() in text] == []
    assert "no acute fracture" in text and "18748-4" in text


def test_save_load_round_trip(files_df, tmp_path) -> None:
    stage = DicomDocumentCleaner(
        dpi=DPI, onUncleanable="error", pageLimit=5, engineOptions='{"threads": 1}',
        documentActionCol="what_happened", keepInput=True,
    )
    stage.write().overwrite().save(str(tmp_path / "stage"))
    loaded = DicomDocumentCleaner.load(str(tmp_path / "stage"))
    assert loaded.extractParamMap() == {
        loaded.getParam(p.name): v for p, v in stage.extractParamMap().items()
    }
    assert (loaded.getDpi(), loaded.getOnUncleanable(), loaded.getPageLimit()) == (
        DPI, "error", 5
    )
    only_cda = files_df.filter(files_df.path.endswith("report_cda.dcm"))
    out = loaded.transform(only_cda).collect()
    assert out[0]["what_happened"].startswith("redacted:cda:") and out[0]["content"]


def test_on_uncleanable_is_validated() -> None:
    with pytest.raises(ValueError):
        DicomDocumentCleaner().setOnUncleanable("ignore")
