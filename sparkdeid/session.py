"""Local SparkSession creation with the checks newcomers otherwise trip over.

Two traps are handled here: without Java, pyspark fails with a Py4J stack
trace that does not say "install Java 17"; and without ``PYSPARK_PYTHON``
the Python workers start the system interpreter, which lacks this package.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from sparkdeid.errors import JavaUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

MIN_JAVA = 17
_JAVA_HELP = (
    "Spark needs a Java {min}+ runtime. Install one (Debian/Ubuntu: "
    "`apt-get install openjdk-17-jre-headless`) and put `java` on PATH or set JAVA_HOME."
)


def java_executable() -> str | None:
    """Return the java binary Spark will use: JAVA_HOME first, like spark-submit."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("java")


def check_java(min_version: int = MIN_JAVA) -> int:
    """Return the Java major version, or raise with an install hint.

    Raises
    ------
    JavaUnavailableError
        When no java is found, it does not run, or it is older than ``min_version``.
    """
    java = java_executable()
    if java is None:
        raise JavaUnavailableError("No `java` found. " + _JAVA_HELP.format(min=min_version))
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaUnavailableError(
            f"`{java} -version` failed ({type(exc).__name__}). "
            + _JAVA_HELP.format(min=min_version)
        ) from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        raise JavaUnavailableError(
            f"Could not read the version of {java}. " + _JAVA_HELP.format(min=min_version)
        )
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < min_version:
        raise JavaUnavailableError(
            f"Found Java {major} at {java}. " + _JAVA_HELP.format(min=min_version)
        )
    return major


_SQL_DEFAULTS = {
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "64",
}


def launched_by_spark_submit() -> bool:
    """Whether this interpreter was started by spark-submit (which owns the JVM)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def local_session(
    master: str | None = None,
    app_name: str = "sparkdeid",
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """Return the active SparkSession, or build one that can run our stages.

    An already active session (a notebook's ``spark``) is reused untouched.
    Otherwise Java is checked first, the workers are pointed at this
    interpreter, and the UI is off so tests and batch jobs bind no port. The
    driver (which is also the executor in local mode) gets
    ``$SPARKDEID_DRIVER_MEMORY`` (default 4g) rather than Spark's 1g: a
    multi-frame file of a few hundred MB is held several times over while
    its frames are regrouped.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if launched_by_spark_submit() and not master:
        # spark-submit owns the JVM: its --master and --conf win; only unset SQL
        # settings get our defaults
        spark = SparkSession.builder.appName(app_name).getOrCreate()
        for key, value in {**_SQL_DEFAULTS, **(extra_conf or {})}.items():
            if spark.conf.get(key, None) is None:
                spark.conf.set(key, value)
        return spark
    builder = (
        SparkSession.builder.master(master or os.environ.get("SPARKDEID_MASTER", "local[*]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=WARN")
        .config("spark.driver.memory", os.environ.get("SPARKDEID_DRIVER_MEMORY", "4g"))
    )
    for key, value in {**_SQL_DEFAULTS, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def main() -> int:
    """``python -m sparkdeid.session``: check the Java runtime and say so."""
    try:
        major = check_java()
    except JavaUnavailableError as exc:
        print(f"sparkdeid: {exc}", file=sys.stderr)
        return 1
    print(f"sparkdeid: Java {major} found at {java_executable()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
