"""The golden results check, run by scripts/nbval.sh right after nbval has re-executed the golden notebooks:
each lab's fresh ``results.json`` against its stored reference (``NN_name.results.json`` here), under the
tolerance that each result key declares in ``labkit/labs/``. Not collected by the unit suite (its name
does not start with ``test_``): it reads what the notebooks just wrote."""

import json
import os
from pathlib import Path

import pytest

from labkit import labs
from labkit.labs import golden

HERE = Path(__file__).resolve().parent


RUN = os.environ.get("GOLDEN_LABS", "").split() or [p.stem for p in sorted(HERE.glob("*.ipynb"))]


@pytest.mark.parametrize("name", RUN)
def test_results_match_the_reference(name):
    if name not in labs.LABS:
        pytest.skip(f"{name} is not a lab: it declares no results")
    lab = labs.LABS[name]
    fresh = HERE / "labkit-out" / name / "results.json"
    assert fresh.is_file(), f"{name}: the golden notebook wrote no results.json (did it run? see its nbval cells)"
    reference = json.loads(golden.reference_path(HERE, name).read_text())
    problems = golden.compare(lab.results_by_key, reference, json.loads(fresh.read_text()))
    assert not problems, f"{name}: {len(problems)} result(s) outside their tolerance:\n" + "\n".join(problems)
