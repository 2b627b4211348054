"""How a student's functions are called on a test case: each exercise's calling convention, the cases' encoding,
and the clean room's runner. Nothing here knows an answer: the grader's package view ships this module and leaves
out the checkers (and labkit's own implementation of the exercise under test).

A ``Case`` is one call: which convention (``CALLS``), its arguments (arrays, numbers, strings, tuples, and
``Model`` placeholders built where the call runs) and what it is about, in words. ``run_cases`` calls a student's
functions on cases and returns, per case, ``("ok", outputs)`` (a dict of arrays) or a status:

- ``missing``: a function the exercise defines does not exist;
- ``not done``: its stub still raises ``NotImplementedError("exercise N is not done yet")``;
- ``reference``: it called labkit's own implementation of the exercise (absent in the clean room);
- ``raised``: it raised (only the exception's type is kept: its message may show the inputs);
- ``bad result``: what it returned is not numbers of the expected form.

The runner, ``python -m labkit.exercises.harness JOB_DIR``, reads ``JOB_DIR/program.py`` (the student's code,
``labkit.exercises.source``) and ``JOB_DIR/cases.json`` + ``cases.npz``, and writes ``JOB_DIR/out/<i>.json``
(status) and ``JOB_DIR/out/<i>.npz`` (outputs) case by case, so a case that loops still leaves the ones before.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labkit.errors import Unavailable

__all__ = ["CALLS", "Case", "Model", "build", "call_case", "decode_cases", "encode_cases", "main", "run_case",
           "run_cases"]


@dataclass(frozen=True)
class Model:
    """A model argument: a tiny test model (``labkit.testing``: ``tanh10``, ``relu``, ``relu6``) or a registry
    model by name, built where the call runs."""

    kind: str  # "tanh10", "relu", "relu6", or "registry"
    size: int = 32
    name: str = ""  # the registry name, for kind "registry"
    hidden: int = 0  # a dense hidden layer of this width before the head (0: none)


@dataclass
class Case:
    """One call of a student's function(s): ``call`` (a key of ``CALLS``), its arguments, and ``about`` (what this
    case tests, in words a student may read: "blur on", "a window cut by the border"; never a value)."""

    call: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    about: str = ""


_MODELS: dict[Model, object] = {}


def build(model: Model):
    """The model a ``Model`` placeholder stands for (built once per process)."""
    if model not in _MODELS:
        from labkit import testing

        if model.kind == "registry":
            from labkit import models

            _MODELS[model] = models.load_model(model.name)
        elif model.kind == "tanh10":
            _MODELS[model] = testing.tiny_tanh10(model.size)
        else:
            _MODELS[model] = testing.tiny_model(model.kind, size=model.size, hidden=model.hidden)
    return _MODELS[model]


def _live(value):
    if isinstance(value, Model):
        return build(value)
    if isinstance(value, tuple):
        return tuple(_live(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.copy()  # the student's function may write into its arguments
    return value


# -- the calling conventions ------------------------------------------------------------------------------------

def _as_outputs(result, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A function's result as named float/int arrays (a tuple: one name per element)."""
    parts = result if len(names) > 1 else (result,)
    if len(names) > 1 and (not isinstance(result, (tuple, list)) or len(result) != len(names)):
        raise TypeError(f"expected {len(names)} results")
    out = {}
    for name, part in zip(names, parts, strict=True):
        a = np.asarray(part)
        if a.dtype.kind not in "biuf":
            raise TypeError("not an array of numbers")
        out[name] = a
    return out


def call(fn: str, *outputs: str) -> Callable:
    """The plain convention: ``functions[fn](*args, **kwargs)``, its result named ``outputs`` (default ``value``)."""
    names = outputs or ("value",)

    def run(functions, *args, **kwargs):
        return _as_outputs(functions[fn](*args, **kwargs), names)

    return run


def score_function(functions, outputs, targets) -> dict[str, np.ndarray]:
    """1.1: ``score_function(targets)`` gives tf-keras-vis' score; applied to a batch of model outputs."""
    import tensorflow as tf

    score = functions["score_function"]([int(t) for t in targets])
    return {"scores": np.array([float(s) for s in score(tf.constant(outputs))], np.float64)}


def modifier_saliency(functions, model, images, targets) -> dict[str, np.ndarray]:
    """1.2: tf-keras-vis' Saliency through ``ReplaceToLinear`` and the student's ``RectifiedBackpropagation()``."""
    import warnings

    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    modifier = functions["RectifiedBackpropagation"]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tool = Saliency(model, model_modifier=[ReplaceToLinear(), modifier], clone=True)
        return {"map": np.asarray(tool(CategoricalScore([int(t) for t in targets]), images), np.float64)}


def statistics(functions, values) -> dict[str, np.ndarray]:
    """3.2: ``confidence_stats(values)`` returns a dict of named numbers."""
    got = functions["confidence_stats"](values)
    if not isinstance(got, Mapping):
        raise TypeError("not a dict")
    return {"keys": np.array([str(k) for k in got], dtype=str),
            "values": np.array([float(v) for v in got.values()], np.float64)}


