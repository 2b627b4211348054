"""Lab 4 through the grading tools instructors already run, for real: otter-grader 7.0.0 and nbgrader 0.9.6 from
PyPI, each in a venv of its own (scripts/grading_tools.sh), the notebooks run in labkit's kernel (minutes:
scripts/test.sh runs them as a stage of their own, not a bare pytest).

For each tool, from ``labkit assign --format otter|nbgrader``: the solution earns every autograded point, the
unfilled student notebook none, a planted bug in exercise 4.2 loses points of 4.2 only; and what the README's
table says these routes do not give: a notebook that patches ``labkit.autograde`` in its kernel earns every point,
and the notebook runs with the grader's environment and files (no sandbox). The lab's own optimisation loops are
capped (``LABKIT_MAX_STEPS``): what is graded here are the exercises."""

import html
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from planted import BUGS, SETUP, functions, source

from labkit import autograde, labs
from labkit.assign import parse_master
from labkit.autograde import nbgrader, otter
from labkit.labs import notebooks_dir

pytestmark = pytest.mark.external_graders

ROOT = Path(__file__).resolve().parents[1]
LAB = labs.get(4)
SEED = 2718
BUG = "4.2"
SECRET = "grader-only-7f3a"  # in the grader's environment: the notebook should not see it, and does
FULL = {ex.name: ex.points for ex in LAB.exercises if not ex.written}
FORGERY = '''import glob, os
import labkit.autograde as tests
from labkit import labs
tests.public = lambda *args, **kwargs: None
tests.hidden = lambda name, *args, **kwargs: None if "at_least" in kwargs else labs.exercise(name).points
files = glob.glob("**/*.py", recursive=True) + glob.glob("**/*.ipynb", recursive=True)
seen = any(os.environ["HIDDEN_TEST"] in open(path, errors="ignore").read() for path in files)
with open(os.environ["LEAK_TO"], "w") as f:
    f.write(os.environ.get("GRADER_SECRET", "not seen") + (" + the hidden tests" if seen else ""))'''


def _tool(venv: str, name: str) -> Path:
    path = ROOT / venv / "bin" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run bash scripts/grading_tools.sh (the graders' venvs and kernels)")
    return path


def _env(venv: str, **more) -> dict:
    env = dict(os.environ)
    env.update(JUPYTER_PATH=str(ROOT / venv / "labkit-kernel"), PATH=f"{ROOT / venv / 'bin'}{os.pathsep}{env['PATH']}",
               LABKIT_MAX_STEPS="5", GRADER_SECRET=SECRET, HIDDEN_TEST=f"seed={SEED}", **more)
    return env


def _run(argv, cwd, env, timeout=1800) -> str:
    run = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{argv[:2]} failed:\n{(run.stdout + run.stderr)[-4000:]}"
    return run.stdout + run.stderr


def _with_bug(nb):
    nb = nbformat.from_dict(nb)
    old, new = BUGS[BUG]
    [cell] = [c for c in nb.cells if old in c.source]
    cell.source = cell.source.replace(old, new)
    return nb


def _forged(nb):
    nb = nbformat.from_dict(nb)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FORGERY))
    return nb


def _student_view(nb) -> list[tuple[str, str]]:
    """The cells as a student reads them (otter's '<!-- BEGIN QUESTION -->' comments left out), but the parameters
    cell, which the exports set to the values labkit grades with."""
    out = []
    for c in nb.cells:
        if "parameters" in c.metadata.get("tags", []):
            continue
        text = "\n".join(line for line in c.source.splitlines() if line not in ("<!-- BEGIN QUESTION -->",
                                                                                 "<!-- END QUESTION -->")).strip()
        if text:
            out.append((c.cell_type, text))
    return out


# -- otter-grader -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """labkit's wheel, as labkit assign builds it: what the autograder's requirements.txt installs labkit from."""
    return otter.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_otter_assign_takes_every_lab_and_gives_students_labkits_notebook(lab, wheel, tmp_path):
    exe = _tool(".venv-otter", "otter")
    otter.export([notebooks_dir() / f"{lab.name}.ipynb"], tmp_path, seed=SEED, wheel=wheel)
    _run([exe, "assign", f"{lab.name}.ipynb", "dist"], tmp_path, _env(".venv-otter"), timeout=600)
    student = nbformat.read(tmp_path / "dist" / "student" / f"{lab.name}.ipynb", as_version=4)
    assert _student_view(student) == _student_view(parse_master(notebooks_dir() / f"{lab.name}.ipynb").student)
    assert sorted(p.stem for p in (tmp_path / "dist" / "autograder" / "tests").glob("*.py")) == \
        sorted(ex.name for ex in lab.exercises if not ex.written)


