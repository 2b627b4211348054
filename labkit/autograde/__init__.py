"""labkit's labs in the grading tools instructors already run: otter-grader 7 and nbgrader 0.9
(``labkit assign --format otter`` / ``--format nbgrader``), and here what their tests call in the grading kernel:

- ``public("4.1", globals())``: the self-check a student runs (``labkit.student.check``) on the kernel's
  functions; an ``AssertionError`` that says what is wrong, never an expected answer;
- ``hidden("4.1", seed=S)``: the points earned on the exercise's hidden cases in labkit's clean room
  (``labkit.grading.cleanroom``): the exercise's code is cut out of the cells this kernel ran (IPython's input
  history: what otter or nbgrader executed) and run in a fresh interpreter without labkit's own implementation
  of the exercise, sandboxed where a sandbox can start on the grading machine (``sandbox_support``); where none
  can, with resource limits only, and the message ``hidden`` prints or raises says so and why. Each case passed
  earns its share of the exercise's declared points.
  ``at_least=k``: an ``AssertionError`` unless k cases pass (otter scores test cases one by one: test k of N is
  worth points / N, so the sum is the same partial credit).

These run in the student's kernel, after the student's code: unlike ``labkit grade``, nothing stops that code from
patching them, and every student of a release gets the same hidden cases (one seed, written into the tests).

Where each idea lives: ``kernel`` the kernel's side; ``otter`` and ``nbgrader`` the exports; ``_export`` what they share
(the released lab as one sequence of cells, the tests' code).
"""

from __future__ import annotations

from collections.abc import Callable

from labkit.autograde.kernel import MEMORY_MB, STUDENT, TIMEOUT, cases, hidden, public

__all__ = ["MEMORY_MB", "STUDENT", "TIMEOUT", "cases", "exporters", "hidden", "public"]


def exporters() -> dict[str, Callable]:
    """``labkit assign --format NAME``'s writers: ``name -> export(masters, out, seed=)``."""
    from labkit.autograde import nbgrader, otter

    return {"otter": otter.export, "nbgrader": nbgrader.export}
