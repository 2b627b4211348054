"""What a batch leaves in ``--out``: ``grades.csv`` (kept whole by ``labkit.grading.cluster``), one feedback file
per student (the checks' messages only, never their code or a hidden value) and ``summary.md``."""

from __future__ import annotations

from pathlib import Path

from labkit.execute import STATUSES
from labkit.files import atomic_path
from labkit.labs import Lab


def columns(lab: Lab) -> list[str]:
    """``grades.csv``'s columns: the status, each check's points, the total and its maximum, the sandbox."""
    return ["student", "status", "seconds", *[c.name for c in lab.checks], "total", "max", "sandbox"]


def write_feedback(outcomes: list, lab: Lab, out: Path) -> None:
    """``feedback/<student>.md`` for each outcome (``labkit.grading.one.Outcome``) and ``summary.md``."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    for o in outcomes:
        lines = [f"# Lab {lab.number}: feedback for {o.student}", "", f"Status: **{o.status}**", "",
                 f"Score: {o.total:g} / {lab.max_points:g}", ""]
        if o.message:
            lines += ["What happened when your notebook ran:", "", "```", o.message, "```", ""]
        lines += ["| check | points | message |", "|---|---|---|"]
        for c in o.checks:
            lines.append(f"| {c.name} | {c.points:g} / {c.max_points:g} | {'ok' if c.passed else c.message} |")
        _write(out / "feedback" / f"{o.student}.md", "\n".join(lines) + "\n")
    _write(out / "summary.md", summary(outcomes, lab))


def summary(outcomes: list, lab: Lab) -> str:
    """The batch in a page: statuses, each check's pass rate, the slowest notebooks, the sandbox."""
    unsandboxed = sum(not o.sandboxed for o in outcomes)
    lines = [f"# Lab {lab.number}: batch summary", "", f"{len(outcomes)} submissions: " +
             ", ".join(f"{s} {n}" for s in [*STATUSES, "error"] if (n := sum(o.status == s for o in outcomes))),
             "", "Sandbox: " + ("every notebook ran in the sandbox" if not unsandboxed else
                                f"{unsandboxed} notebook(s) ran WITHOUT a sandbox (--no-sandbox): resource "
                                "limits only"), "", "| check | pass rate |", "|---|---|"]
    for check in lab.checks:
        passed = sum(any(c.name == check.name and c.passed for c in o.checks) for o in outcomes)
        lines.append(f"| {check.name} | {passed}/{len(outcomes)} |")
    lines += ["", "Slowest notebooks:", ""]
    lines += [f"- {o.student}: {o.seconds:.1f} s ({o.status})" for o in sorted(outcomes, key=lambda o: -o.seconds)[:5]]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
