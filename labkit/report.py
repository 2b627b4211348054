"""The HTML report of a ``labkit run``: each executed notebook exported with nbconvert, and an
``index.html`` that links them with each lab's key figures (the PNGs it saved in its ``out_dir``) and
key numbers (its ``results.json``, see ``labkit.results``).

nbconvert renders notebooks; the index page is the only HTML written here (a few lines of markup,
no template engine needed).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from labkit import results
from labkit.files import atomic_path

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h2 { border-top: 1px solid #ccc; padding-top: .8em; }
.ok, .passes, .answered { color: #176f2c; }
.failed, .timeout, .killed, .invalid, .rejected, .fails { color: #b00020; } .not-done, .not-answered { color: #9a5b00; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: .2em .5em; }
th { background: #f4f4f4; text-align: left; } td { vertical-align: top; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figure img { max-width: 34em; max-height: 26em; border: 1px solid #ddd; }
pre { margin: 0; white-space: pre-wrap; }
"""


def _write_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def export_html(notebook: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Export an executed notebook to HTML with nbconvert (written atomically)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    return _write_atomic(Path(target), body)


def key_numbers(outcome: Mapping) -> dict:
    """A lab's recorded results: its ``results.json``, else the values recorded in its executed notebook."""
    if outcome.get("out_dir"):
        path = Path(outcome["out_dir"]) / "results.json"
        if path.is_file():
            try:
                return results.read(path)
            except (OSError, ValueError):
                pass
    if outcome.get("notebook") and Path(outcome["notebook"]).is_file():
        return results.read(outcome["notebook"])
    return {}


def key_figures(outcome: Mapping) -> list[Path]:
    """The PNG files the lab saved in its ``out_dir``, by name."""
    folder = Path(outcome["out_dir"]) if outcome.get("out_dir") else None
    return sorted(folder.glob("*.png")) if folder and folder.is_dir() else []


ROWS = 40  # rows of a table (items of a list) shown; results.json has them all
_SCALAR = int | float | str | bool | None


def _value(v) -> str:
    """A recorded value as HTML: numbers and words, short lists inline, records and nested dicts as tables."""
    if isinstance(v, bool) or v is None:
        return html.escape(str(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int | str):
        return html.escape(str(v))
    if not v:
        return "<i>none</i>"
    if isinstance(v, list):
        if all(isinstance(x, _SCALAR) for x in v):
            more = f" &hellip; ({len(v) - ROWS} more)" if len(v) > ROWS else ""
            sentences = any(isinstance(x, str) and len(x) > 40 for x in v)  # one per line
            return ("<br>" if sentences else ", ").join(_value(x) for x in v[:ROWS]) + more
        if all(isinstance(x, Mapping) for x in v):  # records: one row each
            columns = list(dict.fromkeys(k for x in v for k in x))
            return _table(columns, [[x.get(c, "") for c in columns] for x in v])
        return _table([], [x if isinstance(x, list) else [x] for x in v])
    if all(isinstance(x, _SCALAR) for x in v.values()):
        if len(v) <= 8 and all(len(str(x)) <= 40 for x in v.values()):
            return ", ".join(f"{html.escape(str(k))}: {_value(x)}" for k, x in v.items())
        return _table([], [[k, x] for k, x in v.items()], header_column=True)
    if all(isinstance(x, Mapping) and all(isinstance(y, _SCALAR) for y in x.values()) for x in v.values()):
        rows = list(dict.fromkeys(k for x in v.values() for k in x))  # a DataFrame recorded as to_dict(): columns
        if not rows:
            return "<i>none</i>"
        return _table(["", *v], [[r, *(x.get(r, "") for x in v.values())] for r in rows], header_column=True)
    return _table([], [[k, x] for k, x in v.items()], header_column=True)


def _table(columns: Sequence, rows: Sequence[Sequence], header_column: bool = False) -> str:
    """An HTML table of ``rows`` (each cell rendered by ``_value``), at most ``ROWS`` of them."""
    head = "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>" if columns else ""
    body = []
    for row in rows[:ROWS]:
        cells = [f"<th>{_value(x)}</th>" if header_column and i == 0 else f"<td>{_value(x)}</td>"
                 for i, x in enumerate(row)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    if len(rows) > ROWS:
        body.append(f'<tr><td colspan="{max(len(columns), 2)}">&hellip; {len(rows) - ROWS} more rows '
                    "(results.json has them all)</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _rel(path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _lab_section(o: Mapping, out: Path) -> str:
    lab = html.escape(o["lab"])
    parts = [f'<h2 id="{lab}">{lab} <span class="{o["status"]}">{o["status"]}</span></h2>']
    links = []
    if o.get("html"):
        links.append(f'<a href="{html.escape(_rel(o["html"], out))}">notebook (HTML)</a>')
    if o.get("notebook"):
        links.append(f'<a href="{html.escape(_rel(o["notebook"], out))}">.ipynb</a>')
    took = f"{o['seconds']:.1f} s" if o["status"] != "rejected" else "not run"
    parts.append(f"<p>{took}{' &middot; ' if links else ''}{' &middot; '.join(links)}</p>")
    if o["status"] != "ok" and o.get("message"):
        parts.append(f'<p class="{o["status"]}">{html.escape(o["message"])}</p>')
    if o.get("exercises"):
        parts.append(_exercises(o["exercises"]))
    elif o.get("exercises_error"):
        parts.append(f'<p class="failed">exercises not checked: {html.escape(o["exercises_error"])}</p>')
    numbers = key_numbers(o)
    params = numbers.pop("params", None)
    for shown_apart in ("lab", "exercises"):
        numbers.pop(shown_apart, None)
    if params:
        shown = ", ".join(f"{k} = {_value(v)}" for k, v in params.items() if not isinstance(v, dict | list))
        parts.append(f"<p><small>parameters: {shown}</small></p>")
    if numbers:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_value(v)}</td></tr>" for k, v in numbers.items())
        parts.append(f"<table>{rows}</table>")
    for png in key_figures(o):
        src = html.escape(_rel(png, out))
        parts.append(f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(png.stem)}"></a>'
                     f"<figcaption>{html.escape(png.stem)}</figcaption></figure>")
    return "\n".join(parts)


def exercise_counts(exercises: Sequence[Mapping]) -> str:
    """"1/3 pass, 0/2 answered": a lab's coding exercises that pass their public checks, written ones answered."""
    coding = [e for e in exercises if e["kind"] == "coding"]
    written = [e for e in exercises if e["kind"] == "written"]
    parts = [f"{sum(e['status'] == 'passes' for e in coding)}/{len(coding)} pass" if coding else "",
             f"{sum(e['status'] == 'answered' for e in written)}/{len(written)} answered" if written else ""]
    return ", ".join(p for p in parts if p)


def _exercises(exercises: Sequence[Mapping]) -> str:
    """A lab's exercises: each one's status (``labkit check``) and what is wrong."""
    rows = []
    for e in exercises:
        css = e["status"].replace(" ", "-")
        notes = "<br>".join(html.escape(p) for p in e.get("problems", []))
        rows.append(f"<tr><th>{html.escape(e['name'])}</th><td>{html.escape(e['title'])}</td>"
                    f'<td class="{css}">{html.escape(e["status"])}</td><td>{notes}</td></tr>')
    return (f"<h3>Exercises: {exercise_counts(exercises)}</h3><table><tr><th></th><th>exercise</th><th>status</th>"
            f"<th>public checks</th></tr>{''.join(rows)}</table>")


def build(out: str | os.PathLike, outcomes: Sequence[Mapping], header: Mapping | None = None) -> Path:
    """Write ``out/index.html`` for the outcomes of a run (see ``labkit.runner.run``); returns its path."""
    out = Path(out)
    rows = []
    for o in outcomes:
        lab = html.escape(o["lab"])
        took = f"{o['seconds']:.1f} s" if o["status"] != "rejected" else "-"
        done = exercise_counts(o["exercises"]) if o.get("exercises") else ""
        rows.append(f'<tr><td><a href="#{lab}">{lab}</a></td><td class="{o["status"]}">{o["status"]}</td>'
                    f"<td>{took}</td><td>{done}</td></tr>")
    about = ", ".join(f"{k} {html.escape(str(v))}" for k, v in (header or {}).items())
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>labkit run</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>labkit run</h1>\n"
            f"<p>{datetime.now():%Y-%m-%d %H:%M}{', ' + about if about else ''}</p>\n"
            f"<table><tr><th>lab</th><th>status</th><th>time</th><th>exercises</th></tr>{''.join(rows)}</table>\n"
            + "\n".join(_lab_section(o, out) for o in outcomes) + "\n</body></html>\n")
    return _write_atomic(out / "index.html", page)
