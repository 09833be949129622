"""Write the example notebooks (``notebooks/*.ipynb``) from the cell texts below.

The .ipynb files are committed, without outputs; this script is where they are
edited, so a change is a readable diff. Run ``python notebooks/build_notebooks.py``
after editing, then ``pytest tests/spark/test_notebooks.py`` (which also checks
that the committed files are what this script writes).

Every notebook has the same head: Databricks install guidance (commented out,
so nothing is installed locally), a cell that reuses Databricks' ``spark`` or
starts a local one, and one code cell tagged ``parameters`` holding every
path and setting (papermill, Databricks job parameters and the test replace it).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

HERE = Path(__file__).resolve().parent

INSTALL_MD = """\
**On Databricks** uncomment and run the next cell: it installs the package for
this notebook on the driver and the executors. A wheel built with `pip wheel .`
works too: `%pip install /Volumes/<catalog>/<schema>/<volume>/<wheel file>`.
These notebooks assume a classic cluster in dedicated access mode: the batch and
streaming jobs use the `SparkContext`, which serverless compute and standard
access mode do not expose.
**Locally** run the notebook on the project's virtual environment (`make setup`),
which has the package, with Java 17 installed."""

INSTALL_CODE = """\
# %pip install sparkdeid
# dbutils.library.restartPython()"""

SESSION_CODE = """\
{imports}

# Databricks (and pyspark shells) define `spark`; elsewhere start a small local
# session: 2 cores, no UI, Python workers on this interpreter.
try:
    spark  # noqa: B018
except NameError:
    from sparkdeid.session import local_session

    spark = local_session("local[2]")
print("Spark", spark.version)"""

PARAMETERS_MD = """\
Every path and setting is in the next cell, tagged `parameters` so papermill or
the test suite can replace it; environment variables give the defaults (in a
Databricks job, read job parameters there with `dbutils.widgets.get`). On
Databricks use Unity Catalog volume paths, `/Volumes/<catalog>/<schema>/<volume>/...`,
which Spark and plain Python file functions both read on every node, and take
the secret from a secret scope: `SECRET = dbutils.secrets.get("deid", "secret")`.
The secret keys every pseudonym (UIDs, ids, names, date offsets): the same secret
gives the same pseudonyms in every run. The demo secret is for the synthetic
samples only."""

DEMO_SECRET = 'os.environ.get("SPARKDEID_SECRET", "demo-secret-not-for-real-data")'


