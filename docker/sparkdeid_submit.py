"""Entry point for spark-submit: ``spark-submit [spark options] sparkdeid_submit.py deid ...``.

spark-submit runs a Python *file*; this one hands its arguments to the
``sparkdeid`` command line, whose Spark session then uses the cluster,
master and settings spark-submit was given.
"""

import sys

from sparkdeid.cli import main

if __name__ == "__main__":
    sys.exit(main())
