"""What an exercise is: its name, points, the functions a student writes, how they are checked, and which of
labkit's own functions implement it (left out where the grader tests the student's code).

A coding exercise's ``Checker`` checks the student's functions twice:

- ``public(functions)``: the self-check a student runs (``labkit.student.check``): seen inputs on a tiny model,
  messages that say what is wrong, never the expected answer;
- ``cases(seed)`` and ``grade(case, outputs)``: the grader's hidden test. ``cases`` draws several unseen cases
  from the seed, the exercise's edges among them (a window cut by the border, a target already predicted, each
  branch of a flag); the grader's clean room calls the student's functions on them (``labkit.exercises.harness``,
  never in the student's kernel), and ``grade`` compares each case's outputs with labkit's reference in the
  grader's own process: ``""`` when right, else what is wrong, in words that name no hidden value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # not imported at run time: ``python -m labkit.exercises.harness`` must import it first
    from labkit.exercises.harness import Case

Arrays = dict[str, np.ndarray]


class Checker:
    """How one coding exercise is checked (see the module's docstring)."""

    def public_cases(self) -> list[Case]:
        """The self-check's cases: fixed inputs, on a tiny model."""
        raise NotImplementedError

    def public(self, functions: Mapping[str, Callable]) -> list[str]:
        """The self-check: the first problem over the public cases, in words that may name their values."""
        from labkit.exercises.harness import call_case

        for case in self.public_cases():
            problem = self.grade(case, call_case(functions, case), public=True)
            if problem:
                return [problem]
        return []

    def cases(self, seed: int) -> list[Case]:
        raise NotImplementedError

    def grade(self, case: Case, outputs: Arrays, public: bool = False) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Exercise:
    """A coding exercise (``checker``), or a written question (``checker`` None: graded by hand).

    ``reference``: labkit's own functions that implement the exercise (``"labkit.attacks.fooling_images"``): the
    grader's clean room replaces them by stubs that raise ``labkit.errors.Unavailable``, and a submission whose
    exercise code names one gets no points for it."""

    name: str  # "2.2": the lab's number, then the exercise's
    title: str
    points: float
    defines: tuple[str, ...] = ()  # the functions (or classes) the student writes
    checker: Checker | None = None
    reference: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        return self.checker is None

    @property
    def lab_number(self) -> int:
        return int(self.name.split(".", 1)[0])
