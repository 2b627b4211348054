"""The four labs as students get them, graded end to end (minutes: run by scripts/test.sh, not by a bare pytest).

For each lab, from its master notebook: the released student notebook with the reference solutions pasted
back earns every exercise point; the unfilled one runs to its end headless and earns none; a planted bug in
exercise N.2 loses that exercise's points and only those; a notebook that forges results earns nothing more
than the unfilled one."""

import nbformat
import pytest
from planted import BUGS

from labkit import assign, grading, labs
from labkit.runner.plan import notebooks_dir

pytestmark = pytest.mark.graded_labs

FORGERY = '''
import json, pathlib, numpy as np
import labkit.exercises as ex
ex.check = lambda *a, **k: True                        # a monkeypatched self-check
np.allclose = lambda *a, **k: True                     # a monkeypatched comparison
for name in LAB_EXERCISES:                             # fake probe outputs, wherever they might go
    for folder in (pathlib.Path("probes") / name, pathlib.Path("..") / "probes" / name):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "status.json").write_text(json.dumps({"status": "ok"}))
            np.savez(folder / "outputs.npz", map=np.zeros((2, 2)), loss=np.array(0.0))
        except OSError:
            pass
pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
(pathlib.Path(out_dir) / "results.json").write_text(json.dumps({"confidence": {"x": {"m": {"mean": 0.5}}},
                                                                 "auroc": {"x": {"m": 0.99}}}))
print("All tests passed! 11/11 points")
'''


def _with_bug(nb, name: str):
    nb = nbformat.from_dict(nb)  # a copy
    old, new = BUGS[name]
    cells = [c for c in nb.cells if c.metadata.get("labkit", {}).get("exercise") == name and old in c.source]
    assert len(cells) == 1, f"exercise {name}'s solution cell with {old!r}"
    cells[0].source = cells[0].source.replace(old, new)
    return nb


@pytest.fixture(scope="module", params=[1, 2, 3, 4], ids=lambda n: f"lab{n}")
def graded(request, tmp_path_factory):
    lab = labs.get(request.param)
    root = tmp_path_factory.mktemp(f"graded-{lab.name}")
    (released,) = assign.release([notebooks_dir() / f"{lab.name}.ipynb"], root / "release")
    student = nbformat.read(released.student, as_version=4)
    solved = assign.paste_solutions(student, nbformat.read(released.solution, as_version=4))
    subs = root / "submissions"
    subs.mkdir()
    bug = f"{lab.number}.2"
    notebooks = {"unfilled": student, "solved": solved, "planted": _with_bug(solved, bug)}
    if lab.number == 3:  # one forgery is enough: it runs the unfilled notebook plus a forging cell
        forged = nbformat.from_dict(student)
        names = [e.name for e in lab.exercises if not e.written]
        forged.cells.append(nbformat.v4.new_code_cell(f"LAB_EXERCISES = {names!r}\n" + FORGERY))
        notebooks["forged"] = forged
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    outcomes = grading.grade(subs, lab.number, root / "out", jobs=2, timeout=1200, cell_timeout=900,
                             memory_mb=6144, progress=False, seed=7)
    return lab, bug, {o.student: o for o in outcomes}


def _exercise_points(outcome) -> dict:
    return {e.name: e.points for e in outcome.exercises}


def test_the_reference_solutions_earn_every_exercise_point(graded):
    lab, _, outcomes = graded
    solved = outcomes["solved"]
    assert solved.status == "ok", solved.message
    assert _exercise_points(solved) == {e.name: e.points for e in lab.exercises if not e.written}, \
        [e.message for e in solved.exercises]


def test_the_unfilled_notebook_runs_to_its_end_and_earns_no_exercise_point(graded):
    _, _, outcomes = graded
    unfilled = outcomes["unfilled"]
    assert unfilled.status == "ok", unfilled.message
    assert set(_exercise_points(unfilled).values()) == {0}
    assert all("not done yet" in e.message for e in unfilled.exercises)


def test_a_planted_bug_loses_that_exercise_and_only_it(graded):
    lab, bug, outcomes = graded
    planted, solved = outcomes["planted"], outcomes["solved"]
    points = _exercise_points(planted)
    assert points[bug] == 0 and all(p > 0 for name, p in points.items() if name != bug), \
        [e.message for e in planted.exercises]
    assert planted.total == solved.total - next(e.points for e in lab.exercises if e.name == bug)


def test_a_forged_result_earns_nothing(graded):
    lab, _, outcomes = graded
    if "forged" not in outcomes:
        pytest.skip(f"the forgery is tried on lab 3 only, not {lab.name}")
    forged, unfilled = outcomes["forged"], outcomes["unfilled"]
    assert set(_exercise_points(forged).values()) == {0}
    assert forged.total == unfilled.total
