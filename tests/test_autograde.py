"""labkit's labs exported for otter-grader and nbgrader (``labkit.autograde``), without the tools: every master
converts; the generated questions and tests name every exercise with its declared points and call labkit's
checks; the stubs students get are labkit's; the kernel side scores hidden cases in a clean room. The tools
themselves run in tests/test_external_graders.py (a stage of scripts/test.sh)."""

import ast
import re

import nbformat
import pytest
import yaml
from planted import SETUP, functions, source

from labkit import autograde, labs
from labkit.assign import parse_master
from labkit.autograde import nbgrader, otter
from labkit.cli import main
from labkit.errors import LabkitError
from labkit.labs import notebooks_dir

SEED = 4242
WHEEL = "labkit-0.1.0-py3-none-any.whl"
LABS = list(labs.LABS.values())


def _master(lab):
    return parse_master(notebooks_dir() / f"{lab.name}.ipynb")


def _coding(lab):
    return [ex for ex in lab.exercises if not ex.written]


def _labkit_cells(lab, kind: str) -> dict[str, list[str]]:
    """Per exercise, the sources of its ``kind: solution`` code cells in labkit's student or solution notebook."""
    m = _master(lab)
    out: dict[str, list[str]] = {}
    for cell in (m.student if kind == "student" else m.solution).cells:
        meta = cell.metadata.get("labkit", {})
        if meta.get("kind") == "solution":
            out.setdefault(meta["exercise"], []).append(cell.source)
    return out


# -- otter --------------------------------------------------------------------------------------------------------

def _otter_blocks(nb):
    """(question config, [test cell sources]) per '# BEGIN QUESTION' block of an otter master."""
    out, question, tests, in_tests = [], None, [], False
    for cell in nb.cells:
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "raw" and first == "# BEGIN QUESTION":
            question, tests = yaml.safe_load(cell.source.split("\n", 1)[1]), []
        elif cell.cell_type == "raw" and first in ("# BEGIN TESTS", "# END TESTS"):
            in_tests = first == "# BEGIN TESTS"
        elif cell.cell_type == "raw" and first == "# END QUESTION":
            out.append((question, tests))
        elif in_tests:
            tests.append(cell.source)
    return out


def _answers(lab) -> list[str]:
    """The teacher's answers to the written questions (labkit's solution notebook)."""
    return [c.source for c in _master(lab).solution.cells if c.metadata.get("labkit", {}).get("kind") == "answer"]


def _solution_blocks(nb) -> list:
    """The cells between raw '# BEGIN SOLUTION' and '# END SOLUTION' cells."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
            inside = cell.source.strip() == "# BEGIN SOLUTION"
        elif inside:
            out.append(cell)
    return out


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_every_master_becomes_an_otter_master_with_the_declared_questions_and_labkits_tests(lab):
    nb = otter.otter_master(_master(lab), seed=SEED, wheel=WHEEL)
    nbformat.validate(nb)
    blocks = _otter_blocks(nb)
    assert sorted((q["name"], q["points"], q.get("manual", False)) for q, _ in blocks) == \
        sorted((ex.name, ex.points, ex.written) for ex in lab.exercises)
    for question, tests in blocks:
        ex = labs.exercise(question["name"])
        if ex.written:
            assert tests == []
            continue
        assert question["check_cell"] is False  # no otter cell reaches students
        n = autograde.cases(ex.name, SEED)
        assert n >= 2
        public, *hidden = tests
        assert "points: 0\nhidden: false" in public and f"autograde.public({ex.name!r}, env)" in public
        assert len(hidden) == n
        for k, test in enumerate(hidden, 1):
            assert "hidden: true" in test and "points" not in test  # otter splits the question's points over them
            assert f"autograde.hidden({ex.name!r}, seed={SEED}, at_least={k}, of={n})" in test
    in_solution = [c.source for c in _solution_blocks(nb) if c.cell_type == "markdown"]
    assert sorted(in_solution) == sorted(_answers(lab))  # a written answer only where otter strips it
    config = yaml.safe_load(nb.cells[0].source.split("\n", 1)[1])
    assert config["init_cell"] is False and config["export_cell"] is False and config["check_all_cell"] is False
    assert config["files"] == [WHEEL] and config["tests"] == {"files": True, "ok_format": False}


def _otter_student(source: str) -> str:
    """What otter assign gives students from a solution cell: no solution region, the prompt's lines."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == "# BEGIN SOLUTION NO PROMPT":
            inside = True
        elif line.strip() == "# END SOLUTION":
            inside = False
        elif not inside and not line.rstrip().endswith(("# BEGIN PROMPT", "# END PROMPT")):
            out.append(line)
    return "\n".join(out)


