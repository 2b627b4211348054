"""Grading the students' own work: each coding exercise tested in a clean room on hidden cases
(``labkit.grading.cleanroom``), the written answers collected for the teacher (never run), and which lab a
notebook is, judged by its content as well as its metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from labkit import labs
from labkit.assign import ANSWER_TEXT
from labkit.grading import cleanroom
from labkit.grading.checks import CheckResult
from labkit.labs import Lab

__all__ = ["answers", "answers_markdown", "coding", "failed_exercises", "grade_exercises", "wrong_lab",
           "written"]

ANSWER_LIMIT = 20_000  # characters of one written answer kept for the teacher


def coding(lab: Lab) -> list:
    """The lab's coding exercises (a checker each), in order."""
    return [e for e in lab.exercises if not e.written]


def written(lab: Lab) -> list:
    """The lab's written questions (graded by hand), in order."""
    return [e for e in lab.exercises if e.written]


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def wrong_lab(nb, lab: Lab) -> str:
    """Why notebook ``nb`` is not graded as ``lab`` ("" when it is): its metadata or its content is another lab."""
    for found in labs.lab_of_notebook(nb):
        if found is not None and found != lab.name:
            other = labs.LABS.get(found)
            what = f"lab {other.number} ({other.name})" if other else repr(found)
            return f"this is the notebook of {what}, not lab {lab.number} ({lab.name})"
    return ""


def failed_exercises(lab: Lab, message: str) -> list[CheckResult]:
    """Zero points on every coding exercise of ``lab`` (a submission that could not be run)."""
    return [CheckResult(e.name, 0, e.points, False, message, done=False) for e in coding(lab)]


def grade_exercises(nb, lab: Lab, params: Mapping, *, seed: int, student: str, timeout: float, memory_mb: int,
                    sandbox: bool = True, files=None, data: Sequence[str] = (), hidden: Sequence[str] = (),
                    env=None) -> tuple[list[CheckResult], dict]:
    """Every coding exercise of ``lab`` in ``nb`` (the submitted notebook), each in its clean room; returns the
    results and, per lab check that runs a student's function on a case of its own (``Check.case``), that case
    and its result (``labkit.labs.Context.probed``)."""
    results, probed = [], {}
    for ex in coding(lab):
        mine = [c for c in lab.checks if c.exercise == ex.name and c.case is not None]
        extra = []
        for check in mine:
            try:
                extra.append(check.case(params))
            except Exception:  # noqa: BLE001 - the lab's own case cannot be made: that check fails, not the batch
                extra.append(None)
        result, outs = cleanroom.grade_exercise(
            ex, nb, seed=seed, student=student, timeout=timeout, memory_mb=memory_mb, sandbox=sandbox, files=files,
            data=data, hidden=hidden, env=env, extra=[c for c in extra if c is not None])
        outs = iter(outs)
        probed.update({check.name: (case, next(outs) if case is not None else None)
                       for check, case in zip(mine, extra, strict=True)})
        results.append(result)
    return results, probed


def answers(nb, lab: Lab) -> dict[str, str]:
    """Each written question's answer in the SUBMITTED notebook: the markdown of its cells tagged ``kind:
    answer`` (joined; "" when none), at most ``ANSWER_LIMIT`` characters."""
    out = {}
    for ex in written(lab):
        parts = []
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("labkit")
            if isinstance(meta, dict) and meta.get("exercise") == ex.name and meta.get("kind") == "answer":
                parts.append(_source(cell).strip())
        text = "\n\n".join(p for p in parts if p and p != ANSWER_TEXT.strip())
        out[ex.name] = text if len(text) <= ANSWER_LIMIT else text[:ANSWER_LIMIT] + "\n[... cut by the grader]"
    return out


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