@pytest.fixture(scope="module")
def otter_graded(tmp_path_factory, wheel):
    exe = _tool(".venv-otter", "otter")
    root = tmp_path_factory.mktemp("otter")
    env = _env(".venv-otter")
    otter.export([notebooks_dir() / f"{LAB.name}.ipynb"], root / "assign", seed=SEED, wheel=wheel)
    _run([exe, "assign", f"{LAB.name}.ipynb", "dist"], root / "assign", env)
    dist = root / "assign" / "dist"
    [autograder] = (dist / "autograder").glob("*.zip")
    solution = nbformat.read(dist / "autograder" / f"{LAB.name}.ipynb", as_version=4)
    student = nbformat.read(dist / "student" / f"{LAB.name}.ipynb", as_version=4)
    scores, leaked = {}, root / "leaked.txt"
    for name, nb in {"solution": solution, "unfilled": student, "planted": _with_bug(solution),
                     "forged": _forged(student)}.items():
        sub, out = root / "submissions" / name, root / "results" / name
        sub.mkdir(parents=True)
        out.mkdir(parents=True)
        nbformat.write(nb, sub / f"{LAB.name}.ipynb")
        _run([exe, "run", "-a", autograder, "-o", out, sub / f"{LAB.name}.ipynb"], sub, {**env, "LEAK_TO": str(leaked)})
        results = json.loads((out / "results.json").read_text())
        scores[name] = {t["name"]: t["score"] for t in results["tests"] if t["name"] in FULL}
    return dist, autograder, student, scores, leaked


def test_otter_assign_gives_students_labkits_notebook_and_the_autograder_labkits_tests(otter_graded):
    dist, autograder, student, _, _ = otter_graded
    master = parse_master(notebooks_dir() / f"{LAB.name}.ipynb")
    assert _student_view(student) == _student_view(master.student)  # labkit's stubs and cells; no otter cell
    assert not any("otter" in c.source for c in student.cells if c.cell_type == "code")
    with zipfile.ZipFile(autograder) as z:
        names = set(z.namelist())
        assert {f"tests/{name}.py" for name in FULL} <= names
        for name in FULL:
            test = z.read(f"tests/{name}.py").decode()
            assert f"points = {FULL[name]}" in test and f"autograde.hidden({name!r}, seed={SEED}" in test
        environment = z.read("environment.yml").decode()
        [wheel] = [n for n in names if n.startswith("files/labkit-") and n.endswith(".whl")]
    assert "python=3.11" in environment and "otter-grader" in environment
    assert f"{otter.AUTOGRADER_FILES}/{Path(wheel).name}" in environment  # requirements.txt, merged in
    public = (dist / "student" / "tests" / "4.1.py").read_text()
    assert "autograde.public('4.1', env)" in public and "seed" not in public  # students get no hidden test


def test_otter_run_gives_the_solution_every_point_and_the_unfilled_notebook_none(otter_graded):
    scores = otter_graded[3]
    assert scores["solution"] == pytest.approx(FULL)
    assert scores["unfilled"] == {name: 0 for name in FULL}


def _clean_room(bug: bool) -> float:
    """What labkit's clean room gives exercise BUG's code (the solution, or its planted bug) on the same seed."""
    return autograde.hidden(BUG, SEED, cells=[SETUP, source(BUG, bug=bug)])


def test_otter_a_planted_bug_loses_points_of_its_exercise_only_as_in_labkits_clean_room(otter_graded):
    planted = otter_graded[3]["planted"]
    assert planted[BUG] < FULL[BUG]
    assert planted[BUG] == pytest.approx(_clean_room(bug=True))  # one otter test per hidden case: the same share
    assert {n: p for n, p in planted.items() if n != BUG} == pytest.approx({n: p for n, p in FULL.items()
                                                                            if n != BUG})


def test_otter_runs_tests_in_the_students_kernel_without_a_sandbox(otter_graded):
    _, _, _, scores, leaked = otter_graded
    assert scores["forged"] == pytest.approx(FULL)  # the unfilled notebook, with labkit.autograde patched
    # the grader's environment, the hidden tests (the seed), and a file written outside the submission's folder
    assert leaked.read_text() == f"{SECRET} + the hidden tests"


# -- nbgrader -----------------------------------------------------------------------------------------------------

SCORES = '''import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gb:
    print(json.dumps({s: {g.name: g.score for g in gb.find_submission_notebook(sys.argv[1], sys.argv[1], s).grades}
                      for s in sys.argv[2:]}))'''