def _otter_solution(source: str) -> str:
    """The solution's code of an otter solution cell: its regions, without the prompt strings."""
    out, prompt = [], False
    for line in source.splitlines():
        if line.rstrip().endswith("# BEGIN PROMPT"):
            prompt = True
        elif line.rstrip().endswith("# END PROMPT"):
            prompt = False
        elif not prompt and line.strip() not in ("# BEGIN SOLUTION NO PROMPT", "# END SOLUTION"):
            out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_otter_solution_cells_give_students_labkits_stubs_and_keep_the_solution(lab):
    nb = otter.otter_master(_master(lab), seed=SEED, wheel=WHEEL)
    cells: dict[str, list[str]] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("labkit", {})
        if meta.get("kind") == "solution":
            ast.parse(cell.source)  # the autograder's notebook runs it as it is
            cells.setdefault(meta["exercise"], []).append(cell.source)
    assert {k: [_otter_student(s) for s in v] for k, v in cells.items()} == _labkit_cells(lab, "student")
    assert {k: [_otter_solution(s) for s in v] for k, v in cells.items()} == _labkit_cells(lab, "solution")
    for name, sources in cells.items():
        assert any(f'raise NotImplementedError("exercise {name} is not done yet")' in s for s in sources)


def test_otter_parameters_are_the_ones_labkit_grades_with():
    lab = labs.get(4)
    nb = otter.otter_master(_master(lab), seed=SEED, wheel=WHEEL)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'profile = "quick"' in cell.source and 'model_name = "efficientnet_lite0"' in cell.source
    assert lab.graded_with == {"profile": "quick", "model_name": "efficientnet_lite0"}


def test_otter_export_writes_the_masters_requirements_and_wheel(tmp_path):
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"a wheel")
    written = otter.export([notebooks_dir() / f"{lab.name}.ipynb" for lab in LABS], tmp_path / "otter", seed=SEED,
                           wheel=wheel)
    assert sorted(p.name for p in written) == sorted([*(f"{lab.name}.ipynb" for lab in LABS), "requirements.txt",
                                                      WHEEL])
    assert (tmp_path / "otter" / WHEEL).read_bytes() == b"a wheel"
    assert f"{otter.AUTOGRADER_FILES}/{WHEEL}" in (tmp_path / "otter" / "requirements.txt").read_text().splitlines()


def test_a_bad_master_writes_nothing_in_either_format(tmp_path):
    nb = nbformat.read(notebooks_dir() / "04_universal_masked_image.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "raw" and 'name: "4.2"' in c.source]
    cell.source = cell.source.replace("points: 2", "points: 5")  # the lab declares 2
    bad = tmp_path / "masters" / "04_universal_masked_image.ipynb"
    bad.parent.mkdir()
    nbformat.write(nb, bad)
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"a wheel")
    with pytest.raises(LabkitError, match="points: 5"):
        otter.export([bad], tmp_path / "out" / "otter", seed=SEED, wheel=wheel)
    with pytest.raises(LabkitError, match="points: 5"):
        nbgrader.export([bad], tmp_path / "out" / "nbgrader", seed=SEED)
    assert not (tmp_path / "out").exists()


