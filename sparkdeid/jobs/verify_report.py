"""The ``sparkdeid verify`` report: one self-contained HTML page to hand to a privacy officer.

Rendering only: every string goes through :func:`html.escape`, images are
inline ``data:image/png;base64`` URIs, the CSS and the one small script are
inline, and nothing is fetched from anywhere. Metadata values appear only
masked. Crops of original pixels (and of PHI read in output pixels) appear
only when the caller asked for them, and then a warning at the top says the
page holds PHI and must not be shared.
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from sparkdeid.jobs.verify import (
    STATUS_CLEAN,
    STATUS_LEAK,
    STATUS_MISSING,
    STATUS_QUARANTINED,
    FileResult,
    VerifyResult,
)

PHI_WARNING = (
    "This report contains PHI: it shows crops of the original images. "
    "Do not share it; delete it after review."
)
NO_ORIGINALS_NOTE = (
    "Original thumbnails were left out: only crops of the de-identified outputs are shown, "
    "and metadata values are masked."
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.summary td:first-child { font-weight: 600; }
.warning { background: #b00020; color: #fff; padding: 16px; font-size: 1.3em;
           font-weight: 700; border-radius: 6px; margin: 12px 0; }
.note { background: #e8f0fe; padding: 10px; border-radius: 6px; margin: 12px 0; }
.file { border: 1px solid #ddd; border-radius: 6px; padding: 12px; margin: 16px 0; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
         font-size: 0.85em; font-weight: 600; margin-left: 8px; }
.badge.clean { background: #2e7d32; } .badge.leak { background: #c62828; }
.badge.missing { background: #6d6d6d; } .badge.quarantined { background: #ef6c00; }
.badge.unverified { background: #6a1b9a; }
.thumbs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid #ddd; padding: 6px; background: #fafafa; }
figure img { display: block; image-rendering: pixelated; background: #000; max-width: 240px; }
figcaption { font-size: 0.8em; color: #555; margin-top: 4px; }
code { font-size: 0.9em; }
"""

_SCRIPT = """
(function () {
  function check() {
    var imgs = Array.prototype.slice.call(document.images);
    var loaded = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
    var pending = imgs.some(function (i) { return !i.complete; });
    document.body.dataset.imagesLoaded = loaded.length + "/" + imgs.length;
    if (pending) { setTimeout(check, 50); }
  }
  if (document.readyState === "complete") { check(); }
  else { window.addEventListener("load", check); }
})();
"""

_BADGE_CLASS = {
    STATUS_CLEAN: "clean",
    STATUS_LEAK: "leak",
    STATUS_MISSING: "missing",
    STATUS_QUARANTINED: "quarantined",
}


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def _box(box: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = box
    return f"x {x0}-{x1}, y {y0}-{y1}"


def _summary(result: VerifyResult) -> str:
    rows = [
        ("Files checked", result.files_checked),
        ("Files with findings", result.files_with_findings),
        ("Metadata findings", result.metadata_findings),
        ("Pixel findings", result.pixel_findings if result.pixels_scanned else "not scanned"),
        ("Missing outputs", result.missing),
        ("Quarantined (errors in the manifest)", result.quarantined),
        ("Could not be verified", result.unverified),
        ("Outputs without an original", result.extra_outputs),
    ]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    verdict = "PASS: no PHI found" if result.passed else "FAIL: see the files below"
    return (
        f'<h2 id="verdict">{escape(verdict)}</h2>'
        f'<table class="summary">{body}</table>'
    )


def _metadata_table(entry: FileResult) -> str:
    if not entry.metadata:
        return ""
    rows = "".join(
        "<tr>"
        f"<td><code>{escape(f.location)}</code></td>"
        f"<td><code>{escape(', '.join(f.sources))}</code></td>"
        f"<td>{escape(f.kind)}</td>"
        f"<td>{escape(f.match)}</td>"
        f"<td><code>{escape(f.masked)}</code></td>"
        "</tr>"
        for f in entry.metadata
    )
    return (
        "<h4>Metadata findings</h4><table><tr><th>Found in (output)</th>"
        "<th>Original attribute</th><th>Kind</th><th>Match</th><th>Value (masked)</th></tr>"
        f"{rows}</table>"
    )


def _pixel_table(entry: FileResult) -> str:
    if not entry.pixels:
        return ""
    rows = []
    for f in entry.pixels:
        crop = _img(f.crop_png, "PHI in output pixels") if f.crop_png else ""
        rows.append(
            f"<tr><td>{f.frame}</td><td>{escape(_box(f.box))}</td><td>{escape(f.label)}</td>"
            f"<td><code>{escape(f.masked)}</code></td><td>{crop}</td></tr>"
        )
    return (
        "<h4>Pixel findings (PHI read in the output)</h4><table><tr><th>Frame</th><th>Box</th>"
        "<th>Label</th><th>Text (masked)</th><th>Crop</th></tr>" + "".join(rows) + "</table>"
    )


def _masked(entry: FileResult, include_originals: bool) -> str:
    if not entry.masked:
        return ""
    figures = []
    for region in entry.masked:
        where = f"frame {region.frame}, {_box(region.box)}"
        parts = [f"<figure>{_img(region.after_png, 'after')}<figcaption>after: "
                 f"{escape(where)}</figcaption></figure>"]
        if include_originals and region.before_png is not None:
            parts.insert(0, f"<figure>{_img(region.before_png, 'before')}<figcaption>before: "
                            f"{escape(where)}</figcaption></figure>")
        figures.append("".join(parts))
    more = ""
    if entry.masked_total > len(entry.masked):
        more = f"<p>{entry.masked_total - len(entry.masked)} smaller regions not shown.</p>"
    return (
        f"<h4>Masked regions ({entry.masked_total})</h4>"
        f'<div class="thumbs">{"".join(figures)}</div>{more}'
    )


def _file(entry: FileResult, include_originals: bool) -> str:
    badge = _BADGE_CLASS.get(entry.status, "unverified")
    frames = ""
    if entry.frames_scanned:
        scanned = entry.frames_scanned
        which = ("frame " if len(scanned) == 1 else "frames ") + ", ".join(map(str, scanned))
        frames = f"<p>Read by OCR: {len(scanned)} ({escape(which)}, counted from 0)</p>"
    notes = "".join(f"<p>{escape(n)}</p>" for n in entry.notes)
    return (
        '<section class="file">'
        f"<h3><code>{escape(entry.relative_path)}</code>"
        f'<span class="badge {badge}">{escape(entry.status)}</span></h3>'
        f"{notes}{frames}{_metadata_table(entry)}{_pixel_table(entry)}"
        f"{_masked(entry, include_originals)}</section>"
    )


def render_report(result: VerifyResult, generated: dt.datetime | None = None) -> str:
    """The whole report page as one HTML string."""
    when = (generated or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    banner = (
        f'<div class="warning" id="phi-warning">{escape(PHI_WARNING)}</div>'
        if result.include_originals
        else f'<div class="note" id="no-originals">{escape(NO_ORIGINALS_NOTE)}</div>'
    )
    files = "".join(_file(f, result.include_originals) for f in result.files)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>sparkdeid verification report</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>sparkdeid verification report</h1><p>Generated {escape(when)}.</p>"
        f"{banner}{_summary(result)}{files}"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_report(result: VerifyResult, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render_report(result))
