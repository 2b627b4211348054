"""The reference solutions of the coding exercises, as the master notebooks write them, and one planted bug per
exercise (a source edit of its solution): what the exercise and grading tests run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SETUP = ("import numpy as np\nimport tensorflow as tf\n"
         "from labkit import attacks, attribution, images, masks, models, modifiers\n")

# exercise -> (solution text, its buggy replacement): the mistakes students make
BUGS = {
    "1.1": ("output[i][t] for i, t in enumerate(targets)", "output[i][targets[0]] for i, t in enumerate(targets)"),
    "1.2": ("return tf.cast(dy > 0, dy.dtype) * dy",
            "return tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype) * dy"),  # the guided rule
    "1.3": ("return np.maximum(np.sum(activations * weights, axis=-1), 0)",
            "return np.sum(activations * weights, axis=-1)"),  # no ReLU
    "2.1": ("return np.abs(tape.gradient(scores, x).numpy()).max(axis=-1)",
            "return tape.gradient(scores, x).numpy().max(axis=-1)"),  # no absolute value
    "2.2": ("x + lr * g / tf.norm(g) * scale", "x + lr * g * scale"),  # no normalisation
    "2.3": ("z = np.roll((zj + lr * g / tf.norm(g)).numpy()[0], (-shift[0], -shift[1]), axis=(0, 1))",
            "z = (zj + lr * g / tf.norm(g)).numpy()[0]"),  # never rolled back
    "3.1": ("np.trunc(np.random.standard_normal([size, size, 3]) * 255).astype(np.int64) % 256",
            "np.clip(np.random.standard_normal([size, size, 3]) * 255, 0, 255)"),  # clipped, not wrapped
    "3.2": ('"std": c.std(ddof=1)', '"std": c.std()'),  # the population std, not describe()'s
    "3.3": ("+= base - float(", "+= -base + 2 * base - 2 * base + float("),  # the sign flipped
    "4.1": ("m[i, edges[i]:edges[i + 1]] = 1", "m[i, edges[i]:edges[i + 1] + 1] = 1"),  # overlapping stripes
    "4.2": ("rows = max(1, round(np.sqrt(k)))", "rows = 1"),  # one row of long rectangles
    "4.3": ("return float(tf.reduce_mean(ce))", "return float(tf.reduce_mean(tf.nn.softmax(ce)))"),
}


@cache
def solution_cells(lab_name: str) -> dict[str, str]:
    """Per coding exercise of a lab, the source of its solution cells in the master notebook."""
    from labkit import assign

    master = assign.parse_master(NOTEBOOKS / f"{lab_name}.ipynb")
    out: dict[str, list[str]] = {}
    for cell in master.solution.cells:
        meta = cell.metadata.get("labkit", {})
        if meta.get("kind") == "solution" and cell.cell_type == "code":
            out.setdefault(meta["exercise"], []).append(cell.source)
    return {name: "\n\n".join(sources) for name, sources in out.items()}


def source(name: str, bug: bool = False) -> str:
    """Exercise ``name``'s reference solution, or the solution with its planted bug."""
    from labkit import labs

    lab = labs.exercise(name).lab_number
    code = solution_cells(labs.get(lab).name)[name]
    if bug:
        old, new = BUGS[name]
        assert old in code, f"the planted bug of {name} no longer applies: {old!r} is not in its solution"
        code = code.replace(old, new)
    return code


def functions(name: str, bug: bool = False) -> dict:
    """The functions exercise ``name`` defines, from its reference solution (or with its bug)."""
    from labkit import labs

    namespace: dict = {}
    exec(SETUP + source(name, bug), namespace)  # noqa: S102 - the repository's own notebook code
    return {n: namespace[n] for n in labs.exercise(name).defines}