def test_nbgrader_refuses_a_prompt_only_students_get_rather_than_dropping_it(tmp_path):
    nb = nbformat.read(notebooks_dir() / "04_universal_masked_image.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "raw" and 'name: "4.4"' in c.source) + 1
    nb.cells[at:at] = [nbformat.v4.new_raw_cell("# BEGIN PROMPT"),
                       nbformat.v4.new_markdown_cell("_Answer in two or three sentences._"),
                       nbformat.v4.new_raw_cell("# END PROMPT")]
    path = tmp_path / "masters" / "04_universal_masked_image.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    assert any(c.source == "_Answer in two or three sentences._" for c in parse_master(path).student.cells)
    with pytest.raises(LabkitError, match=r"exercise 4.4: nbgrader has no cells that only students get \(a PROMPT "
                                          r"block's text\)"):
        nbgrader.nbgrader_source(parse_master(path), seed=SEED)


def _stamps(root) -> dict:
    """Every file under ``root``: its bytes and its inode (a file written again gets a new inode)."""
    return {p: (p.read_bytes(), p.stat().st_ino) for p in sorted(root.rglob("*")) if p.is_file()}


def test_both_exports_are_byte_stable_and_left_alone_when_unchanged(tmp_path):
    master = notebooks_dir() / "04_universal_masked_image.ipynb"
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"a wheel")
    for name, export in (("otter", lambda out: otter.export([master], out, seed=SEED, wheel=wheel)),
                         ("nbgrader", lambda out: nbgrader.export([master], out, seed=SEED))):
        export(tmp_path / "a" / name)
        first = _stamps(tmp_path / "a" / name)
        export(tmp_path / "a" / name)
        assert _stamps(tmp_path / "a" / name) == first, name  # same bytes: not written again
        export(tmp_path / "b" / name)
        assert {p.relative_to(tmp_path / "b"): data for p, (data, _) in _stamps(tmp_path / "b" / name).items()} == \
            {p.relative_to(tmp_path / "a"): data for p, (data, _) in first.items()}, name
        for path in first:
            if path.suffix == ".ipynb":
                ids = [c.id for c in nbformat.read(path, as_version=4).cells]
                assert len(ids) == len(set(ids)), name


# -- nbgrader -----------------------------------------------------------------------------------------------------

def _graded_cells(nb) -> dict[str, tuple[str, float, str]]:
    return {c.metadata.nbgrader["grade_id"]: (c.cell_type, c.metadata.nbgrader["points"], c.source)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_every_master_becomes_an_nbgrader_source_with_the_declared_points_and_labkits_tests(lab):
    nb = nbgrader.nbgrader_source(_master(lab), seed=SEED)
    nbformat.validate(nb)
    graded = _graded_cells(nb)
    want = {}
    for ex in lab.exercises:
        slug = "ex" + ex.name.replace(".", "_")
        want[f"{slug}-answer" if ex.written else f"{slug}-tests"] = ("markdown" if ex.written else "code", ex.points)
    assert {k: v[:2] for k, v in graded.items()} == want
    assert sorted(v[2] for k, v in graded.items() if k.endswith("-answer")) == sorted(_answers(lab))
    for ex in _coding(lab):
        test = graded["ex" + ex.name.replace(".", "_") + "-tests"][2]
        visible, hidden = test.split("### BEGIN HIDDEN TESTS\n")
        assert f"autograde.public({ex.name!r}, globals())" in visible
        assert hidden == f"autograde.hidden({ex.name!r}, seed={SEED})\n### END HIDDEN TESTS"
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)


def _nbgrader_student(source: str) -> str:
    """What nbgrader generate_assignment gives students (code_stub set to a comment, as CONFIG does)."""
    out, inside = [], False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            inside = True
            out.append(line[:len(line) - len(line.lstrip())] + "# YOUR CODE HERE")
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_nbgrader_solution_cells_end_with_labkits_stub_which_only_students_reach(lab):
    nb = nbgrader.nbgrader_source(_master(lab), seed=SEED)
    assert '"# YOUR CODE HERE"' in nbgrader.CONFIG
    students = _labkit_cells(lab, "student")
    for cell in nb.cells:
        meta = cell.metadata.get("labkit", {})
        if meta.get("kind") != "solution":
            continue
        name = meta["exercise"]
        mine = _nbgrader_student(cell.source)
        assert mine.replace("# YOUR CODE HERE", f"# exercise {name}: your code here") in students[name]
        stub = f'raise NotImplementedError("exercise {name} is not done yet")'
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):  # in the solution, the stub comes after a return: never reached
            for body in [getattr(node, "body", None)] if isinstance(getattr(node, "body", None), list) else []:
                for before, stmt in zip(body, body[1:], strict=False):
                    if isinstance(stmt, ast.Raise) and ast.unparse(stmt) == stub.replace('"', "'"):
                        assert isinstance(before, (ast.Return, ast.Raise)), (name, ast.unparse(before))
        assert cell.source.count(stub) == 1


