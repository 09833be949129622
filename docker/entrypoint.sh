#!/bin/sh
# Run the sparkdeid command line through spark-submit, so --master, --conf and
# memory settings (SPARK_MASTER, SPARK_SUBMIT_OPTS or extra flags in
# SPARKDEID_SUBMIT_ARGS) reach Spark the usual way.
set -e
exec spark-submit --master "${SPARK_MASTER:-local[*]}" ${SPARKDEID_SUBMIT_ARGS:-} \
    /opt/sparkdeid/docker/sparkdeid_submit.py "$@"
