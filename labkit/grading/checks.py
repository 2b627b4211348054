"""Running a lab's grading checks (declared with the lab, in ``labkit.labs``) on one submission."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.labs import Context, Lab

__all__ = ["CheckResult", "failed_checks", "run_checks"]


@dataclass
class CheckResult:
    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    done: bool = True  # a coding exercise: written (False: missing, or still its stub)


def run_checks(ctx: Context) -> list[CheckResult]:
    """Every check of ``ctx.lab``; a check that crashes fails with a message, never stops the batch."""
    out = []
    for check in ctx.lab.checks:
        try:
            passed, message = check.run(ctx)
        except Exception as exc:  # noqa: BLE001 - a check's own crash is that check's failure
            passed, message = False, f"could not be checked: {type(exc).__name__}"
        out.append(CheckResult(check.name, check.points if passed else 0, check.points, passed,
                               "" if passed else message))
    return out


def failed_checks(lab: Lab, message: str) -> list[CheckResult]:
    """Zero points on every check of ``lab`` (for a submission that could not be run)."""
    return [CheckResult(c.name, 0, c.points, False, message) for c in lab.checks]
