"""Where an output file goes under the output folder.

``relative`` keeps each input's path relative to the input folder, which is
what most users expect, but folder and file names often hold a patient's
name or record number and are released with the files. ``uids`` names each
output by the de-identified file's own Study / Series / SOP Instance UIDs
(already pseudonymised by the strategy), so nothing of the input path
survives; a file without those UIDs is named by a hash of its de-identified
bytes.
"""

from __future__ import annotations

import hashlib
import io
import re

import pydicom

LAYOUTS = ("relative", "uids")
_UID_TAGS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_UID_TEXT = re.compile(r"^[0-9.]{1,64}$")


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"output layout must be one of {LAYOUTS}")
    return layout


def output_name(layout: str, relative: str, data: bytes | None = None,
                path: str | None = None) -> str:
    """The output's path relative to the output folder.

    For ``uids`` the de-identified file is given as ``data`` or a local ``path``;
    only its header is read.
    """
    if check_layout(layout) == "relative":
        return relative
    source: io.BytesIO | str = io.BytesIO(data) if data is not None else str(path)
    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True, force=True,
                             specific_tags=list(_UID_TAGS))
        uids = [str(ds.get(keyword, "") or "").strip() for keyword in _UID_TAGS]
    except Exception:  # the output was written by us; unreadable means "no UIDs"
        uids = []
    if len(uids) == 3 and all(_UID_TEXT.match(u) for u in uids):
        return f"{uids[0]}/{uids[1]}/{uids[2]}.dcm"
    return f"unnamed/{_content_hash(data, path)}.dcm"


def _content_hash(data: bytes | None, path: str | None) -> str:
    digest = hashlib.sha256()
    if data is not None:
        digest.update(data)
    elif path is not None:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]
