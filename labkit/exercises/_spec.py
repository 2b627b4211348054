"""What an exercise is: its name, points, the functions a student writes, and how they are checked.

A coding exercise's ``Checker`` says how to check the student's functions twice: ``public`` (the self-check
a student runs: seen inputs on a tiny model, messages that say what is wrong, never the expected answer),
and the grader's hidden test, in three steps that never trust the student's process: ``inputs(seed)``
(unseen inputs, made by the grader), ``run(functions, inputs)`` (inside the sandboxed kernel: the student's
functions on those inputs, raw outputs only) and ``grade(inputs, outputs)`` (in the grader's own process:
labkit's reference on the same inputs, compared under a tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Arrays = dict[str, np.ndarray]


class Checker:
    """How one coding exercise is checked (see the module's docstring). ``public`` returns the problems found
    (empty: none); ``grade`` returns ``(passed, message)``, the message naming what failed, never a hidden input
    or an expected value."""

    def public(self, functions: Mapping[str, Callable]) -> list[str]:
        raise NotImplementedError

    def inputs(self, seed: int) -> Arrays:
        raise NotImplementedError

    def run(self, functions: Mapping[str, Callable], inputs: Arrays) -> Arrays:
        raise NotImplementedError

    def grade(self, inputs: Arrays, outputs: Arrays) -> tuple[bool, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Exercise:
    """A coding exercise (``checker``), or a written question (``checker`` None: graded by hand)."""

    name: str  # "2.2": the lab's number, then the exercise's
    title: str
    points: float
    defines: tuple[str, ...] = ()  # the functions (or classes) the student writes
    checker: Checker | None = None

    @property
    def written(self) -> bool:
        return self.checker is None

    @property
    def lab_number(self) -> int:
        return int(self.name.split(".", 1)[0])
