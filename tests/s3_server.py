"""A real (moto) S3 server on 127.0.0.1 that Spark's Python workers can reach too.

Python workers are forked by a daemon that the JVM started with the driver's
environment *as it was when the session was created*, so setting
``os.environ`` afterwards does not reach them (checked: they still see the
old value). Spark keys its worker daemons by the function's environment,
which comes from ``SparkContext.environment`` ("environment variables to set
on worker nodes"); adding the AWS settings there makes the next job start a
fresh daemon that has them, whichever test created the session first.
Everything is restored on exit, so later tests get the old daemon back.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sparkdeid import storage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_s3(spark: Any | None = None) -> Iterator[str]:
    """Start moto's server, point boto3 (driver and workers) at it, yield its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    settings = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in settings}
    worker_env = spark.sparkContext.environment if spark is not None else {}
    worker_saved = {name: worker_env.get(name) for name in settings}
    os.environ.update(settings)
    worker_env.update(settings)
    storage.s3_client.cache_clear()
    try:
        yield settings["AWS_ENDPOINT_URL"]
    finally:
        for store, old in ((os.environ, saved), (worker_env, worker_saved)):
            for name, value in old.items():
                if value is None:
                    store.pop(name, None)
                else:
                    store[name] = value
        storage.s3_client.cache_clear()
        server.stop()
