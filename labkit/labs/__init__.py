"""The four labs, each declared once in its own module: its parameters (default, help, check), its profile
sizes, the key results it records (and how the golden check compares them), its grading checks.

``LABS`` maps each lab's name (its notebook's file name) to its ``Lab``; ``get`` finds one by name, number
(``1``, ``"01"``) or short name (``"attention_maps"``), as ``find_lab`` does among any notebooks' names;
``notebooks_dir`` is the repository's ``notebooks/``; ``setup`` is a notebook's setup cell in one call;
``sync_notebooks`` writes the notebooks' ``parameters`` cells from the declarations
(``python -m labkit.labs sync``).

The lab registry is the layer above labkit's methods: it imports them, and only ``runner``, ``assign``,
``grading``, ``student``, ``handin`` and ``autograde`` import it (``tests/test_layering.py``).

Where each idea lives: ``_spec`` (``Lab``, ``Param``, ``Check``, profiles), ``_validate`` (parameter checks),
``_checks`` (what a grading check reads, and the shared checks), ``golden`` (tolerances and the golden
comparison), ``shared`` (the parameters every lab has), and one module per lab.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from labkit.errors import LabkitError, max_steps
from labkit.labs import attention_maps, network_visualisation, noise_fooling, universal_masked_image
from labkit.labs._checks import Context
from labkit.labs._spec import DEFAULT_PROFILE, PROFILES, Check, Lab, Param, check_profile, literal

LABS: dict[str, Lab] = {m.LAB.name: m.LAB for m in (attention_maps, network_visualisation, noise_fooling,
                                                    universal_masked_image)}


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder, the labs' notebooks (labkit is installed editable from it)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def find_lab(name: str | int, names: Iterable[str]) -> str:
    """The lab called ``name`` among ``names`` (notebook names, ``NN_short_name``): its full name, its number
    (``1``, ``"01"``, ``1`` as an int) or its short name (``attention_maps``); else one error naming the closest."""
    names = list(names)
    key = str(name).strip()
    if key in names:
        return key
    if key.isdigit():
        hits = [n for n in names if n[:2].isdigit() and int(n[:2]) == int(key)]
    else:
        hits = [n for n in names if n.split("_", 1)[-1] == key]
    if len(hits) == 1:
        return hits[0]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise LabkitError(f"unknown lab {name!r}{hint}; labs: {', '.join(names)}")


def get(name: str | int) -> Lab:
    """The lab called ``name``: ``01_attention_maps``, ``attention_maps``, ``01``, ``1`` or ``1`` as an int."""
    return LABS[find_lab(name, LABS)]


def exercise(name: str):
    """The exercise called ``name`` ("2.2": the lab's number, then the exercise's), from its lab's declaration."""
    number = str(name).split(".", 1)[0]
    if not number.isdigit():
        raise LabkitError(f"no exercise {name!r}: exercises are named like 2.2 (lab, then exercise)")
    lab = get(int(number))
    for ex in lab.exercises:
        if ex.name == str(name):
            return ex
    raise LabkitError(f"no exercise {name!r} in lab {lab.number}; its exercises: "
                      f"{', '.join(e.name for e in lab.exercises)}")


__all__ = ["DEFAULT_PROFILE", "LABS", "PROFILES", "Check", "Context", "Lab", "Param", "check_profile", "exercise",
           "find_lab", "get", "lab_of_notebook", "literal", "max_steps", "notebooks_dir", "setup", "sync_notebooks"]


def lab_of_notebook(nb) -> tuple[str | None, str | None]:
    """(the lab a notebook claims in ``metadata.labkit.lab``, the lab its content belongs to): None where nothing
    tells. The content's lab is the majority of the labs its exercise cells name (metadata), its setup call
    (``labs.setup("02_...")``) and the exercise functions it defines."""
    import re
    from collections import Counter

    claimed = None
    meta = nb.get("metadata", {}).get("labkit")
    if isinstance(meta, dict) and meta.get("lab") is not None:
        try:
            claimed = get(str(meta["lab"])).name
        except Exception:  # noqa: BLE001 - a lab the registry does not know
            claimed = str(meta["lab"])[:80]
    votes: Counter = Counter()
    names = {e.name: lab.name for lab in LABS.values() for e in lab.exercises}
    functions = {f: lab.name for lab in LABS.values() for e in lab.exercises for f in e.defines}
    for cell in nb.get("cells", []):
        cell_meta = cell.get("metadata", {}).get("labkit")
        if isinstance(cell_meta, dict) and cell_meta.get("exercise") in names:
            votes[names[cell_meta["exercise"]]] += 1
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            votes.update(m for m in re.findall(r"""labs\.setup\(\s*["'](\d\d_\w+)["']""", text) if m in LABS)
            votes.update(lab for f, lab in functions.items() if re.search(rf"^(def|class)\s+{f}\b", text, re.M))
    return claimed, (votes.most_common(1)[0][0] if votes else None)


def setup(name: str | int, namespace: dict) -> None:
    """A lab notebook's setup, in one call: every parameter in ``namespace`` (the notebook's variables) checked,
    with one clear ``LabkitError`` before any heavy work; the profile's sizes filled in where a value is
    ``None``; ``LABKIT_MAX_STEPS`` applied; the lab's derived values added to ``namespace``; Keras and NumPy
    seeded; ``results.json`` started in ``out_dir`` with the parameters. Returns nothing (nothing to echo under
    the notebook's setup cell)."""
    import keras

    from labkit import quiet, results

    quiet.ignore_harmless_warnings()
    lab = get(name)
    resolved = lab.resolve({p: namespace[p] for p in lab.param_names if p in namespace})
    namespace.update(resolved)
    keras.utils.set_random_seed(resolved["seed"])
    results.start(resolved["out_dir"], lab=lab.name, **{p: resolved[p] for p in lab.param_names if p != "out_dir"})


def sync_notebooks(folder=None) -> list[str]:
    """Write each lab's ``parameters`` cell from its declaration into ``notebooks/<name>.ipynb`` (the notebooks'
    parameter cells are generated, never edited by hand); returns the notebooks that changed."""
    import nbformat

    folder = Path(folder) if folder else notebooks_dir()
    changed = []
    for lab in LABS.values():
        path = folder / f"{lab.name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        if cell.source != lab.parameters_source():
            cell.source = lab.parameters_source()
            nbformat.write(nb, path)
            changed.append(str(path))
    return changed