CALLS: dict[str, Callable] = {
    "score_function": score_function,
    "modifier": modifier_saliency,
    "saliency_map": call("saliency_map", "map"),
    "make_fooling_image": call("make_fooling_image", "image", "iterations"),
    "visualise_step": call("visualise_step", "z"),
    "seed_noise": call("seed_noise", "noise"),
    "confidence_stats": statistics,
    "occlusion_map": call("occlusion_map", "map"),
    "gradcam_from": call("gradcam_from", "cam"),
    "stripe_masks": call("stripe_masks", "masks"),
    "square_masks": call("square_masks", "masks"),
    "masked_copies_loss": call("masked_copies_loss", "loss"),
}


def call_case(functions: Mapping[str, Callable], case: Case) -> dict[str, np.ndarray]:
    """The case's call on the student's functions, in this process; their errors propagate."""
    return CALLS[case.call](functions, *_live(case.args), **{k: _live(v) for k, v in case.kwargs.items()})


def _stub(exc: BaseException) -> bool:
    return isinstance(exc, NotImplementedError) and str(exc).startswith("exercise ") and "not done yet" in str(exc)


def run_case(functions: Mapping[str, Callable], case: Case) -> tuple[str, dict | str]:
    """``("ok", outputs)``, or ``(status, error type name)`` (see the module's docstring)."""
    try:
        return "ok", call_case(functions, case)
    except Unavailable:
        return "reference", "Unavailable"
    except NotImplementedError as exc:
        return ("not done" if _stub(exc) else "raised"), type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - whatever the student's code raises is a result of the case
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        here = tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve() == Path(__file__).resolve()
        return ("bad result" if here else "raised"), type(exc).__name__


def run_cases(functions: Mapping[str, Callable], defines: Sequence[str], cases: Sequence[Case]
              ) -> list[tuple[str, dict | str]]:
    """Every case, in order, in this process (the student's self-check, ``labkit check``)."""
    missing = [n for n in defines if not callable(functions.get(n))]
    if missing:
        return [("missing", ", ".join(missing))] * len(cases)
    return [run_case(functions, c) for c in cases]


# -- the cases on disk ------------------------------------------------------------------------------------------

def _encode(value, arrays: dict):
    if isinstance(value, Model):
        return {"model": dataclasses.asdict(value)}
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [_encode(v, arrays) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a case argument cannot be {type(value).__name__}")


def _decode(value, arrays):
    if isinstance(value, dict):
        if "model" in value:
            return Model(**value["model"])
        if "array" in value:
            return np.asarray(arrays[value["array"]])
        if "tuple" in value:
            return tuple(_decode(v, arrays) for v in value["tuple"])
        return [_decode(v, arrays) for v in value["list"]]
    return value


def encode_cases(cases: Sequence[Case], folder: str | Path) -> None:
    """Write ``cases.json`` and ``cases.npz`` (no pickles) into ``folder``."""
    arrays: dict[str, np.ndarray] = {}
    spec = [{"call": c.call, "args": _encode(tuple(c.args), arrays),
             "kwargs": {k: _encode(v, arrays) for k, v in c.kwargs.items()}} for c in cases]
    folder = Path(folder)
    (folder / "cases.json").write_text(json.dumps(spec))
    np.savez(folder / "cases.npz", **arrays)


def decode_cases(folder: str | Path) -> list[Case]:
    folder = Path(folder)
    spec = json.loads((folder / "cases.json").read_text())
    with np.load(folder / "cases.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return [Case(c["call"], _decode(c["args"], arrays), {k: _decode(v, arrays) for k, v in c["kwargs"].items()})
            for c in spec]


# -- the clean room's runner ------------------------------------------------------------------------------------

def _write(out: Path, i: int, status: str, detail) -> None:
    if status == "ok":
        np.savez(out / f"{i}.npz", **detail)
        detail = ""
    (out / f"{i}.json").write_text(json.dumps({"status": status, "error": detail}))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the student's program, then each case, writing each result as it comes."""
    job = Path((argv if argv is not None else sys.argv[1:])[0])
    spec = json.loads((job / "job.json").read_text())
    cases = decode_cases(job)
    out = job / "out"
    out.mkdir(exist_ok=True)
    os.chdir(spec.get("cwd") or job)  # where the submission's own files are: its code's relative paths
    namespace: dict = {"__name__": "__main__"}
    try:
        exec(compile((job / "program.py").read_text(), "<your notebook's code>", "exec"), namespace)  # noqa: S102
    except Unavailable:
        (out / "program.json").write_text(json.dumps({"status": "reference", "error": "Unavailable"}))
        return 0
    except BaseException as exc:  # noqa: BLE001 - the student's cells raised: that is the result
        (out / "program.json").write_text(json.dumps({"status": "raised", "error": type(exc).__name__}))
        return 0
    (out / "program.json").write_text(json.dumps({"status": "ok", "error": ""}))
    missing = [n for n in spec["defines"] if not callable(namespace.get(n))]
    for i, case in enumerate(cases):
        status, detail = ("missing", ", ".join(missing)) if missing else run_case(namespace, case)
        _write(out, i, status, detail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
