"""Keep PHI (and the secret) out of what other libraries log on our behalf.

sparkdeid's own messages name tags, counts and hashed file ids only. Two
libraries it drives do not:

* **pydicom** quotes element values when it meets a non-conformant one
  (``Invalid value for VR IS: 'SMITH^JOHN'``, ``Unable to convert 'x' to
  'DA'``), both as a ``pydicom`` log record and as a ``UserWarning`` that
  Python prints to stderr, which on an executor ends in its log.
  :func:`install_library_guards` (run when ``sparkdeid`` is imported, so on
  executors too) adds a filter to pydicom's loggers that replaces every
  quoted value in their records with ``<value withheld>``, and ignores
  pydicom's ``UserWarning`` s, which repeat those records word for word.
* **py4j** logs every command it sends to the JVM and every answer at
  DEBUG, including the pickled functions shipped to executors (base64),
  which carry the pseudonym secret, and any string argument. The import-time
  guard withholds those payloads (the record stays, with its length);
  :func:`quiet_debug_loggers` also keeps py4j at INFO, which the CLI does
  for ``-v``.

Both change only what these libraries print, never what they do.
"""

from __future__ import annotations

import logging
import re
import warnings

WITHHELD = "<value withheld>"
# a quoted value, as repr() and f"'{value}'" write it (bytes too): b'...', '...', "..."
_QUOTED = re.compile(r"""b?'(?:[^'\\]|\\.)*'|b?"(?:[^"\\]|\\.)*\"""")
_VALUE_QUOTING_LOGGERS = (
    "pydicom",
    "pydicom.pixels.decoders.base",
    "pydicom.pixels.encoders.base",
    "pydicom.pixels.utils",
)
_CHATTY_AT_DEBUG = ("py4j", "py4j.clientserver", "py4j.java_gateway")
_PAYLOAD_LOGGERS = ("py4j.clientserver", "py4j.java_gateway")
_PAYLOAD_PREFIXES = ("Command to send:", "Answer received:")


class WithholdQuotedValues(logging.Filter):
    """Rewrite a record so that every quoted value in its message is withheld."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its format string
            message = str(record.msg)
        record.msg = _QUOTED.sub(WITHHELD, message)
        record.args = None
        return True


class WithholdPayloads(logging.Filter):
    """Keep py4j's command/answer records, without the payload they print."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        for prefix in _PAYLOAD_PREFIXES:
            if message.startswith(prefix):
                record.msg = f"{prefix} {WITHHELD} ({len(message) - len(prefix)} characters)"
                record.args = None
        return True


def _add_once(name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def install_library_guards() -> None:
    """Withhold values from pydicom's and payloads from py4j's log records; drop
    pydicom's duplicate warnings.

    Idempotent; called at import so every executor process has it.
    """
    for name in _VALUE_QUOTING_LOGGERS:
        _add_once(name, WithholdQuotedValues)
    for name in _PAYLOAD_LOGGERS:
        _add_once(name, WithholdPayloads)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


def quiet_debug_loggers() -> None:
    """Keep loggers that print protocol payloads at DEBUG (py4j) at INFO."""
    for name in _CHATTY_AT_DEBUG:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