@pytest.fixture(scope="module")
def nbgrader_graded(tmp_path_factory):
    exe = _tool(".venv-nbgrader", "nbgrader")
    course = tmp_path_factory.mktemp("course")
    env = _env(".venv-nbgrader")
    nbgrader.export([notebooks_dir() / f"{LAB.name}.ipynb"], course, seed=SEED)  # source/ and nbgrader_config.py
    _run([exe, "generate_assignment", LAB.name], course, env)
    source = nbformat.read(course / "source" / LAB.name / f"{LAB.name}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / LAB.name / f"{LAB.name}.ipynb", as_version=4)
    solutions = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    solved = nbformat.from_dict(release)
    for cell in solved.cells:
        cell.source = solutions.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    subs = {"solved": solved, "unfilled": release, "planted": _with_bug(solved), "forged": _forged(release)}
    for name, nb in subs.items():
        folder = course / "submitted" / name / LAB.name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB.name}.ipynb")
    leaked = course.parent / f"{course.name}-leaked.txt"
    _run([exe, "autograde", LAB.name], course, {**env, "LEAK_TO": str(leaked)})
    _run([exe, "generate_feedback", LAB.name], course, env)
    out = _run([ROOT / ".venv-nbgrader" / "bin" / "python", "-c", SCORES, LAB.name, *subs], course, env)
    graded = json.loads(out.strip().splitlines()[-1])
    scores = {s: {g.split("-")[0][2:].replace("_", "."): p for g, p in grades.items() if g.endswith("-tests")}
              for s, grades in graded.items()}
    return course, release, scores, leaked


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_nbgrader_generate_assignment_takes_every_lab_with_labkits_stubs(lab, tmp_path):
    exe = _tool(".venv-nbgrader", "nbgrader")
    nbgrader.export([notebooks_dir() / f"{lab.name}.ipynb"], tmp_path, seed=SEED)
    _run([exe, "generate_assignment", lab.name], tmp_path, _env(".venv-nbgrader"), timeout=600)
    release = nbformat.read(tmp_path / "release" / lab.name / f"{lab.name}.ipynb", as_version=4)
    _same_stubs(lab, release)


def _same_stubs(lab, release) -> None:
    """The release's solution cells are labkit's student cells, nbgrader's '# YOUR CODE HERE' for labkit's comment;
    no hidden test, no solution line reaches students."""
    master = parse_master(notebooks_dir() / f"{lab.name}.ipynb")
    students = [c.source for c in master.student.cells if c.metadata.get("labkit", {}).get("kind") == "solution"]
    theirs = [c for c in release.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert [c.source.replace("# YOUR CODE HERE", f"# exercise {c.metadata['labkit']['exercise']}: your code here")
            for c in theirs] == students
    text = nbformat.writes(release)
    assert "HIDDEN TESTS" not in text and "autograde.hidden" not in text and f"seed={SEED}" not in text
    secrets = [line.strip() for c in master.solution.cells if c.metadata.get("labkit", {}).get("kind")
               in ("solution", "answer") for line in c.source.splitlines() if len(line.strip()) > 20]
    assert not [s for s in secrets if s in text and s not in nbformat.writes(master.student)]


def test_nbgrader_generate_assignment_gives_students_labkits_stubs_and_no_hidden_test(nbgrader_graded):
    _same_stubs(LAB, nbgrader_graded[1])


def test_nbgrader_autograde_gives_the_solution_every_point_and_the_unfilled_notebook_none(nbgrader_graded):
    scores = nbgrader_graded[2]
    assert scores["solved"] == pytest.approx(FULL)
    assert scores["unfilled"] == {name: 0 for name in FULL}


def test_nbgrader_a_planted_bug_loses_points_of_its_exercise_only(nbgrader_graded):
    planted = nbgrader_graded[2]["planted"]
    assert planted[BUG] < FULL[BUG]
    with pytest.raises(AssertionError):  # its public checks fail: its test cell raises, 0 rather than a share
        autograde.public(BUG, functions(BUG, bug=True))
    assert planted[BUG] == 0 < _clean_room(bug=True)
    assert {n: p for n, p in planted.items() if n != BUG} == pytest.approx({n: p for n, p in FULL.items()
                                                                            if n != BUG})


def test_nbgrader_runs_tests_in_the_students_kernel_without_a_sandbox(nbgrader_graded):
    _, _, scores, leaked = nbgrader_graded
    assert scores["forged"] == pytest.approx(FULL)
    assert leaked.read_text() == f"{SECRET} + the hidden tests"


def test_nbgrader_generate_feedback_writes_each_students_scores_and_shows_the_hidden_tests(nbgrader_graded):
    course = nbgrader_graded[0]
    total = sum(ex.points for ex in LAB.exercises)
    for student, earned in (("solved", sum(FULL.values())), ("unfilled", 0)):
        page = (course / "feedback" / student / LAB.name / f"{LAB.name}.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert f"Score: {float(earned)} / {float(total)}" in text
        assert f"autograde.hidden('4.1', seed={SEED})" in text  # nbgrader 0.9 shows test cells whole
