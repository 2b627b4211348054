"""What a batch leaves in ``--out``: ``grades.csv`` (kept whole by ``labkit.grading.cluster``), one feedback file
per student (the checks' and exercises' messages only, never their code or a hidden value), ``summary.md`` and
``answers-<lab>.md`` (the written answers, for the teacher)."""

from __future__ import annotations

from pathlib import Path

from labkit.execute import STATUSES
from labkit.files import atomic_path
from labkit.grading.exercises import answers_markdown, coding, written
from labkit.labs import Lab


def columns(lab: Lab) -> list[str]:
    """``grades.csv``'s columns: the status, each check's points, each coding exercise's points, one empty column
    per written question (for the teacher), the total (checks and coding exercises) and its maximum, the
    sandbox."""
    return ["student", "status", "seconds", *[c.name for c in lab.checks], *[e.name for e in coding(lab)],
            *[e.name for e in written(lab)], "total", "max", "sandbox"]


def write_feedback(outcomes: list, lab: Lab, out: Path) -> None:
    """``feedback/<student>.md`` for each outcome (``labkit.grading.one.Outcome``), ``summary.md``, and
    ``answers-<lab>.md`` where the lab has written questions."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    titles = {e.name: e.title for e in lab.exercises}
    by_hand = written(lab)
    for o in outcomes:
        lines = [f"# Lab {lab.number}: feedback for {o.student}", "", f"Status: **{o.status}**", "",
                 f"Score: {o.total:g} / {lab.max_points:g}"
                 + (f" (and the written questions, {sum(e.points for e in by_hand):g} points, graded by your "
                    "teacher)" if by_hand else ""), ""]
        if o.message:
            lines += ["What happened when your notebook ran:", "", "```", o.message.replace("`", "'"), "```", ""]
        lines += ["| check | points | message |", "|---|---|---|"]
        for c in o.checks:
            lines.append(_row(c.name, c))
        for e in o.exercises:
            lines.append(_row(f"exercise {e.name}: {titles.get(e.name, '')}", e))
        if by_hand:
            lines += ["", "Written questions, graded by your teacher:", ""]
            lines += [f"- {e.name}: {e.title} ({e.points:g} points)" for e in by_hand]
        _write(out / "feedback" / f"{o.student}.md", "\n".join(lines) + "\n")
    _write(out / "summary.md", summary(outcomes, lab))
    if by_hand:
        _write(out / f"answers-{lab.name}.md", answers_markdown(lab, [(o.student, o.answers) for o in outcomes]))


def _row(name: str, result) -> str:
    message = "ok" if result.passed else _cell(result.message)
    return f"| {_cell(name)} | {result.points:g} / {result.max_points:g} | {message} |"


def _cell(text: str) -> str:
    """Text that stays inside one cell of a markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def summary(outcomes: list, lab: Lab) -> str:
    """The batch in a page: statuses, each check's and coding exercise's pass rate, the slowest notebooks, the
    sandbox."""
    unsandboxed = sum(not o.sandboxed for o in outcomes)
    lines = [f"# Lab {lab.number}: batch summary", "", f"{len(outcomes)} submissions: " +
             ", ".join(f"{s} {n}" for s in [*STATUSES, "error"] if (n := sum(o.status == s for o in outcomes))),
             "", "Sandbox: " + ("every notebook ran in the sandbox" if not unsandboxed else
                                f"{unsandboxed} notebook(s) ran WITHOUT a sandbox (--no-sandbox): resource "
                                "limits only"), "", "| check | pass rate |", "|---|---|"]
    for check in lab.checks:
        passed = sum(any(c.name == check.name and c.passed for c in o.checks) for o in outcomes)
        lines.append(f"| {check.name} | {passed}/{len(outcomes)} |")
    if coding(lab):
        lines += ["", "| exercise | pass rate |", "|---|---|"]
        for ex in coding(lab):
            passed = sum(any(e.name == ex.name and e.passed for e in o.exercises) for o in outcomes)
            lines.append(f"| {ex.name}: {_cell(ex.title)} | {passed}/{len(outcomes)} |")
    if written(lab):
        lines += ["", f"Written questions ({', '.join(e.name for e in written(lab))}): graded by hand, see "
                  f"answers-{lab.name}.md; their columns in grades.csv are left empty."]
    lines += ["", "Slowest notebooks:", ""]
    lines += [f"- {o.student}: {o.seconds:.1f} s ({o.status})" for o in sorted(outcomes, key=lambda o: -o.seconds)[:5]]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
