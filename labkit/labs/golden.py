"""How a lab's key results are compared with the stored reference, on any machine.

Optimisation loops are chaotic: iteration counts and third decimals move with the CPU's instruction
set, oneDNN and the thread count, whatever the seeds. So each result key a lab records declares a
``Tolerance`` that fits the quantity (labels and parameters exactly, probabilities and norms within an
absolute or relative margin, iteration counts within a band), and ``compare`` checks a fresh
``results.json`` against the reference under those tolerances. ``spread`` measures how far runs under
other numeric paths moved, which is what each tolerance is sized from (``scripts/check_portable.sh``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?%?")


@dataclass(frozen=True)
class Tolerance:
    """How one value is compared: ``exact``, ``close`` (numbers within ``abs + rel * |ref|``, anything else
    exactly), ``words`` (text compared with its numbers masked) or ``ignore`` (with the reason)."""

    kind: str = "exact"
    rel: float = 0.0
    abs: float = 0.0
    why: str = ""

    def accepts(self, ref, got) -> bool:
        if self.kind == "ignore":
            return True
        if self.kind == "words":
            return isinstance(ref, str) and isinstance(got, str) and _words(ref) == _words(got)
        if _missing(ref) or _missing(got):
            return _missing(ref) and _missing(got)
        if self.kind == "exact" or not _is_number(ref):  # close() compares the numbers, the rest exactly
            return ref == got and isinstance(ref, bool) == isinstance(got, bool)
        return _is_number(got) and abs(got - ref) <= self.abs + self.rel * abs(ref)

    def __str__(self) -> str:
        if self.kind == "close":
            parts = [f"abs {self.abs:g}" if self.abs else "", f"rel {self.rel:g}" if self.rel else ""]
            return "within " + " + ".join(p for p in parts if p)
        return self.kind + (f" ({self.why})" if self.why else "")


EXACT = Tolerance("exact")
WORDS = Tolerance("words")


def close(abs: float = 0.0, rel: float = 0.0, why: str = "") -> Tolerance:  # noqa: A002 - the natural name
    """Numbers within ``abs + rel * |reference|``."""
    if abs < 0 or rel < 0 or abs == rel == 0:
        raise ValueError("close() needs abs and/or rel > 0")
    return Tolerance("close", rel=rel, abs=abs, why=why)


def ignore(why: str) -> Tolerance:
    """Not compared; ``why`` says what makes it incomparable (a timing, a file name)."""
    return Tolerance("ignore", why=why)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _words(text: str) -> str:
    return " ".join(_NUMBER.sub("#", text).split())


@dataclass(frozen=True)
class Result:
    """One key result a lab records (``labkit.results.record(key, ...)``): what it is, and how the golden
    check compares it. ``golden`` is one ``Tolerance`` for every value inside the key, or a mapping from
    glob patterns over the path inside it (``"*.iterations"``; ``""`` for a plain value) to tolerances,
    the first match winning. A float that no pattern matches is an error: each number says its tolerance."""

    key: str
    help: str
    golden: Tolerance | Mapping[str, Tolerance] = EXACT

    def tolerance(self, path: str, value) -> Tolerance | None:
        if isinstance(self.golden, Tolerance):
            return self.golden
        for pattern, tol in self.golden.items():
            if fnmatch.fnmatchcase(path, pattern):
                return tol
        return None if isinstance(value, float) else EXACT


def leaves(value, path: str = "") -> Iterator[tuple[str, object]]:
    """``(path, leaf)`` pairs of a nested JSON value; paths join dict keys and list indices with dots."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}.{i}" if path else str(i))
    else:
        yield path, value


def compare(results: Mapping[str, Result], reference: Mapping, got: Mapping, limit: int = 40) -> list[str]:
    """Every difference between a fresh ``results.json`` (``got``) and the ``reference`` that its declared
    tolerances do not allow, one line each (at most ``limit``); an empty list means they agree.

    ``params`` is compared exactly; a key that the lab does not declare, or that only one side has, is a
    difference too (a new or renamed result needs its declaration and regenerated references).
    """
    problems: list[str] = []
    for key in sorted(set(reference) | set(got), key=lambda k: (k not in reference, k)):
        if key in ("lab", "params"):
            spec = Result(key, "", EXACT)
        elif key not in results:
            problems.append(f"{key}: recorded but not declared in the lab's results")
            continue
        else:
            spec = results[key]
        if key not in got:
            problems.append(f"{key}: missing (the reference has it)")
            continue
        if key not in reference:
            problems.append(f"{key}: not in the reference (regenerate: bash scripts/regen_golden.sh)")
            continue
        ref, new = dict(leaves(reference[key])), dict(leaves(got[key]))
        if ref.keys() != new.keys():
            only_ref, only_new = sorted(ref.keys() - new.keys()), sorted(new.keys() - ref.keys())
            problems.append(f"{key}: different entries; only in the reference: {_few(only_ref)}; "
                            f"only here: {_few(only_new)}")
            continue
        for path, r in ref.items():
            tol = spec.tolerance(path, r)
            where = f"{key}.{path}" if path else key
            if tol is None:
                problems.append(f"{where}: no tolerance declared for this number")
            elif not tol.accepts(r, new[path]):
                problems.append(f"{where}: {new[path]!r}, reference {r!r} ({tol})")
    return problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])


def _few(paths: list[str], n: int = 5) -> str:
    return ", ".join(paths[:n]) + (f" (+{len(paths) - n})" if len(paths) > n else "") if paths else "none"


def spread(reference: Mapping, runs: Mapping[str, Mapping]) -> dict[str, dict]:
    """Per numeric leaf path: the largest absolute and relative deviation from ``reference`` over ``runs``
    (name -> results), and which run deviated most; non-numeric leaves count as deviating when unequal."""
    ref = {f"{k}.{p}" if p else k: v for k, value in reference.items() for p, v in leaves(value)}
    out: dict[str, dict] = {}
    for name, run in runs.items():
        new = {f"{k}.{p}" if p else k: v for k, value in run.items() for p, v in leaves(value)}
        for path, r in ref.items():
            g = new.get(path, "<missing>")
            row = out.setdefault(path, {"reference": r, "abs": 0.0, "rel": 0.0, "run": None, "differs": False})
            if _is_number(r) and _is_number(g):
                d = abs(g - r)
                if d > row["abs"]:
                    row.update(abs=d, rel=d / abs(r) if r else math.inf, run=name)
            elif not (g == r or (_missing(g) and _missing(r))):
                row.update(differs=True, run=name)
    return out


def reference_path(golden_dir, lab_name: str):
    """Where the reference results of ``lab_name`` are stored beside its golden notebook."""
    from pathlib import Path

    return Path(golden_dir) / f"{lab_name}.results.json"
