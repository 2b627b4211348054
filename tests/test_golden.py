"""The golden check's own parts: the comparison under declared tolerances, the declarations, and that the
stored golden notebooks and references belong to today's notebooks."""

import json
from pathlib import Path

import nbformat
import pytest

from labkit import labs
from labkit.errors import LabkitError
from labkit.labs import golden
from labkit.labs.golden import EXACT, WORDS, Result, close, ignore

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"

DECLARED = {r.key: r for r in [
    Result("label", "a class name"),
    Result("steps", "a loop's steps", close(abs=3, rel=0.25)),
    Result("table", "rows", {"*.prob": close(abs=0.01), "*.seconds": ignore("a timing")}),
    Result("text", "a sentence", WORDS),
]}
REFERENCE = {"lab": "x", "params": {"seed": 0}, "label": "kite (21)", "steps": 20,
             "table": [{"prob": 0.5, "seconds": 1.0, "name": "a"}], "text": "4 of 4 runs in 12 steps."}


def changed(**kw):
    return {**json.loads(json.dumps(REFERENCE)), **kw}


def test_the_same_results_and_moves_within_tolerance_pass():
    assert golden.compare(DECLARED, REFERENCE, REFERENCE) == []
    within = changed(steps=28, table=[{"prob": 0.509, "seconds": 99.0, "name": "a"}], text="3 of 4 runs in 40 steps.")
    assert golden.compare(DECLARED, REFERENCE, within) == []


@pytest.mark.parametrize("kw, message", [
    ({"steps": 29}, "steps: 29, reference 20 (within abs 3 + rel 0.25)"),
    ({"label": "doormat (539)"}, "label: 'doormat (539)', reference 'kite (21)' (exact)"),
    ({"table": [{"prob": 0.52, "seconds": 1.0, "name": "a"}]}, "table.0.prob"),
    ({"table": [{"prob": 0.5, "seconds": 1.0, "name": "b"}]}, "table.0.name"),
    ({"table": []}, "table: different entries"),
    ({"text": "4 of 4 runs in 12 steps!"}, "text:"),
    ({"params": {"seed": 1}}, "params.seed: 1, reference 0"),
    ({"steps": None}, "steps: None"),
])
def test_a_move_outside_its_tolerance_is_reported(kw, message):
    problems = golden.compare(DECLARED, REFERENCE, changed(**kw))
    assert len(problems) == 1 and message in problems[0], problems


def test_missing_extra_undeclared_and_untoleranced_results_are_reported():
    got = changed()
    del got["label"]
    got["new_key"] = 1
    problems = golden.compare(DECLARED, REFERENCE, got)
    assert any("label: missing" in p for p in problems)
    assert any("new_key: recorded but not declared" in p for p in problems)
    declared = {**DECLARED, "new_key": Result("new_key", "")}
    assert any("new_key: not in the reference" in p for p in golden.compare(declared, REFERENCE, got))
    loose = {**DECLARED, "table": Result("table", "rows, no tolerance for prob", {"*.seconds": ignore("t")})}
    assert any("table.0.prob: no tolerance declared" in p for p in golden.compare(loose, REFERENCE, REFERENCE))


def test_tolerances_read_as_they_compare():
    assert str(close(abs=0.002)) == "within abs 0.002" and str(EXACT) == "exact"
    assert close(rel=0.1).accepts(10.0, 10.9) and not close(rel=0.1).accepts(10.0, 11.1)
    assert close(abs=1).accepts(None, float("nan")) and not close(abs=1).accepts(None, 0.0)
    assert close(abs=1).accepts(True, True) and not close(abs=1).accepts(True, 1)
    with pytest.raises(ValueError):
        close()


def test_spread_reports_the_largest_move_and_its_run():
    runs = {"a": changed(steps=22), "b": changed(steps=17, label="doormat (539)")}
    rows = golden.spread(REFERENCE, runs)
    assert rows["steps"]["abs"] == 3 and rows["steps"]["run"] == "b"
    assert rows["label"]["differs"] and rows["table.0.prob"]["abs"] == 0


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_each_lab_declares_every_result_its_golden_run_records(lab):
    keys = lab.result_keys
    assert len(keys) == len(set(keys)), "a result key is declared twice"
    reference = json.loads(golden.reference_path(GOLDEN, lab.name).read_text())
    assert set(reference) - {"lab", "params"} <= set(keys), "the reference records undeclared keys"
    assert golden.compare(lab.results_by_key, reference, reference) == []  # every number has a tolerance


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_golden_notebooks_are_todays_notebooks(lab):
    """nbval re-executes the golden copies: a notebook edited since the goldens were made would go untested."""
    def code(path):
        nb = nbformat.read(path, as_version=4)
        return [c.source for c in nb.cells
                if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]

    assert code(GOLDEN / f"{lab.name}.ipynb") == code(ROOT / "notebooks" / f"{lab.name}.ipynb"), (
        f"tests/golden/{lab.name}.ipynb is older than notebooks/{lab.name}.ipynb: bash scripts/regen_golden.sh")


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_each_notebooks_parameters_cell_is_its_labs_declaration(lab):
    """The parameters cells are written from the declarations (``python -m labkit.labs sync``), never by hand."""
    nb = nbformat.read(labs.notebooks_dir() / f"{lab.name}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert cells == [lab.parameters_source()], f"notebooks/{lab.name}.ipynb: run python -m labkit.labs sync"


def test_labs_are_found_by_number_and_name():
    assert labs.get(1) is labs.get("01") is labs.get("attention_maps") is labs.get("01_attention_maps")
    with pytest.raises(LabkitError, match="did you mean 02_network_visualisation"):
        labs.get("02_network_visualization")
