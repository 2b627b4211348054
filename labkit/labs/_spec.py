"""What a lab declares once: its parameters (default, help, check), its profile sizes, the key results it
records, its grading checks, its exercises and the parameters its notebook is graded with."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from labkit.errors import LabkitError, max_steps
from labkit.labs.golden import Result

PROFILES = ("quick", "standard", "full")  # CI; a student's CPU; the seeds' own scale, on a GPU
DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class Param:
    """One notebook parameter. ``check(value)`` returns the value to use (a list for a single name, say) or
    raises ``LabkitError``; ``sized``: ``None`` takes the profile's value; ``capped``: an iteration count
    that ``LABKIT_MAX_STEPS`` caps (``labkit.errors.max_steps``; the loop that takes it caps it again)."""

    name: str
    default: object
    help: str
    check: Callable[[object], object] | None = None
    sized: bool = False
    capped: bool = False

    def line(self) -> str:
        """The parameter's line in the notebook's ``parameters`` cell."""
        return f"{self.name} = {literal(self.default)}  # {self.help}"


@dataclass(frozen=True)
class Check:
    """One grading check: ``run(context) -> (passed, message)`` worth ``points``. A check of what the notebook
    merely recorded (keys present, numbers in range) is worth 0: its message helps the student, but a forged
    ``results.json`` must earn nothing; points go to what the grader observes or re-verifies itself.

    ``exercise`` and ``case``: the check runs that coding exercise's functions on a case of its own
    (``case(parameters) -> labkit.exercises.harness.Case``, from the lab's parameters as graded), in the
    exercise's clean room after its hidden cases; ``run`` finds the result in ``context.probed[name]``."""

    name: str
    points: float
    run: Callable
    exercise: str = ""
    case: Callable | None = None


@dataclass(frozen=True)
class Lab:
    """One lab: ``notebooks/<name>.ipynb``, its parameters, profiles, results and grading checks.

    ``prepare(values) -> dict``: the checks that span several parameters, and the values derived from them
    (one ``LabkitError`` before any heavy work); its results join the notebook's variables.
    """

    number: int
    name: str  # "01_attention_maps": the notebook's file name, the runner's and the report's lab name
    title: str
    params: tuple[Param, ...] = ()
    profiles: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    results: tuple[Result, ...] = ()
    checks: tuple[Check, ...] = ()
    exercises: tuple = ()  # labkit.exercises.Exercise: what a student writes (code) or answers (written)
    prepare: Callable[[dict], dict] | None = None
    graded_with: Mapping[str, object] = field(default_factory=lambda: {"profile": "quick",
                                                                        "model_name": "efficientnet_lite0"})

    # -- parameters -------------------------------------------------------------------------------
    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise LabkitError(f"{self.name} has no parameter {name!r}; its parameters: {', '.join(self.param_names)}")

    def settings(self, profile: str) -> dict:
        """The sizes of ``profile`` (a copy)."""
        return dict(self.profiles[check_profile(profile)])

    def resolve(self, values: Mapping[str, object]) -> dict:
        """Every parameter, from ``values`` (defaults for the ones missing): the profile's size where the value
        is ``None``, ``LABKIT_MAX_STEPS`` applied, each checked; then ``prepare``'s derived values."""
        unknown = [k for k in values if k not in self.param_names]
        if unknown:
            raise LabkitError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}; "
                              f"its parameters: {', '.join(self.param_names)}")
        out = {p.name: values.get(p.name, p.default) for p in self.params}
        sizes = self.settings(out.get("profile", DEFAULT_PROFILE))
        for p in self.params:
            value = sizes[p.name] if p.sized and out[p.name] is None else out[p.name]
            if p.capped and isinstance(value, int) and not isinstance(value, bool) and value > 0:
                value = max_steps(value)
            out[p.name] = p.check(value) if p.check else value
        if self.prepare is not None:
            out.update(self.prepare(out))
        return out

    def parameters_source(self) -> str:
        """The notebook's ``parameters`` cell, as papermill reads it: ``name = default  # help`` per line."""
        return "\n".join(p.line() for p in self.params)

    # -- results ----------------------------------------------------------------------------------
    def result(self, key: str) -> Result:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(f"{self.name} declares no result {key!r}")

    @property
    def result_keys(self) -> list[str]:
        return [r.key for r in self.results]

    @property
    def results_by_key(self) -> dict[str, Result]:
        return {r.key: r for r in self.results}

    @property
    def max_points(self) -> float:
        """The points the grader gives: the checks' and the coding exercises' (written answers are marked apart)."""
        return sum(c.points for c in self.checks) + sum(e.points for e in self.exercises if not e.written)


def check_profile(profile: str) -> str:
    """``profile`` if it is a known profile name, else one clear error."""
    if profile not in PROFILES:
        raise LabkitError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
    return profile


def literal(value) -> str:
    """A Python literal for a parameters cell: strings and lists in double quotes, as a person writes them."""
    if isinstance(value, (bool, type(None))) or not isinstance(value, (str, list, tuple, dict)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(literal(v) for v in value) + "]"