def _text(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def md(source: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(_text(source))


def code(source: str, *, tags: tuple[str, ...] = ()) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(_text(source))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


LOCAL_IMPORTS = "import os\nimport tempfile\nfrom pathlib import Path"


def notebook(
    title: str,
    intro: str,
    parameters: str,
    body: list[NotebookNode],
    imports: str = LOCAL_IMPORTS,
) -> NotebookNode:
    """The common head (install, session, parameters) followed by ``body``.

    ``imports`` (what the parameters cell uses) go into the session cell, so the
    parameters cell holds assignments only and can be replaced whole.
    """
    cells = [
        md(f"# {title}\n\n{_text(intro)}\n\n{INSTALL_MD}"),
        code(INSTALL_CODE),
        code(SESSION_CODE.format(imports=imports)),
        md(PARAMETERS_MD),
        code(parameters, tags=("parameters",)),
        *body,
    ]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index:02d}"  # stable ids: regenerating gives the same file
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


# --------------------------------------------------------------------------
# 01: metadata only

NB01 = notebook(
    "Metadata de-identification",
    """
    Read DICOM files with Spark's `binaryFile` source, de-identify their headers
    with the metadata-only pipeline (Pixel Data is copied byte for byte), compare a
    few tags before and after, and write the results with a manifest. The samples
    are synthetic: every name, id and date in them is made up.
    """,
    f"""
    INPUT = os.environ.get("SPARKDEID_NB_INPUT", str(Path("../samples/dicom").resolve()))
    OUTPUT = os.environ.get(
        "SPARKDEID_NB_OUTPUT", os.path.join(tempfile.gettempdir(), "sparkdeid-notebooks", "01")
    )
    STRATEGY = "tcia"  # "basic", "tcia", "basic+retain-uids", ... or a strategy CSV path
    SECRET = {DEMO_SECRET}
    """,
    [
        md("""
        ## Read

        `binaryFile` gives one row per file: `path`, `modificationTime`, `length`,
        `content`. DICOM is recognised by content, so files without a `.dcm` suffix
        are read too.
        """),
        code("""
        from pyspark.sql import functions as F

        df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(INPUT)
        print(df.count(), "files")
        df.select("path", "length").orderBy("path").show(5, truncate=False)
        """),
        md("""
        ## De-identify

        The pipeline has one stage, `DicomMetadataDeidentifier`. The secret is set
        on the stage in memory only: a saved pipeline never contains it.
        `keepInput` keeps the original bytes next to the result for the comparison
        below; leave it off in production.
        """),
        code("""
        from sparkdeid import DicomMetadataDeidentifier
        from sparkdeid.pipeline import metadata_pipeline

        pipe = metadata_pipeline(strategy=STRATEGY)
        deidentifier = next(s for s in pipe.getStages() if isinstance(s, DicomMetadataDeidentifier))
        deidentifier.setSecret(SECRET).setKeepInput(True)
        model = pipe.fit(df)
        out = model.transform(df).cache()
        out.groupBy(F.col("error").isNull().alias("ok")).count().show()
        """),
        md("""
        ## Before and after

        The smallest image's header, then one line per file: the same patient gets
        the same pseudonym in every file, and all of a patient's dates move by the
        same number of days, so intervals between studies survive.
        """),
        code("""
        import io

        import pandas as pd
        import pydicom

        KEYWORDS = ["PatientName", "PatientID", "PatientBirthDate", "PatientAge", "StudyDate",
                    "AccessionNumber", "InstitutionName", "StudyDescription", "StudyInstanceUID"]


        def header(data):
            return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


        def value(ds, keyword):
            return str(ds[keyword].value) if keyword in ds else "(removed)"


        def pixels(data):
            return pydicom.dcmread(io.BytesIO(data)).get("PixelData")


        ok = out.where("error IS NULL")
        smallest = ok.orderBy("length").select("content", "dicom").limit(10).collect()
        row = next((r for r in smallest if pixels(r.content) is not None), smallest[0])
        before, after = header(row.content), header(row.dicom)
        display(pd.DataFrame({"before": [value(before, k) for k in KEYWORDS],
                              "after": [value(after, k) for k in KEYWORDS]}, index=KEYWORDS))
        print("Pixel Data byte-identical:", pixels(row.content) == pixels(row.dicom))
        """),
        code("""
        pairs = []
        for r in ok.orderBy("path").select("path", "content", "dicom").limit(20).toLocalIterator():
            b, a = header(r.content), header(r.dicom)
            pair = {"file": r.path.rsplit("/", 1)[-1]}
            for keyword in ("PatientID", "StudyDate"):
                pair[keyword], pair["-> " + keyword] = value(b, keyword), value(a, keyword)
            pairs.append(pair)
        display(pd.DataFrame(pairs))
        """),
        md("""
        ## Write

        Each executor writes its own results (no file bytes travel to the driver)
        under the same relative path, and returns one manifest row per input; a
        file that failed is copied to `_quarantine/`. `run_batch` (notebook 04) and
        `sparkdeid deid` do all of this, with re-runs that skip finished files.
        """),
        code("""
        from urllib.parse import unquote, urlparse

        from sparkdeid import schemas
        from sparkdeid.jobs.batch import RELPATH_COL, write_outputs
        from sparkdeid.jobs.manifest import write_manifest

        input_root = urlparse(INPUT).path.rstrip("/") + "/"
        output_root = os.path.abspath(OUTPUT)


        def write(batches):
            for pdf in batches:
                # "file:/a/b.dcm" or "dbfs:/Volumes/..." -> a plain path, and its name under INPUT
                pdf["path"] = [unquote(urlparse(p).path) for p in pdf["path"]]
                pdf[RELPATH_COL] = [p[len(input_root):] for p in pdf["path"]]
                yield from write_outputs([pdf], output_root, schemas.DICOM_COL, schemas.ERROR_COL)


        rows = out.select("path", "dicom", "error").mapInPandas(write, schemas.MANIFEST_SCHEMA)
        manifest = write_manifest(rows.toPandas(), output_root)
        print(manifest["status"].value_counts().to_dict(), "->", output_root)
        display(manifest[["input_path", "status", "error", "input_bytes", "output_bytes"]].head(10))
        """),
        code("""
        out.unpersist();
        """),
    ],
)


# --------------------------------------------------------------------------
# 02: full pipeline, pixels included

NB02 = notebook(
    "Full pipeline: burned-in text and metadata",
    """
    Run the full pipeline over the synthetic files in `samples/dicom/burned-in`: a CT
    and a DX with made-up names, dates and ids burned into the pixels next to text
    that must stay (`R`, `5 cm`, `kV 120`), and an image without text. Look at what
    OCR read and which regions were judged PHI, write the de-identified files, and
    compare one frame before and after.
    """,
    f"""
    INPUT = os.environ.get(
        "SPARKDEID_NB_INPUT", str(Path("../samples/dicom/burned-in").resolve())
    )
    OUTPUT = os.environ.get(
        "SPARKDEID_NB_OUTPUT", os.path.join(tempfile.gettempdir(), "sparkdeid-notebooks", "02")
    )
    STRATEGY = "tcia"
    OCR_ENGINE = "rapidocr"  # bundled; "tesseract" needs the tesseract-ocr binary
    SECRET = {DEMO_SECRET}
    """,
    [
        md("""
        ## The stages

        Pixel stages run first, one row per frame, because PHI detection matches
        words against the file's own (original) header; `DicomDrawRegions` groups
        the frames back into one file per row; the metadata stage runs last.
        """),
        code("""
        from pyspark.ml import PipelineModel
        from pyspark.sql import functions as F

        from sparkdeid import DicomDrawRegions, DicomMetadataDeidentifier
        from sparkdeid.pipeline import full_pipeline

        df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(INPUT)
        pipe = full_pipeline(strategy=STRATEGY, engine=OCR_ENGINE)
        for stage in pipe.getStages():
            if isinstance(stage, DicomMetadataDeidentifier):
                stage.setSecret(SECRET)  # in memory only: never saved with the pipeline
        model = pipe.fit(df)
        for stage in model.stages:
            column = stage.getOrDefault("outputCol") if stage.hasParam("outputCol") else ""
            print(f"{type(stage).__name__:28} -> {column}")
        """),
        md("""
        ## What OCR read and what is PHI

        Running the per-frame stages on their own shows their columns; caching the
        result means OCR runs once for this and for the rest of the pipeline.
        `ocr.words` holds each word with its confidence and box in original pixel
        coordinates, `entities` the PHI spans, `regions` the boxes to mask.
        """),
        code("""
        split = next(i for i, s in enumerate(model.stages) if isinstance(s, DicomDrawRegions))
        frames = PipelineModel(stages=model.stages[:split]).transform(df).cache()
        name = F.element_at(F.split("path", "/"), -1).alias("file")
        frames.select(name, "frame", F.size("ocr.words").alias("words"),
                      F.size("entities").alias("phi_spans"),
                      F.size("regions").alias("regions")).orderBy("file").show()
        """),
        code("""
        example = frames.orderBy(F.size("regions").desc(), "path").first().path
        one = frames.where(F.col("path") == example)
        (one.select(F.explode("ocr.words").alias("w"))
            .select("w.text", F.round("w.confidence", 2).alias("confidence"),
                    "w.x0", "w.y0", "w.x1", "w.y1")
            .show(50, truncate=False))
        one.select(F.explode("regions").alias("r")).select("r.*").show(truncate=False)
        """),
        md("""
        ## Mask, rebuild, de-identify the header

        `regions_masked` counts the boxes painted per file. A file without PHI text
        keeps its Pixel Data byte for byte. The results are small here, so the
        driver writes them; for folders use `run_batch` (notebook 04).
        """),
        code("""
        result = (PipelineModel(stages=model.stages[split:]).transform(frames)
                  .select("path", "regions_masked", "document_action", "error", "dicom")
                  .cache())
        result.drop("dicom").orderBy("path").show(truncate=False)

        out_dir = Path(OUTPUT)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = 0
        for row in result.toLocalIterator():
            if row.error is None:
                (out_dir / row.path.rsplit("/", 1)[-1]).write_bytes(row.dicom)
                written += 1
        print(written, "files written to", out_dir)
        """),
        md("""
        ## One frame, before and after

        Both sides are rendered as OCR saw them (windowed, 8-bit). The picture is
        also saved next to the outputs as `_before_after.png`.
        """),
        code("""
        import io

        import numpy as np
        import pydicom
        from IPython.display import display
        from PIL import Image

        from sparkdeid.dicom.frames import render_frame


        def first_frame(data):
            return render_frame(pydicom.dcmread(io.BytesIO(data)), 0).image


        original = df.where(F.col("path") == example).first().content
        masked = result.where(F.col("path") == example).first().dicom
        before, after = first_frame(original), first_frame(masked)
        gap = np.full((before.shape[0], 8, *before.shape[2:]), 255, dtype=np.uint8)
        picture = Image.fromarray(np.hstack([before, gap, after]))
        picture.save(out_dir / "_before_after.png")
        picture.thumbnail((1200, 600))
        display(picture)
        header = pydicom.dcmread(io.BytesIO(masked), stop_before_pixels=True)
        print("Burned In Annotation:", header.get("BurnedInAnnotation"),
              "| Patient Identity Removed:", header.get("PatientIdentityRemoved"))
        """),
        code("""
        frames.unpersist()
        result.unpersist();
        """),
    ],
)


# --------------------------------------------------------------------------
# 03: custom strategy

NB03 = notebook(
    "A custom strategy",
    """
    A strategy is a CSV, one row per attribute: `Tags,VR,Name,Status,Action,Option`.
    Start from a shipped profile, change a few rows for a research project (keep
    age, sex and weight; shift dates instead of removing them; replace the ids
    with keyed pseudonyms), and compare the result with the profile it started from.
    """,
    f"""
    INPUT = os.environ.get(
        "SPARKDEID_NB_INPUT", str(Path("../samples/dicom/patient00").resolve())
    )
    OUTPUT = os.environ.get(
        "SPARKDEID_NB_OUTPUT", os.path.join(tempfile.gettempdir(), "sparkdeid-notebooks", "03")
    )
    BASE_PROFILE = "basic"  # PS3.15 Basic Profile; "tcia" adds TCIA's options
    SECRET = {DEMO_SECRET}
    """,
    [
        md("""
        ## Start from a profile

        `build_strategy_csv` writes the profile from the packaged PS3.15 Table E.1-1,
        as the shipped `strategies/*.csv` are made.
        """),
        code("""
        import io

        import pandas as pd
        from pydicom.datadict import tag_for_keyword

        from sparkdeid.metadata.profiles import build_strategy_csv, resolve_options

        base_csv = build_strategy_csv(resolve_options(BASE_PROFILE))
        strategy = pd.read_csv(io.StringIO(base_csv), dtype=str, keep_default_na=False)


        def tag_text(keyword):
            tag = tag_for_keyword(keyword)
            return f"({tag >> 16:04X}, {tag & 0xFFFF:04X})"


        KEEP = ["PatientAge", "PatientSex", "PatientWeight"]
        SHIFT = ["StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime"]
        IDS = {"PatientID": "patientHashId", "AccessionNumber": "hashId"}
        CHANGED = KEEP + SHIFT + list(IDS)
        rows = strategy["Tags"].isin([tag_text(k) for k in CHANGED])
        print(len(strategy), "rows; the ones we change, as", BASE_PROFILE, "has them:")
        display(strategy[rows])
        """),
        md("""
        ## Change a few rows

        - `keep`: research attributes the Basic Profile removes;
        - `shiftDateByRandomNbOfDays`: one keyed offset per patient (1-365 days), so
          intervals between a patient's studies are kept;
        - `patientHashId` (digits of the same length) and `hashId` (a token): keyed
          pseudonyms, the same for the same value in every file and run.

        Actions are checked when the strategy is loaded (`load_strategy`, as each
        executor does): an unknown action or one that does not fit the VR is an
        error naming the row. Checking on the driver first saves a failed job.
        """),
        code("""
        def set_action(keywords, action, option=""):
            chosen = strategy["Tags"].isin([tag_text(k) for k in keywords])
            assert chosen.sum() == len(keywords), "every keyword needs a row"
            strategy.loc[chosen, ["Action", "Option"]] = [action, option]


        set_action(KEEP, "keep")
        set_action(SHIFT, "shiftDateByRandomNbOfDays")
        for keyword, action in IDS.items():
            set_action([keyword], action)

        custom_csv = strategy.to_csv(index=False)
        strategy_path = Path(OUTPUT) / "research_strategy.csv"
        strategy_path.parent.mkdir(parents=True, exist_ok=True)
        strategy_path.write_text(custom_csv, encoding="utf-8")
        display(strategy[rows])
        """),
        code("""
        from sparkdeid import StrategyError
        from sparkdeid.metadata.strategy import load_strategy

        load_strategy(custom_csv)  # what each executor does with it; fine
        bad = custom_csv.replace("patientHashId", "hashEverything", 1)
        try:
            load_strategy(bad)
        except StrategyError as exc:
            print("rejected:", exc)
        """),
        md("""
        ## Use it

        `setStrategyFile` takes a path the driver can read (or a profile name);
        `setStrategyFileContent` takes the CSV text itself and wins over the file.
        Either way the strategy is resolved on the driver and shipped to the
        executors with the stage.
        """),
        code("""
        from sparkdeid import DicomMetadataDeidentifier

        df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(INPUT)


        def stage(column):
            # keepInput: each stage reads `content`; its own error column
            return DicomMetadataDeidentifier(outputCol=column, errorCol=f"{column}_error",
                                             keepInput=True).setSecret(SECRET)


        profile = stage("by_profile").setStrategyFile(BASE_PROFILE)
        from_file = stage("custom").setStrategyFile(str(strategy_path))
        from_text = stage("custom_text").setStrategyFileContent(custom_csv)
        both = from_text.transform(from_file.transform(profile.transform(df))).cache()
        print(both.where("custom_error IS NOT NULL").count(), "errors;",
              both.where("custom <=> custom_text").count(), "of", both.count(),
              "files identical whether the strategy came as a file or as text")
        """),
        code("""
        import pydicom


        def header(data):
            return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


        def value(ds, keyword):
            return str(ds[keyword].value) if keyword in ds else "(removed)"


        SHOWN = ["PatientName", *CHANGED]
        table = []
        for r in both.orderBy("path").select("path", "content", "by_profile", "custom").collect():
            original, profiled, custom = (header(r[c]) for c in ("content", "by_profile", "custom"))
            for keyword in SHOWN:
                table.append({"file": r.path.rsplit("/", 2)[-2] + "/" + r.path.rsplit("/", 1)[-1],
                              "keyword": keyword, "original": value(original, keyword),
                              BASE_PROFILE: value(profiled, keyword),
                              "custom": value(custom, keyword)})
        table = pd.DataFrame(table)
        display(table[table["keyword"].isin(["PatientName", "PatientAge", "PatientID",
                                             "AccessionNumber", "StudyDate"])])
        """),
        md("""
        ## Write the custom results

        One file per input under `OUTPUT/custom/`, named after its study folder
        and file.
        """),
        code("""
        target = Path(OUTPUT) / "custom"
        for r in both.select("path", "custom").collect():
            study, name = r.path.rsplit("/", 2)[-2:]
            (target / study).mkdir(parents=True, exist_ok=True)
            (target / study / name).write_bytes(r.custom)
        print(sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()))
        both.unpersist();
        """),
    ],
)


# --------------------------------------------------------------------------
# 04: batch job over S3

NB04 = notebook(
    "Batch job over S3",
    """
    `run_batch` de-identifies every object under an `s3://` prefix into another
    prefix, writes a manifest with one row per input, and on a re-run skips what
    is already done. The driver lists the keys with boto3; each executor reads,
    de-identifies and writes its own files with boto3, so no file passes through
    the driver and Spark needs no S3 connector.
    """,
    f"""
    INPUT = os.environ.get("SPARKDEID_NB_INPUT", "s3://my-dicom-bucket/incoming")
    OUTPUT = os.environ.get("SPARKDEID_NB_OUTPUT", "s3://my-dicom-bucket/deidentified")
    STRATEGY = "tcia"
    METADATA_ONLY = True  # False: the full pipeline, burned-in text included (slower)
    SECRET = {DEMO_SECRET}
    """,
    [
        md("""
        ## Credentials, locally and on Databricks

        boto3 takes the usual credential chain (environment variables, `~/.aws`,
        an instance profile) and `AWS_ENDPOINT_URL` for an S3-compatible store
        (MinIO, or moto's server as the test suite uses). Executors need the same
        settings as the driver: environment variables set before Spark starts
        reach both locally; setting `os.environ` in a running notebook reaches the
        driver only.

        On **Databricks** there are two routes:

        - *This library's (used here):* boto3 on every node. A cluster with an
          instance profile needs nothing more; otherwise set `AWS_ACCESS_KEY_ID`
          and `AWS_SECRET_ACCESS_KEY` as cluster environment variables from a
          secret (`{{secrets/<scope>/<key>}}`). Where Unity Catalog governs the
          bucket, use a volume on an external location instead: a path such as
          `/Volumes/<catalog>/<schema>/<volume>/incoming` is an ordinary folder to
          `run_batch`, and Unity Catalog governs access.
        - *Spark's:* Databricks ships the S3 connector, so
          `spark.read.format("binaryFile").load("s3://...")` works with the
          instance profile or the `spark.hadoop.fs.s3a.*` settings
          (`aws.credentials.provider`, `access.key`/`secret.key`, `endpoint` and
          `path.style.access` for S3-compatible stores). Then run the stages on
          `content` as in notebook 01 and write the results yourself.
        """),
        code("""
        from sparkdeid import storage

        inputs = list(storage.list_s3(INPUT))
        print(len(inputs), "objects under", INPUT)
        for _path, relative, size in inputs[:10]:
            print(f"{size:>10,}  {relative}")
        """),
        md("""
        ## Build the model and run

        The batch job hands the stages paths, not bytes (`input_col="path"`); the
        full pipeline regroups frames by `path` and `relative_path`.
        """),
        code("""
        from sparkdeid import DicomMetadataDeidentifier, pipeline, schemas
        from sparkdeid.jobs.batch import RELPATH_COL, run_batch

        if METADATA_ONLY:
            pipe = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, strategy=STRATEGY)
        else:
            pipe = pipeline.full_pipeline(input_col=schemas.PATH_COL,
                                          agg_cols=(schemas.PATH_COL, RELPATH_COL),
                                          strategy=STRATEGY)
        for stage in pipe.getStages():
            if isinstance(stage, DicomMetadataDeidentifier):
                stage.setSecret(SECRET)  # in memory only: never saved with the pipeline
        model = pipe.fit(spark.createDataFrame([], "path string, relative_path string"))

        summary = run_batch(spark, INPUT, OUTPUT, model)
        print(f"{summary.total} inputs: {summary.ok} ok, {summary.errors} errors, "
              f"{summary.skipped} skipped, {summary.seconds:.1f} s")
        """),
        md("""
        ## The manifest

        `_manifest.csv` and `_manifest.parquet` sit at the top of `OUTPUT`: input and
        output path, `ok`/`error`, an error message without PHI, sizes and a hashed
        id. Failed inputs are copied to `OUTPUT/_quarantine/`.
        """),
        code("""
        import io

        import pydicom

        from sparkdeid.jobs.manifest import read_manifest

        manifest = read_manifest(OUTPUT)
        display(manifest[["input_path", "output_path", "status", "error", "output_bytes"]])
        done = manifest[manifest["status"] == "ok"].iloc[0]
        ds = pydicom.dcmread(io.BytesIO(storage.read_bytes(done["output_path"])),
                             stop_before_pixels=True)
        print("first output:", ds.get("PatientName"), ds.get("PatientID"),
              ds.get("PatientIdentityRemoved"))
        """),
        md("""
        ## Re-run

        Inputs whose manifest row is `ok` with the same size are skipped and keep
        their row; errors are retried; `overwrite=True` redoes everything.
        """),
        code("""
        again = run_batch(spark, INPUT, OUTPUT, model)
        print(f"re-run: {again.skipped} skipped, {again.ok} ok, {again.errors} errors, "
              f"{again.seconds:.1f} s")
        """),
    ],
    imports="import os",
)


# --------------------------------------------------------------------------
# 05: streaming over a landing folder

NB05 = notebook(
    "Streaming over a landing folder",
    """
    `run_stream` is a Structured Streaming query over a landing folder: each
    micro-batch de-identifies the files that arrived, writes them under their path
    relative to the landing folder, and writes its manifest rows to
    `_manifest/batch-<id>.csv` last. The checkpoint remembers what was done, so a
    query restarted on it (after a stop or a crash) carries on without losing or
    repeating a file. Here it runs with `once` and `available-now` triggers, which
    process what has landed and stop: a scheduled job needs nothing else.
    """,
    f"""
    SAMPLES = os.environ.get("SPARKDEID_NB_INPUT", str(Path("../samples/dicom").resolve()))
    WORK = os.environ.get(
        "SPARKDEID_NB_OUTPUT", os.path.join(tempfile.gettempdir(), "sparkdeid-notebooks", "05")
    )
    LANDING = os.path.join(WORK, "landing")
    OUTPUT = os.path.join(WORK, "out")
    CHECKPOINT = os.path.join(WORK, "checkpoint")  # keep it as long as the query lives
    RESET = True  # start from an empty WORK folder, so the demo can be re-run
    STRATEGY = "tcia"
    SECRET = {DEMO_SECRET}
    """,
    [
        code("""
        import shutil

        from sparkdeid import DicomMetadataDeidentifier, pipeline, schemas
        from sparkdeid.jobs.streaming import read_stream_manifest, relative_to, run_stream

        if RESET:
            shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(LANDING, exist_ok=True)

        pipe = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, strategy=STRATEGY)
        for stage in pipe.getStages():
            if isinstance(stage, DicomMetadataDeidentifier):
                stage.setSecret(SECRET)  # in memory only: never saved with the pipeline
        model = pipe.fit(spark.createDataFrame([], "path string, relative_path string"))
        """),
        md("""
        ## Landing files safely

        Spark skips names starting with `.` or `_`, so a file is copied under such a
        name and renamed when complete: the stream never reads half a file.
        """),
        code("""
        def land(source, relative):
            target = Path(LANDING) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name("_" + target.name)
            shutil.copyfile(source, partial)
            os.replace(partial, target)


        samples = sorted(p for p in Path(SAMPLES).rglob("*") if p.is_file())[:8]
        first, second = samples[:4], samples[4:]
        for path in first:
            land(path, path.relative_to(SAMPLES))
        print("landed", len(first), "files")
        """),
        md("""
        ## `once`: one micro-batch with everything landed so far
        """),
        code("""
        def show_manifest():
            manifest = read_stream_manifest(OUTPUT)
            manifest["file"] = [relative_to(LANDING, p) for p in manifest["input_path"]]
            manifest["output_bytes"] = manifest["output_bytes"].astype("Int64")
            display(manifest[["batch_id", "file", "status", "error", "output_bytes"]])
            return manifest


        query = run_stream(spark, LANDING, OUTPUT, CHECKPOINT, model, trigger="once")
        query.awaitTermination()
        show_manifest();
        """),
        md("""
        ## More files, then `available-now`

        Four more files and one that is not DICOM land. `available-now` processes
        only what the checkpoint has not seen, in batches of at most
        `max_files_per_trigger` files, then stops. The non-DICOM file becomes an
        `error` row and a copy under `_quarantine/`; the query goes on.
        """),
        code("""
        for path in second:
            land(path, path.relative_to(SAMPLES))
        notes = Path(WORK) / "notes.txt"
        notes.write_text("not a DICOM file\\n", encoding="utf-8")
        land(notes, "notes.txt")

        query = run_stream(spark, LANDING, OUTPUT, CHECKPOINT, model,
                           trigger="available-now", max_files_per_trigger=2)
        query.awaitTermination()
        manifest = show_manifest()
        print(manifest["status"].value_counts().to_dict(), "in",
              manifest["batch_id"].nunique(), "batches")
        """),
        code("""
        for path in sorted(Path(OUTPUT).rglob("*")):
            if path.is_file():
                print(path.relative_to(OUTPUT))
        """),
        md("""
        ## Running it for real

        - `trigger="interval:30"` keeps the query running, starting a batch every 30
          seconds; `query.stop()` ends it. With `available-now` on a schedule (a
          Databricks job) the cluster is only up while there is work.
        - Keep `CHECKPOINT` for the life of the query, on storage that survives the
          cluster (a volume on Databricks), and run one query per `OUTPUT`.
        - `sparkdeid stream --landing ... --output ... --checkpoint ...` is the same
          thing from the command line.
        """),
    ],
)

NOTEBOOKS = {
    "01_metadata_deidentification.ipynb": NB01,
    "02_full_pixel_pipeline.ipynb": NB02,
    "03_custom_strategy.ipynb": NB03,
    "04_s3_batch.ipynb": NB04,
    "05_streaming.ipynb": NB05,
}


def render(nb: NotebookNode) -> str:
    """The exact text written for ``nb`` (nbformat's own layout, trailing newline)."""
    return nbformat.writes(nb) + "\n"


def main() -> int:
    for name, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        (HERE / name).write_text(render(nb), encoding="utf-8")
        print("wrote", HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