def test_the_cli_writes_an_nbgrader_course_and_refuses_a_seed_for_labkits_own_release(tmp_path, capsys):
    assert main(["assign", "04", "--format", "nbgrader", "--seed", "7", "--out", str(tmp_path)]) == 0
    course = tmp_path / "nbgrader"
    assert (course / "nbgrader_config.py").read_text() == nbgrader.CONFIG
    nb = nbformat.read(course / "source" / "04_universal_masked_image" / "04_universal_masked_image.ipynb", 4)
    assert any("autograde.hidden('4.3', seed=7)" in c.source for c in nb.cells)
    assert main(["assign", "04", "--seed", "7", "--out", str(tmp_path / "labkit")]) == 2
    assert "--seed is for --format otter or nbgrader" in capsys.readouterr().err
    assert not (tmp_path / "labkit").exists()
    for fmt in ("otter", "nbgrader"):  # the hidden cases' seed is the teacher's secret: no default
        assert main(["assign", "04", "--format", fmt, "--out", str(tmp_path / "unseeded")]) == 2
        assert f"--format {fmt} needs --seed" in capsys.readouterr().err
    assert not (tmp_path / "unseeded").exists()


# -- the kernel's side --------------------------------------------------------------------------------------------

def test_public_raises_what_the_self_check_says():
    autograde.public("4.1", functions("4.1"))
    with pytest.raises(AssertionError, match="partition"):
        autograde.public("4.1", functions("4.1", bug=True))
    stub = {}
    exec("def stripe_masks(k, size):\n    raise NotImplementedError('exercise 4.1 is not done yet')\n", stub)  # noqa: S102
    with pytest.raises(AssertionError, match="not done yet"):
        autograde.public("4.1", stub)
    with pytest.raises(ValueError, match="written answer"):
        autograde.public("4.4", {})


def test_hidden_scores_the_cases_in_a_clean_room_and_otters_tests_split_them():
    n = autograde.cases("4.1", SEED)
    right = [SETUP, source("4.1")]
    assert autograde.hidden("4.1", SEED, cells=right) == labs.exercise("4.1").points
    assert autograde.hidden("4.1", SEED, at_least=n, of=n, cells=right) is None
    wrong = [SETUP, source("4.1", bug=True)]
    assert autograde.hidden("4.1", SEED, cells=wrong) < labs.exercise("4.1").points
    with pytest.raises(AssertionError, match="hidden tests pass"):
        autograde.hidden("4.1", SEED, at_least=n, of=n, cells=wrong)
    with pytest.raises(AssertionError, match="written for"):
        autograde.hidden("4.1", SEED, at_least=1, of=n + 1, cells=right)
    lazy = [SETUP, "def stripe_masks(k, size):\n    return masks.masks('stripes', k, size)\n"]
    assert autograde.hidden("4.1", SEED, cells=lazy) == 0  # labkit's own masks are not in the clean room


def test_hidden_says_when_the_clean_room_ran_without_the_sandbox(monkeypatch, capsys):
    from labkit.grading import cleanroom, isolate

    class Result:
        points, max_points, message = 1.0, 2.0, "exercise 4.1: a case with 3 masks fails"

    sandboxed = []

    def room(*args, sandbox, **kwargs):
        sandboxed.append(sandbox)
        return Result(), None

    monkeypatch.setattr(cleanroom, "grade_exercise", room)
    n = autograde.cases("4.1", SEED)
    cells = [SETUP, source("4.1")]
    for available in (True, False):
        monkeypatch.setattr(autograde.kernel, "_ROOMS", {})
        monkeypatch.setattr(isolate, "sandbox_support",
                            lambda available=available: isolate.SandboxSupport(available, "no bwrap: a test"))
        assert autograde.hidden("4.1", SEED, cells=cells) == 1.0
        printed = capsys.readouterr().out
        with pytest.raises(AssertionError) as raised:
            autograde.hidden("4.1", SEED, at_least=n, of=n, cells=cells)
        for said in (printed, str(raised.value)):
            assert "a case with 3 masks fails" in said
            assert ("WITHOUT labkit's sandbox" in said and "no bwrap: a test" in said) is not available, said
    assert sandboxed == [True, False]


def test_exporters_are_the_cli_formats():
    assert set(autograde.exporters()) == {"otter", "nbgrader"}
