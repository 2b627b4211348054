"""The four labs as students get them, graded end to end (minutes: run by scripts/test.sh, not by a bare pytest).

For each lab, from its master notebook: the released student notebook with the reference solutions pasted
back earns every point; the unfilled one runs to its end headless and earns nothing at all; a planted bug in
exercise N.2 loses points of that exercise only; a notebook that forges results earns nothing; on lab 2, a fooling
loop that calls labkit's own earns neither the exercise nor the fooling check."""

import nbformat
import pytest
from planted import BUGS

from labkit import assign, grading, labs
from labkit.labs import notebooks_dir

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
    if lab.number == 2:  # labkit's own loop behind the student's function
        lazy = nbformat.from_dict(solved)
        [cell] = [c for c in lazy.cells if c.metadata.get("labkit", {}).get("exercise") == "2.2"
                  and c.metadata["labkit"].get("kind") == "solution"]
        cell.source = ("def make_fooling_image(model, x, target, lr=1.0, max_iterations=100):\n"
                       "    r = attacks.fooling_images(model, x[None], [target], lr, max_iterations)\n"
                       "    return r.images[0], int(r.iterations[0])")
        notebooks["lazy"] = lazy
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


def test_the_reference_solutions_earn_every_point(graded):
    lab, _, outcomes = graded
    solved = outcomes["solved"]
    assert solved.status == "ok", solved.message
    assert _exercise_points(solved) == {e.name: e.points for e in lab.exercises if not e.written}, \
        [e.message for e in solved.exercises]
    assert solved.total == lab.max_points, [c for c in solved.checks if c.points < c.max_points]


def test_the_unfilled_notebook_runs_to_its_end_and_earns_nothing(graded):
    _, _, outcomes = graded
    unfilled = outcomes["unfilled"]
    assert unfilled.status == "ok", unfilled.message
    assert set(_exercise_points(unfilled).values()) == {0} and unfilled.total == 0, unfilled.checks
    assert all("not done yet" in e.message for e in unfilled.exercises)


def test_a_planted_bug_loses_points_of_that_exercise_only(graded):
    lab, bug, outcomes = graded
    planted, solved = outcomes["planted"], outcomes["solved"]
    points = _exercise_points(planted)
    full = {e.name: e.points for e in lab.exercises if not e.written}
    assert points[bug] < full[bug] and all(p == full[n] for n, p in points.items() if n != bug), \
        [e.message for e in planted.exercises]
    assert planted.total < solved.total


def test_labkits_own_loop_earns_neither_the_exercise_nor_the_fooling_check(graded):
    lab, _, outcomes = graded
    if "lazy" not in outcomes:
        pytest.skip(f"tried on lab 2's fooling loop, not {lab.name}")
    lazy = outcomes["lazy"]
    checks = {c.name: c for c in [*lazy.checks, *lazy.exercises]}
    assert checks["2.2"].points == 0 and "labkit's own fooling_images" in checks["2.2"].message
    assert checks["fooling"].points == 0
    worth = {c.name: c.points for c in (*lab.checks, *lab.exercises)}
    assert lazy.total == outcomes["solved"].total - worth["2.2"] - worth["fooling"]


def test_a_forged_result_earns_nothing(graded):
    lab, _, outcomes = graded
    if "forged" not in outcomes:
        pytest.skip(f"the forgery is tried on lab 3 only, not {lab.name}")
    forged, unfilled = outcomes["forged"], outcomes["unfilled"]
    assert set(_exercise_points(forged).values()) == {0}
    assert forged.total == unfilled.total == 0
