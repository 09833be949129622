"""Where the pseudonym secret comes from, resolved on the driver.

Sources, first found wins: an explicit value, a file, then an environment
variable (``SPARKDEID_SECRET`` by default). With none, a random secret is made
once per process and a warning says pseudonyms will not be reproducible.
Saved pipelines store only the source (file path or variable name), never
the secret itself.
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets

from sparkdeid.errors import SecretError

logger = logging.getLogger(__name__)

DEFAULT_SECRET_ENV = "SPARKDEID_SECRET"
_RUN_SECRET: bytes | None = None


def read_secret_file(path: str) -> bytes:
    """Read a secret file; surrounding whitespace (a trailing newline) is ignored."""
    try:
        with open(path, "rb") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise SecretError(f"cannot read the secret file ({type(exc).__name__})") from None
    if not value:
        raise SecretError("the secret file is empty")
    return value


def resolve_secret(
    value: str | bytes | None = None,
    path: str | None = None,
    env_var: str | None = DEFAULT_SECRET_ENV,
) -> tuple[bytes, bool]:
    """Return ``(secret, reproducible)``; ``reproducible`` is False for a random one."""
    global _RUN_SECRET
    if value:
        return (value.encode() if isinstance(value, str) else value), True
    if path:
        return read_secret_file(path), True
    if env_var and os.environ.get(env_var):
        return os.environ[env_var].encode(), True
    if _RUN_SECRET is None:
        _RUN_SECRET = _secrets.token_bytes(32)
        logger.warning(
            "No pseudonym secret given (value, secret file or $%s): using a random one for "
            "this run. UIDs, ids and date offsets will not match other runs.",
            env_var or DEFAULT_SECRET_ENV,
        )
    return _RUN_SECRET, False
