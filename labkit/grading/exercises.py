"""Grading the students' own code: probe cells appended to the notebook run each coding exercise's functions on
hidden inputs in the student's kernel (``labkit.exercises.probe``); the grader then compares their raw outputs
with labkit's reference in its own process. Written answers are collected for the teacher, never run.

Trust: what the sandboxed kernel leaves (``status.json``, ``outputs.npz``, the executed notebook) is read as
hostile data: no symlinks followed, sizes capped, no pickles, the inputs made again here (never read back), a
message from the kernel never shown. See ``labkit.exercises.probe`` for what is NOT prevented.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from labkit.grading.checks import CheckResult
from labkit.labs import Lab

__all__ = ["add_probes", "answers", "answers_markdown", "coding", "exercise_seed", "failed_exercises",
           "grade_exercises", "lab_of", "written"]

OUTPUTS_LIMIT = 64 << 20  # bytes of a probe's outputs.npz, and of the arrays it holds once read
STATUS_LIMIT = 4096  # bytes of a probe's status.json
ANSWER_LIMIT = 20_000  # characters of one written answer kept for the teacher
_ERROR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,60}")


def coding(lab: Lab) -> list:
    """The lab's coding exercises (a checker each), in order."""
    return [e for e in lab.exercises if not e.written]


def written(lab: Lab) -> list:
    """The lab's written questions (graded by hand), in order."""
    return [e for e in lab.exercises if e.written]


def exercise_seed(seed: int, student: str, name: str) -> int:
    """The seed (32 bits) of one student's hidden inputs for exercise ``name``, from the grader's seed, the student
    and the exercise: each student gets other inputs, the same ones on every rerun; a hash that does not give
    the grader's seed back from the inputs it made."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}\0{student}\0{name}".encode()).digest()[:4], "big")


def lab_of(nb) -> str | None:
    """The lab a notebook says it belongs to (``metadata.labkit.lab``), or None (an older notebook)."""
    meta = nb.get("metadata", {}).get("labkit")
    lab = meta.get("lab") if isinstance(meta, dict) else None
    return None if lab is None else str(lab)


def add_probes(nb, lab: Lab, folder: str | os.PathLike, seed: int, student: str, timeout: float) -> dict:
    """Append to ``nb`` one probe cell per coding exercise of ``lab`` (metadata ``labkit.probe``/``timeout``),
    writing each one's hidden inputs to ``folder/<name>/inputs.npz``; returns ``{name: inputs}`` for
    ``grade_exercises`` (the grader keeps them: the ones in ``folder`` are the kernel's to read, or to spoil).
    Probe metadata already in the notebook is removed: only the grader's cells run outside its deadline."""
    import nbformat

    if nb.get("nbformat_minor", 5) < 5:  # cells without ids: the new cells would make it invalid
        nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.nbformat_minor)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("labkit")
        if isinstance(meta, dict):
            meta.pop("probe", None)
            meta.pop("timeout", None)
    folder = Path(folder)
    hidden = {}
    for ex in coding(lab):
        where = folder / ex.name
        where.mkdir(parents=True, exist_ok=True)
        made = ex.checker.inputs(exercise_seed(seed, student, ex.name))
        hidden[ex.name] = {k: np.asarray(v) for k, v in made.items()}
        np.savez(where / "inputs.npz", **hidden[ex.name])
        source = (f"# labkit grade: exercise {ex.name} on the grader's inputs\n"
                  "from labkit.exercises import probe as __labkit_probe\n"
                  f"__labkit_probe({ex.name!r}, globals(), {str(where)!r})")
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"labkit": {"probe": ex.name,
                                                                               "timeout": timeout}}))
    return hidden


def failed_exercises(lab: Lab, message: str) -> list[CheckResult]:
    """Zero points on every coding exercise of ``lab`` (a submission that could not be run)."""
    return [CheckResult(e.name, 0, e.points, False, message) for e in coding(lab)]


def grade_exercises(lab: Lab, folder: str | os.PathLike, executed_nb: str | os.PathLike | None,
                    inputs: Mapping[str, Mapping[str, np.ndarray]], stopped: str = "") -> list[CheckResult]:
    """One result per coding exercise (all its points or none): the probe's outputs in ``folder/<name>``,
    checked against labkit's reference on ``inputs`` (what ``add_probes`` returned) in this process.
    ``executed_nb`` says why a probe left nothing (it ran over its time, or never ran); ``stopped``: how the
    notebook ended (its status, said where a probe never ran)."""
    cells = _probe_cells(executed_nb)
    results = []
    for ex in coding(lab):
        passed, why = _grade_one(ex, Path(folder), cells.get(ex.name), inputs.get(ex.name), stopped)
        results.append(CheckResult(ex.name, ex.points if passed else 0, ex.points, passed,
                                   "" if passed else f"exercise {ex.name}{why}"))
    return results


def _grade_one(ex, folder: Path, cell, hidden, stopped: str) -> tuple[bool, str]:
    status = _read_json(folder, ex.name, "status.json")
    if status is None:
        return False, _why_no_status(ex, cell, stopped)
    kind = status.get("status")
    if kind == "missing":
        named = [n for n in status.get("missing", []) if n in ex.defines] or list(ex.defines)
        return False, f": no function {', '.join(named)}"
    if kind == "not done":
        return False, " is not done yet"
    if kind in ("raised", "bad result"):
        error = status.get("error")
        error = error if isinstance(error, str) and _ERROR_NAME.fullmatch(error) else "an error"
        if kind == "raised":
            return False, f": {', '.join(ex.defines)} raised {error} on the grader's inputs"
        return False, f": what {', '.join(ex.defines)} returned is not what was asked for ({error})"
    if kind == "no inputs":
        return False, " could not be tested: the notebook removed the grader's inputs"
    if kind != "ok" or hidden is None:
        return False, " could not be tested: its test left an unreadable report"
    outputs = _read_npz(folder, ex.name, "outputs.npz")
    if outputs is None:
        return False, " could not be tested: its results are unreadable"
    try:
        passed, message = ex.checker.grade({k: np.array(v) for k, v in hidden.items()}, outputs)
    except Exception as exc:  # noqa: BLE001 - a malformed output is the exercise's failure, not the grader's
        return False, f": its results have the wrong form ({type(exc).__name__})"
    return bool(passed), "" if passed else f": {_scrub(str(message), hidden)}"


