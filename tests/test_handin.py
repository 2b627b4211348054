"""``labkit check``: a saved lab notebook's exercises checked without running the lab (``labkit.handin``), on lab
4's real release: unfilled, finished, and finished with a planted bug, a failed cell and a missing answer."""

import json
import subprocess
import sys

import nbformat
import pytest
from planted import BUGS

from labkit import LabkitError, assign, handin
from labkit.labs import notebooks_dir

LAB = "04_universal_masked_image"


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """unfilled, finished and broken copies of lab 4's student notebook, as a student saves them."""
    root = tmp_path_factory.mktemp("handin")
    [r] = assign.release([notebooks_dir() / f"{LAB}.ipynb"], root / "release")
    unfilled = nbformat.read(r.student, as_version=4)
    finished = assign.paste_solutions(unfilled, nbformat.read(r.solution, as_version=4))
    for cell in finished.cells:
        if cell.metadata.get("labkit", {}).get("kind") == "answer":
            cell.source = "Each masked copy is a different input, so each can sit in its own decision region."
    broken = nbformat.from_dict(finished)
    old, new = BUGS["4.1"]
    [cell] = [c for c in broken.cells if c.metadata.get("labkit", {}).get("exercise") == "4.1" and old in c.source]
    cell.source = cell.source.replace(old, new)
    [answer] = [c for c in broken.cells if c.metadata.get("labkit") == {"exercise": "4.5", "kind": "answer"}]
    answer.source = assign.ANSWER_TEXT
    step = next(c for c in broken.cells if c.cell_type == "code" and "with exercise(" in c.source)
    step.execution_count = 12
    step.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'sise' is not defined",
                                           traceback=[])]
    paths = {}
    for name, nb in (("unfilled", unfilled), ("finished", finished), ("broken", broken)):
        paths[name] = root / f"{name}.ipynb"  # a student's own file name: the lab comes from the metadata
        nbformat.write(nb, paths[name])
    return paths


def states(report) -> dict:
    return {s.exercise.name: s.state for s in report.exercises}


def test_an_unfilled_notebook_is_not_ready(notebooks):
    report = handin.assess(notebooks["unfilled"])
    assert report.lab.name == LAB
    assert states(report) == {"4.1": "not done", "4.2": "not done", "4.3": "not done", "4.4": "not answered",
                              "4.5": "not answered"}
    assert not report.ready and report.text().endswith(
        "not ready to hand in: 4.1 not done; 4.2 not done; 4.3 not done; 4.4 not answered; 4.5 not answered")


def test_a_finished_notebook_is_ready_and_a_broken_one_says_what_is_missing(notebooks):
    """One process, as a student runs it: exit status 0 when every notebook is ready, and the findings as JSON."""
    run = subprocess.run([sys.executable, "-m", "labkit", "check", "--json", str(notebooks["finished"]),
                          str(notebooks["broken"])], capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr
    finished, broken = json.loads(run.stdout)
    assert finished["ready"] and finished["missing"] == [] and finished["failed_cells"] == []
    assert {e["name"]: e["status"] for e in finished["exercises"]} == {
        "4.1": "passes", "4.2": "passes", "4.3": "passes", "4.4": "answered", "4.5": "answered"}
    assert {e["name"]: e["status"] for e in broken["exercises"]} == {
        "4.1": "fails", "4.2": "passes", "4.3": "passes", "4.4": "answered", "4.5": "not answered"}
    [bug] = [e for e in broken["exercises"] if e["name"] == "4.1"]
    assert bug["problems"] and "partition" in " ".join(bug["problems"])
    assert broken["failed_cells"] == ["In [12] (k_show = max(k_values)): NameError: name 'sise' is not defined"]
    assert broken["missing"] == ["4.1 fails its public checks", "4.5 not answered",
                                 "1 cell failed when the notebook was last run"]
    ready = subprocess.run([sys.executable, "-m", "labkit", "check", str(notebooks["finished"])],
                           capture_output=True, text=True, timeout=600)
    assert ready.returncode == 0 and ready.stdout.rstrip().endswith("ready to hand in (the grader runs more tests, "
                                                                     "on inputs you have not seen)"), ready.stdout


def test_a_notebook_that_is_no_lab_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(LabkitError, match="cannot tell which lab it is"):
        handin.assess(path)
    with pytest.raises(LabkitError, match="no notebook"):
        handin.assess(tmp_path / "nosuch.ipynb")


def test_a_copy_without_metadata_and_of_another_name_is_known_by_its_exercises(notebooks, tmp_path):
    nb = nbformat.read(notebooks["finished"], as_version=4)
    nb.metadata.pop("labkit", None)  # as jupytext or a copy-paste into a new notebook leaves it
    path = tmp_path / "my_homework.ipynb"
    nbformat.write(nb, path)
    assert handin.assess(path).ready
