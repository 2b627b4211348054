"""Planning a ``labkit run``: which labs, with which parameters, into which folders. Every check happens here,
before any notebook runs: the labs' parameters are checked against their declarations (``labkit.labs``), and a
notebook that is no declared lab (an instructor's own, in ``--notebooks DIR``) against its ``parameters`` cell."""

from __future__ import annotations

import ast
import difflib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from labkit import labs
from labkit.errors import LabkitError
from labkit.labs import literal, notebooks_dir

_WORDS = {"true": True, "false": False, "none": None, "null": None}


def find_notebooks(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Lab name -> notebook path, for every ``NN_name.ipynb`` in ``folder``, in order."""
    folder = Path(folder) if folder is not None else notebooks_dir()
    found = {p.stem: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    if not found:
        raise LabkitError(f"no lab notebooks (NN_name.ipynb) in {folder}; pass --notebooks DIR")
    return found


def resolve_lab(name: str, found: dict[str, Path]) -> str:
    """A lab's full name among the notebooks ``found``, from ``01``, ``1``, ``attention_maps`` or
    ``01_attention_maps`` (``labkit.labs.find_lab``)."""
    return labs.find_lab(name, found)


def parameters(name: str, path: Path) -> dict[str, tuple[str, str]]:
    """A notebook's parameters, name -> (default as written, help): its lab's declaration, else its
    ``parameters`` cell."""
    if name in labs.LABS:
        return {p.name: (literal(p.default), p.help) for p in labs.LABS[name].params}
    import papermill

    return {k: (v["default"], v["help"]) for k, v in papermill.inspect_notebook(str(path)).items()}


def parse_value(text: str):
    """A ``-p`` value: a Python literal (int, float, bool, None, list, dict, quoted str), else the string itself.

    ``true``/``false``/``none``/``null`` are accepted in lower case too; tuples become lists.
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        word = text.strip().lower()
        return _WORDS[word] if word in _WORDS else text
    return _lists(value)


def _lists(value):
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, set | frozenset | complex | bytes):
        raise LabkitError(f"-p value {value!r}: sets, bytes and complex numbers cannot be notebook parameters")
    return value


def parse_assignment(text: str) -> tuple[str | None, str, object]:
    """``[LAB:]key=value`` -> (LAB or None, key, typed value)."""
    left, eq, raw = text.partition("=")
    lab, _, key = left.rpartition(":")
    key = key.strip()
    if not eq or not key.isidentifier():
        raise LabkitError(f"-p {text!r}: expected key=value or LAB:key=value, e.g. -p seed=1 -p 01:n_images=2")
    return (lab.strip() or None), key, parse_value(raw)


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it, or raise one clear error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
        raise LabkitError(f"cannot write to output folder {folder}: {why or exc}") from None


def _unknown(names: Iterable[str], declared: Sequence[str]) -> str:
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, declared, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(parts)


def _split(params: Sequence[str], found: dict[str, Path], chosen: list[str]) -> tuple[dict, dict]:
    """``-p`` assignments as (for every lab that declares the key, per lab)."""
    common: dict[str, object] = {}
    per_lab: dict[str, dict[str, object]] = {lab: {} for lab in chosen}
    for text in params:
        lab, key, value = parse_assignment(text)
        if lab is None:
            common[key] = value
            continue
        lab = resolve_lab(lab, found)
        if lab not in per_lab:
            raise LabkitError(f"-p {text!r}: lab {lab} is not among the labs to run ({', '.join(chosen)})")
        per_lab[lab][key] = value
    if "out_dir" in common:
        raise LabkitError("-p out_dir: each lab has its own; use --out DIR, or -p LAB:out_dir=DIR for one lab")
    return common, per_lab


def plan(names: Sequence[str] = (), *, model: str = "auto", profile: str = labs.DEFAULT_PROFILE,
         params: Sequence[str] = (), out: str | os.PathLike = "labkit-out", timeout: float | None = None,
         notebooks: str | os.PathLike | None = None) -> list[dict]:
    """One job per selected lab (a rejected one carries ``status`` and ``message``); raises LabkitError for
    run-wide mistakes. ``params`` are ``key=value`` strings (every selected lab that declares ``key`` gets it;
    a key no selected lab declares is an error) or ``LAB:key=value`` (that lab only; a key it does not declare,
    or a value its declaration refuses, rejects that lab, and the others still run)."""
    from labkit import models

    labs.check_profile(profile)
    models.spec(model)
    if timeout is not None and timeout <= 0:
        raise LabkitError(f"--timeout must be a positive number of seconds, got {timeout}")
    found = find_notebooks(notebooks)
    chosen = list(dict.fromkeys(resolve_lab(name, found) for name in names)) or list(found)
    common, per_lab = _split(params, found, chosen)
    declared, unreadable = {}, {}
    for lab in chosen:
        try:
            declared[lab] = parameters(lab, found[lab])
        except Exception as exc:  # noqa: BLE001 - a broken notebook is that lab's failure, not the run's
            declared[lab], unreadable[lab] = {}, f"cannot read the notebook {found[lab]}: {exc}"
    nowhere = [key for key in common if not any(key in d for d in declared.values())]
    if nowhere:
        every = sorted(set().union(*declared.values()))
        raise LabkitError(f"unknown parameter {_unknown(nowhere, every)}: no lab to run declares it. "
                          f"Parameters: {', '.join(every)} (see labkit run --list)")
    out = Path(out).expanduser().absolute()
    check_writable(out)
    return [_job(lab, found[lab], declared[lab], unreadable.get(lab), common, per_lab[lab], out, profile, model,
                 timeout) for lab in chosen]


def _job(lab, src, names, unreadable, common, own, out, profile, model, timeout) -> dict:
    own_dir = out / lab
    given: dict[str, object] = {"profile": profile, "model_name": model, "out_dir": str(own_dir)}
    given = {k: v for k, v in given.items() if k in names}
    given.update({k: v for k, v in common.items() if k in names})
    given.update(own)
    job = {"lab": lab, "src": str(src), "notebook": str(out / f"{lab}.ipynb"), "html": str(out / f"{lab}.html"),
           "params": given, "timeout": timeout, "cwd": os.getcwd(), "out_dir": None, "own_out_dir": False}
    try:
        if unreadable:
            raise LabkitError(unreadable)
        bad = [k for k in own if k not in names]
        if bad:
            raise LabkitError(f"unknown parameter {_unknown(bad, list(names))} for {lab}; "
                              f"its parameters: {', '.join(names)}")
        if lab in labs.LABS:
            labs.LABS[lab].resolve(given)  # every value checked against its declaration, before anything runs
        elif "profile" in given:
            labs.check_profile(given["profile"])
        if "out_dir" in given:
            target = Path(str(given["out_dir"])).expanduser().absolute()
            given["out_dir"] = str(target)
            job["out_dir"], job["own_out_dir"] = str(target), target == own_dir
            check_writable(target)
    except LabkitError as exc:
        job = {**job, "status": "rejected", "message": str(exc)}
    return job