def _why_no_status(ex, cell, stopped: str) -> str:
    """Why a probe left no status: it ran over its time, never ran (the notebook was stopped before), or the
    grader's cell itself failed."""
    if cell is not None:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") == "TimeoutError" for o in errors):
            seconds = cell.get("metadata", {}).get("labkit", {}).get("timeout")
            known = isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds < 1e6
            return f" ran over {seconds:g} s" if known else " ran over its time"
        if errors:
            return f" could not be tested ({_safe_name(errors[0].get('ename'))} in the grader's test)"
        if cell.get("execution_count") is not None:
            return " could not be tested: its test left no report"
    return f" was not tested: the notebook was stopped before its test (status: {stopped or 'unknown'})"


def _safe_name(name) -> str:
    return name if isinstance(name, str) and _ERROR_NAME.fullmatch(name) else "an error"


def _scrub(message: str, hidden: Mapping[str, np.ndarray]) -> str:
    """``message`` with every number that is one of the (small) hidden inputs' values masked: a checker's
    message must not tell a hidden input, whatever its author wrote."""
    values = set()
    for v in hidden.values():
        v = np.asarray(v)
        if v.size <= 64 and v.dtype.kind in "iuf":
            values.update(float(x) for x in v.ravel())

    def mask(m: re.Match) -> str:
        try:
            return "?" if float(m.group()) in values else m.group()
        except ValueError:
            return m.group()

    return re.sub(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", mask, message)[:500]


def _probe_cells(executed_nb) -> dict:
    """The grader's probe cells in the executed notebook, by exercise name (the first of each)."""
    if executed_nb is None or not Path(executed_nb).is_file():
        return {}
    import nbformat

    try:
        nb = nbformat.read(executed_nb, as_version=4)
    except Exception:  # noqa: BLE001 - written in the sandbox: may be anything
        return {}
    cells: dict = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("labkit")
        if isinstance(meta, dict) and isinstance(meta.get("probe"), str):
            cells.setdefault(meta["probe"], cell)
    return cells


def _read_untrusted(folder: Path, *parts: str, limit: int) -> bytes | None:
    """A regular file under ``folder`` (which the grader made) written by the sandbox, or None: no symlink
    followed on the way, no FIFO or device opened, at most ``limit`` bytes."""
    path = folder
    for part in parts[:-1]:
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return None
        except OSError:
            return None
    try:
        fd = os.open(path / parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None
    finally:
        os.close(fd)


def _read_json(folder: Path, name: str, file: str) -> dict | None:
    data = _read_untrusted(folder, name, file, limit=STATUS_LIMIT)
    try:
        record = json.loads(data) if data is not None else None
    except ValueError:
        return {}
    return record if isinstance(record, dict) or record is None else {}


def _read_npz(folder: Path, name: str, file: str) -> dict | None:
    """The arrays of an ``.npz`` written in the sandbox: no pickles, no more than ``OUTPUTS_LIMIT`` bytes once
    unpacked (a zip bomb is refused before it is read)."""
    data = _read_untrusted(folder, name, file, limit=OUTPUTS_LIMIT)
    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > OUTPUTS_LIMIT:
                return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception:  # noqa: BLE001 - not an npz, pickled objects, truncated...
        return None


def answers(nb, lab: Lab) -> dict[str, str]:
    """Each written question's answer in the SUBMITTED notebook: the markdown of its cells tagged ``kind:
    answer`` (joined; "" when none), at most ``ANSWER_LIMIT`` characters."""
    out = {}
    for ex in written(lab):
        parts = []
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("labkit")
            if isinstance(meta, dict) and meta.get("exercise") == ex.name and meta.get("kind") == "answer":
                source = cell.get("source", "")
                parts.append(("".join(source) if isinstance(source, list) else str(source)).strip())
        text = "\n\n".join(p for p in parts if p and p != _placeholder())
        out[ex.name] = text if len(text) <= ANSWER_LIMIT else text[:ANSWER_LIMIT] + "\n[... cut by the grader]"
    return out


def _placeholder() -> str | None:
    """The release command's text of an answer cell not answered yet (``labkit.assign``), where it exists."""
    try:
        from labkit.assign._master import ANSWER_TEXT
    except ImportError:
        return None
    return ANSWER_TEXT.strip()


def answers_markdown(lab: Lab, by_student: Sequence[tuple[str, Mapping[str, str]]]) -> str:
    """``answers-<lab>.md``: per written question, each student's answer in a fenced block (longer than any
    run of backticks in it), so that no answer can change the file's structure."""
    lines = [f"# Lab {lab.number}: written answers", "",
             "Graded by hand. Each answer is shown as the student wrote it (markdown source).", ""]
    for ex in written(lab):
        lines += [f"## {ex.name}: {ex.title} ({ex.points:g} points)", ""]
        for student, given in by_student:
            text = str(given.get(ex.name, "") or "")
            lines += [f"### {student}", ""]
            if not text.strip():
                lines += ["_(no answer)_", ""]
                continue
            fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
            lines += [f"{fence}markdown", text, fence, ""]
    return "\n".join(lines) + "\n"
