"""Exercises: what a student writes in a lab notebook, and how it is checked (the notebook's side, ``check`` and
``exercise``, is ``labkit.student``).

The grader's side: ``probe`` (inside the sandboxed kernel, after the notebook ran) calls the student's functions
on hidden inputs and saves their raw outputs; ``labkit.grading.exercises`` compares them with labkit's reference
in the grader's own process. Each lab declares its exercises in its module in ``labkit.labs``.

Where each idea lives: ``_spec`` (``Exercise``, ``Checker``), ``_common`` (what the checkers share), and one
module per lab with its checkers (``attention_maps``, ``network_visualisation``, ``noise_fooling``,
``universal_masked_image``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from labkit.exercises._spec import Checker, Exercise

__all__ = ["Checker", "Exercise", "probe"]


def probe(name: str, namespace: Mapping[str, object], folder: str) -> None:
    """The grader's probe, run in the student's kernel after the notebook: exercise ``name``'s functions on the
    inputs in ``folder/inputs.npz``; their raw outputs to ``folder/outputs.npz`` and how it went to
    ``folder/status.json``: ``ok``, ``missing`` (no such function), ``not done`` (NotImplementedError), ``raised``
    (the student's code raised: its type only, never its message, which may show the hidden inputs), ``bad
    result`` (what it returned is not what the checker can read), ``no inputs``. Compares nothing: the grader
    does, outside.

    Against forgery: it first deletes ``outputs.npz`` and ``status.json`` (what the notebook wrote there counts
    for nothing), and the grader reads ``outputs.npz`` only where ``status.json`` says ok, never trusts a message
    from here, makes the inputs again and compares with labkit's reference in its own process. NOT prevented: the
    kernel is the student's, so a notebook can monkeypatch labkit itself (this function, a checker's ``run``) or
    leave a process that rewrites both files afterwards, and the student's function may call labkit's own
    implementation; all of these still need outputs that match the reference on the grader's hidden inputs.
    """
    from labkit import labs  # the grader's probe goes away with the clean room (issue 22)

    ex, out = labs.exercise(name), Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "outputs.npz", out / "status.json"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    found = {n: namespace[n] for n in ex.defines if callable(namespace.get(n))}
    functions, missing = found, [n for n in ex.defines if n not in found]
    status: dict = {"status": "ok"}
    try:
        with np.load(out / "inputs.npz", allow_pickle=False) as data:
            inputs = {k: data[k] for k in data.files}
    except Exception:  # noqa: BLE001 - removed or replaced by the notebook
        status, inputs = {"status": "no inputs"}, None
    if inputs is not None and missing:
        status = {"status": "missing", "missing": missing}
    elif inputs is not None:
        try:
            outputs = {k: np.asarray(v) for k, v in ex.checker.run(functions, inputs).items()}
            if any(v.dtype.kind == "O" for v in outputs.values()):
                raise TypeError("not an array of numbers")
            np.savez(out / "outputs.npz", **outputs)
        except NotImplementedError:
            status = {"status": "not done"}
        except Exception as exc:  # noqa: BLE001 - the student's function raised on the grader's inputs
            status = {"status": "bad result" if _raised_here(exc) else "raised", "error": type(exc).__name__}
    (out / "status.json").write_text(json.dumps(status))


def _raised_here(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in labkit.exercises (a checker reading a result), not in the student's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().parent == Path(__file__).resolve().parent
