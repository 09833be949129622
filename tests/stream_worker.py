"""Child process for tests/spark/test_streaming.py: run the landing-folder stream once.

Run as ``python tests/stream_worker.py LANDING OUTPUT CHECKPOINT SECRET_FILE``.
``STREAM_WORKER_ROW_DELAY`` (seconds) slows every file down inside its task,
so the test can SIGKILL this process while a batch is half written.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pandas as pd
from pyspark.ml import PipelineModel, Transformer
from pyspark.sql import DataFrame

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sparkdeid import schemas  # noqa: E402
from sparkdeid.jobs.streaming import process_landed  # noqa: E402
from sparkdeid.pipeline import metadata_pipeline  # noqa: E402
from sparkdeid.session import local_session  # noqa: E402


class SlowRows(Transformer):
    """Passes rows through, sleeping per row: stands in for slow OCR."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def _transform(self, dataset: DataFrame) -> DataFrame:
        delay = self.delay

        def sleep(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for pdf in batches:
                time.sleep(delay * len(pdf))
                yield pdf

        return dataset.mapInPandas(sleep, dataset.schema)


def main(argv: list[str]) -> int:
    landing, output, checkpoint, secret_file = argv
    spark = local_session("local[1]", app_name="sparkdeid-stream-worker",
                          # one row per Arrow batch: files are written one by one,
                          # so the test's kill lands between two writes of a batch
                          extra_conf={"spark.driver.memory": "1g",
                                      "spark.sql.execution.arrow.maxRecordsPerBatch": "1"})
    empty = spark.createDataFrame([], "path string, relative_path string")
    model = metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                              secret_file=secret_file).fit(empty)
    delay = float(os.environ.get("STREAM_WORKER_ROW_DELAY", "0"))
    stages = [SlowRows(delay), *model.stages] if delay > 0 else model.stages
    manifest = process_landed(spark, landing, output, checkpoint, PipelineModel(stages),
                              trigger="available-now", max_files_per_trigger=4)
    print(f"worker: {len(manifest)} manifest rows", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
