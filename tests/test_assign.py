"""labkit.assign: a master notebook (otter's format) -> student and solution notebooks, checked against the
lab registry. Nothing here runs a kernel: the few cells executed are plain definitions."""

import argparse
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit import assign
from labkit.errors import LabkitError

FIXTURES = Path(__file__).parent / "fixtures" / "assign"
LAB = "04_universal_masked_image"
MASTER = FIXTURES / f"{LAB}.ipynb"
NAME = f"{LAB}.ipynb"
REGISTRY = "labkit/labs/universal_masked_image.py"
SOLUTION_MARKERS = ("SOLUTION_41", "SOLUTION_42", "SOLUTION_43", "SOLUTION_44", "SOLUTION_45",
                    "masks[i, rows, :] = 1.0", "round(np.sqrt(k))", "sparse_categorical_crossentropy",
                    "np.random.seed(0)")
TAGS = [("4.1", "prompt"), ("4.1", "solution"), ("4.2", "prompt"), ("4.2", "solution"), ("4.3", "prompt"),
        ("4.3", "solution"), ("4.4", "prompt"), ("4.4", "answer"), ("4.5", "prompt"), ("4.5", "answer")]


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's: these tests need neither Keras nor TensorFlow."""


@pytest.fixture
def released(tmp_path):
    [r] = assign.release([MASTER], tmp_path / "out")
    return r


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _nb(path: Path):
    return nbformat.read(path, as_version=4)


def _tags(nb) -> list[tuple[str, str]]:
    return [(c.metadata["labkit"]["exercise"], c.metadata["labkit"]["kind"])
            for c in nb.cells if "labkit" in c.metadata]


def _cells(nb, exercise: str, kind: str = "solution") -> list:
    return [c for c in nb.cells if c.metadata.get("labkit") == {"exercise": exercise, "kind": kind}]


def _master_solution_lines() -> set[str]:
    """Every line the master marks as solution (in-cell regions, '# SOLUTION' lines, written answers) and shows
    nowhere else."""
    secret, public, block = set(), set(), None
    for c in _nb(MASTER).cells:
        first = c.source.strip().splitlines()[0] if c.source.strip() else ""
        if c.cell_type == "raw" and re.match(r"# (BEGIN|END) SOLUTION$", first):
            block = "solution" if "BEGIN" in first else None
        elif block and c.cell_type == "markdown":
            secret |= {line.strip() for line in c.source.splitlines()}
        elif block:
            inside = False
            for line in c.source.splitlines():
                if re.match(r"\s*# (BEGIN|END) SOLUTION", line):
                    inside = "BEGIN" in line
                elif inside or line.rstrip().endswith("# SOLUTION"):
                    secret.add(line.removesuffix("# SOLUTION").strip())
                else:
                    public.add(line.strip())
        else:
            public |= {line.strip() for line in c.source.splitlines()}
    return {line for line in secret - public if len(line) > 3}


def test_release_writes_two_notebooks_named_after_the_lab(released, tmp_path):
    assert sorted(_files(tmp_path / "out")) == [f"solution/{NAME}", f"student/{NAME}"]
    assert released.lab == LAB and released.master == MASTER
    assert [(q.name, q.points, q.manual) for q in released.questions] == [
        ("4.1", 2, False), ("4.2", 2, False), ("4.3", 3, False), ("4.4", 2, True), ("4.5", 2, True)]
    assert [q.defines for q in released.questions[:3]] == [["stripe_masks"], ["square_masks"], ["masked_copies_loss"]]
    for path in (released.student, released.solution):
        nbformat.validate(_nb(path))


def test_student_notebook_contains_no_solution_line(released):
    text = released.student.read_text()  # the whole JSON, metadata included
    for marker in (*SOLUTION_MARKERS, "INSTRUCTOR_ONLY", "BEGIN", "END SOLUTION", "ASSIGNMENT CONFIG"):
        assert marker not in text, marker
    shown = {line.strip() for c in _nb(released.student).cells for line in c.source.splitlines()}
    secret = _master_solution_lines()
    assert len(secret) > 10 and not secret & shown


def test_solution_notebook_keeps_solutions_without_markers(released):
    text = released.solution.read_text()
    for marker in SOLUTION_MARKERS:
        assert marker in text, marker
    for gone in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN PROMPT", "BEGIN QUESTION", "ASSIGNMENT CONFIG", "# SEED",
                 "NotImplementedError", "INSTRUCTOR_ONLY", "n_rows = ...", "near-equal height, as evenly"):
        assert gone not in text, gone
    assert not re.search(r"# SOLUTION\b(?!_)", text)


def test_metadata_per_exercise_cell_and_notebook(released):
    student, solution = _nb(released.student), _nb(released.solution)
    assert _tags(student) == _tags(solution) == TAGS
    for nb, kind in ((student, "student"), (solution, "solution")):
        assert nb.metadata["labkit"] == {"notebook": kind, "lab": LAB, "exercises": ["4.1", "4.2", "4.3", "4.4", "4.5"]}
        assert "kernelspec" in nb.metadata
    [answer] = _cells(student, "4.4", "answer")
    assert answer.source == assign.ANSWER_TEXT and answer.cell_type == "markdown"
    [prompt] = _cells(student, "4.5", "answer")  # the PROMPT block replaces the placeholder
    assert prompt.source == "_Answer in two or three sentences._"
    assert all(c.metadata.get("editable") is False for c in student.cells if c.metadata.get("labkit", {}).get("kind")
               == "prompt")


def test_outputs_cleared_in_both(tmp_path):
    nb = _nb(MASTER)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="OUTPUT_MARKER\n")]
            c.execution_count = 7
    master = tmp_path / "m" / NAME
    master.parent.mkdir()
    nbformat.write(nb, master)
    [r] = assign.release([master], tmp_path / "out")
    for path in (r.student, r.solution):
        assert "OUTPUT_MARKER" not in path.read_text()
        assert all(c.outputs == [] and c.execution_count is None for c in _nb(path).cells if c.cell_type == "code")


def test_parameters_tag_kept_for_papermill(released):
    import papermill

    master = [c for c in _nb(MASTER).cells if "parameters" in c.metadata.get("tags", [])]
    for path in (released.student, released.solution):
        cells = [c for c in _nb(path).cells if "parameters" in c.metadata.get("tags", [])]
        assert [c.source for c in cells] == [c.source for c in master]
        assert set(papermill.inspect_notebook(str(path))) == {"profile", "seed"}


@pytest.mark.parametrize("exercise, function, args", [("4.1", "stripe_masks", (4, 8)), ("4.2", "square_masks", (4, 8)),
                                                      ("4.3", "masked_copies_loss", (None, None))])
def test_stubs_name_the_exercise(released, exercise, function, args):
    [cell] = _cells(_nb(released.student), exercise)
    namespace = {"np": np}
    exec(cell.source, namespace)
    with pytest.raises(NotImplementedError, match=rf"^exercise {re.escape(exercise)} is not done yet$"):
        namespace[function](*args)
    assert assign.stub_lines(exercise) == [f"# exercise {exercise}: your code here", assign.stub(exercise)]
    lines = [line.strip() for line in cell.source.splitlines()]
    assert any(lines[i:i + 2] == assign.stub_lines(exercise) for i in range(len(lines)))


def test_student_notebook_runs_top_to_bottom(released, capsys):
    """Every code cell, in order (the stubs only raise when called; ``with exercise`` skips the step)."""
    namespace: dict = {}
    for c in _nb(released.student).cells:
        if c.cell_type == "code":
            exec(c.source, namespace)
    assert "exercise 4.1: not done yet: this step is skipped" in capsys.readouterr().out


def test_paste_solutions_round_trip(released):
    from labkit.exercises.universal_masked_image import square_problems, stripe_problems

    student, solution = _nb(released.student), _nb(released.solution)
    pasted = assign.paste_solutions(released.student, released.solution)  # paths or notebooks
    assert pasted == assign.paste_solutions(student, solution)
    assert _nb(released.student) == student  # a copy: the student notebook is left as it was
    for ex in ("4.1", "4.2", "4.3"):
        assert [c.source for c in _cells(pasted, ex)] == [c.source for c in _cells(solution, ex)]
        assert [c.source for c in _cells(pasted, ex)] != [c.source for c in _cells(student, ex)]
    others = [(c.id, c.source) for c in pasted.cells if c.metadata.get("labkit", {}).get("kind") != "solution"]
    assert others == [(c.id, c.source) for c in student.cells if c.metadata.get("labkit", {}).get("kind") != "solution"]
    assert pasted.metadata == student.metadata
    namespace = {"np": np}
    for c in _cells(pasted, "4.1") + _cells(pasted, "4.2"):
        exec(c.source, namespace)
    assert stripe_problems(namespace["stripe_masks"](5, 16), 5, 16) == []
    assert square_problems(namespace["square_masks"](7, 16), 7, 16) == []


def test_paste_solutions_refuses_mismatched_notebooks(released):
    student, solution = _nb(released.student), _nb(released.solution)
    with pytest.raises(LabkitError, match="a released student notebook and the solution notebook"):
        assign.paste_solutions(solution, student)
    student.cells.remove(_cells(student, "4.2")[0])
    with pytest.raises(LabkitError, match=r"exercise 4.2: 0 solution cell\(s\) in the student notebook, 1 in"):
        assign.paste_solutions(student, solution)


def test_idempotent_same_bytes_and_no_rewrite(tmp_path):
    [first] = assign.release([MASTER], tmp_path / "a")
    stamps = {p: p.stat().st_mtime_ns for p in (first.student, first.solution)}
    before = _files(tmp_path / "a")
    [again] = assign.release([MASTER], tmp_path / "a")
    assert first.changed == [first.student, first.solution] and again.changed == []
    assert _files(tmp_path / "a") == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assign.release([MASTER], tmp_path / "b")
    assert _files(tmp_path / "b") == before


def test_metadata_survives_reordering(released):
    nb = _nb(released.student)
    before = {c.id: c.metadata.get("labkit") for c in nb.cells}
    nb.cells.reverse()
    after = {c.id: c.metadata.get("labkit") for c in nbformat.reads(nbformat.writes(nb), as_version=4).cells}
    assert after == before  # the exercise is in the cell, not in its position


def test_ids_are_stable_when_the_master_has_none(tmp_path):
    raw = json.loads(MASTER.read_text())
    for c in raw["cells"]:
        c.pop("id")
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / NAME
    path.write_text(json.dumps(raw))
    [a], [b] = assign.release([path], tmp_path / "a"), assign.release([path], tmp_path / "b")
    assert a.student.read_bytes() == b.student.read_bytes() and a.solution.read_bytes() == b.solution.read_bytes()


def test_released_notebook_is_not_a_master(released, tmp_path):
    for path in (released.student, released.solution):
        with pytest.raises(LabkitError, match="is a released (student|solution) notebook"):
            assign.release([path], tmp_path / "again")
    assert not (tmp_path / "again").exists()


# -- malformed masters: one clear error naming the notebook (and the cell), and nothing written ----------------------

def _edit(tmp_path, change, name: str = NAME) -> Path:
    nb = _nb(MASTER)
    change(nb.cells)
    path = tmp_path / "bad" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def _find(cells, start: str, nth: int = 0) -> int:
    return [i for i, c in enumerate(cells) if c.source.startswith(start)][nth]


def _delete(start, nth=0):
    return lambda cells: cells.pop(_find(cells, start, nth))


def _replace(start, old, new, nth=0):
    def change(cells):
        c = cells[_find(cells, start, nth)]
        assert old in c.source
        c.source = c.source.replace(old, new)
    return change


def _insert(at_start, *cells_, nth=0):
    def change(cells):
        at = _find(cells, at_start, nth)
        cells[at:at] = list(cells_)
    return change


def _delete_question(name):
    def change(cells):
        start = _find(cells, f'# BEGIN QUESTION\nname: "{name}"')
        end = next(i for i in range(start, len(cells)) if cells[i].source.startswith("# END QUESTION"))
        del cells[start:end + 1]
    return change


raw, md, code = nbformat.v4.new_raw_cell, nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
_41 = "def stripe_masks"

CASES = {
    # the registry
    "missing exercise": (_delete_question("4.3"), rf"^{NAME}: exercise 4.3 \('the loss over the K masked copies', 3 "
                                                  rf"points\) is declared in {REGISTRY} but has no '# BEGIN QUESTION'"),
    "extra question": (_insert("That is all.", raw('# BEGIN QUESTION\nname: "4.6"\npoints: 1\nmanual: true'),
                               md("Any other thoughts?"), raw("# END QUESTION")),
                       rf"cell 40 .*question 4.6 is not an exercise of lab 4: {REGISTRY} declares 4.1, 4.2, 4.3, "),
    "wrong points": (_replace('# BEGIN QUESTION\nname: "4.3"', "points: 3", "points: 4"),
                     rf"cell 19 .*question 4.3 has points: 4, but {REGISTRY} declares 3"),
    "written not manual": (_replace('# BEGIN QUESTION\nname: "4.4"', "manual: true", "manual: false"),
                           rf"cell 25 .*question 4.4 is a written exercise in {REGISTRY}: add 'manual: true'"),
    "coding marked manual": (_replace('# BEGIN QUESTION\nname: "4.1"', "points: 2", "points: 2\nmanual: true"),
                             rf"cell 6 .*question 4.1 is a coding exercise in {REGISTRY}: remove 'manual: true'"),
    "missing defined function": (_replace(_41, "def stripe_masks(", "def stripe_mask("),
                                 rf"cell 6 .*solution of exercise 4.1 does not define stripe_masks, which {REGISTRY} "
                                 r"declares"),
    "coding without code": (lambda cells: cells.__setitem__(_find(cells, "def masked_copies_loss"), md("a formula")),
                            r"cell 19 .*exercise 4.3 is a coding exercise but its SOLUTION block has no code cell"),
    "tests block": (_insert("# END QUESTION", raw("# BEGIN TESTS"), code("def test_x(stripe_masks):\n    assert 1"),
                            raw("# END TESTS")),
                    rf"cell 11 \(raw cell starting '# BEGIN TESTS'\): otter's TESTS blocks are not part of a labkit "
                    rf"master: exercise checks are declared in {REGISTRY} \(labkit.exercises\), not in the notebook"),
    "tests marker in a code cell": (_insert("# END QUESTION", code("# BEGIN TESTS\nassert True")),
                                    r"cell 11 .*TESTS blocks are not part"),
    "whole-cell solution": (lambda cells: setattr(cells[_find(cells, _41)], "source",
                                                  "def stripe_masks(k, size):\n    return np.zeros((k, size, size))"),
                            r"cell 9 .*exercise 4.1: the student's cell would raise NotImplementedError as soon as it "
                            r"runs"),
    "top-level region": (_replace(_41, "return masks", "return masks\n\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION"),
                         r"cell 9 .*would raise NotImplementedError"),
    # the otter format
    "unbalanced block": (_delete("# END SOLUTION", 1), r"cell 17 .*'# END QUESTION' while the SOLUTION block opened at "
                                                      r"cell 15 is still open: is its '# END SOLUTION' missing\?"),
    "end without begin": (_delete("# BEGIN PROMPT"), r"cell 34 .*'# END PROMPT' without a '# BEGIN PROMPT'"),
    "never closed": (_delete("# END QUESTION", 4), r"cell 31 .*'# BEGIN QUESTION' \(question 4.5\) is never closed"),
    "prompt after solution": (_insert("# END QUESTION", raw("# BEGIN PROMPT"), md("x"), raw("# END PROMPT")),
                              r"cell 11 .*question 4.1: its PROMPT block must come before its SOLUTION block"),
    "in-cell begin without end": (_replace(_41, "    # END SOLUTION\n", ""),
                                  r"cell 9 .*line 4: '# BEGIN SOLUTION' is never closed"),
    "in-cell end without begin": (_replace(_41, "    # BEGIN SOLUTION\n", ""),
                                  r"cell 9 .*'# END SOLUTION' without a '# BEGIN SOLUTION'"),
    "malformed in-cell marker": (_replace(_41, "# BEGIN SOLUTION", "# BEGIN SOLUTON here"),
                                 r"cell 9 .*malformed solution marker"),
    "malformed block marker": (_replace("# BEGIN SOLUTION", "# BEGIN SOLUTION", "# BEGIN SOLUTIONS"),
                               r"cell 8 .*malformed block marker '# BEGIN SOLUTIONS'"),
    "marker in a code cell": (_insert("# BEGIN QUESTION", code("# END QUESTION"), nth=1),
                              r"cell 13 .*block markers must be raw cells"),
    "fenced otter cell": (_insert("# Lab 4", md("```otter\nname: x\n```")),
                          r"cell 2 .*fenced ```otter cells are not supported"),
    "solution outside a block": (_insert("# BEGIN QUESTION", code("x = 42  # SOLUTION"), nth=1),
                                 r"cell 13 .*outside a SOLUTION block: it would reach students"),
    "question without name": (_replace('# BEGIN QUESTION\nname: "4.2"', 'name: "4.2"', ""), r"cell 13 .*has no name"),
    "question without points": (_replace('# BEGIN QUESTION\nname: "4.2"', "points: 2", ""),
                                r"cell 13 .*4.2 has no points"),
    "unquoted float name": (_replace('# BEGIN QUESTION\nname: "4.2"', 'name: "4.2"', "name: 4.20"),
                            r"cell 13 .*is a number to YAML"),
    "unknown question key": (_replace('# BEGIN QUESTION\nname: "4.2"', "points: 2", "points: 2\npoint: 2"),
                             r"cell 13 .*unknown question key\(s\) point"),
    "bad yaml": (_replace('# BEGIN QUESTION\nname: "4.2"', "points: 2", "points: [2"), r"cell 13 .*not valid YAML"),
    "duplicate name": (_replace('# BEGIN QUESTION\nname: "4.2"', 'name: "4.2"', 'name: "4.1"'),
                       r"cell 13 .*duplicate question name 4.1 \(first at cell 6\)"),
    "solution does not parse": (_replace(_41, "masks[i, rows, :] = 1.0", "masks[i, rows, :] = ("),
                                r"cell 9 .*solution of exercise 4.1 does not parse"),
    "no prompt that empties a block": (lambda cells: setattr(cells[_find(cells, _41)], "source", (
        "def stripe_masks(k, size):\n    # BEGIN SOLUTION NO PROMPT\n    return np.zeros((k, size, size))\n"
        "    # END SOLUTION")), r"cell 9 .*student version of exercise 4.1 .* does not parse"),
    "leak through a prompt": (_replace(_41, "    # BEGIN SOLUTION\n",
                                       '    """ # BEGIN PROMPT\n    masks[i, rows, :] = 1.0\n    """ # END PROMPT\n'
                                       "    # BEGIN SOLUTION\n"),
                              rf"^{NAME}: exercise 4.1: solution text would reach students"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_master_is_one_clear_error_and_writes_nothing(tmp_path, case):
    change, pattern = CASES[case]
    bad = _edit(tmp_path, change)
    out = tmp_path / "out"
    with pytest.raises(LabkitError) as info:
        assign.release([bad], out)
    message = str(info.value)
    assert message.startswith(f"{NAME}, cell ") or message.startswith(f"{NAME}: "), message
    assert re.search(pattern, message), message
    assert not out.exists()
    for marker in SOLUTION_MARKERS[:3]:  # errors never quote a solution
        assert marker not in message, message


def test_master_must_be_named_after_a_lab(tmp_path):
    bad = _edit(tmp_path, lambda cells: None, name="lab4.ipynb")
    with pytest.raises(LabkitError, match=r"^lab4.ipynb: no lab called 'lab4' in the registry: .*"
                                          r"04_universal_masked_image.ipynb"):
        assign.release([bad], tmp_path / "out")


def test_no_question_is_an_error(tmp_path):
    path = tmp_path / NAME
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), path)
    with pytest.raises(LabkitError, match=rf"^{NAME} has no '# BEGIN QUESTION' cell: not a master notebook \(lab 4 "
                                          rf"declares exercises 4.1, 4.2, 4.3, 4.4, 4.5 in {REGISTRY}\)"):
        assign.release([path], tmp_path / "out")


def test_every_master_is_checked_before_anything_is_written(tmp_path):
    other = tmp_path / "other" / "02_network_visualisation.ipynb"  # lab 4's questions in lab 2's master
    other.parent.mkdir()
    shutil.copy(MASTER, other)
    out = tmp_path / "out"
    with pytest.raises(LabkitError, match=r"^02_network_visualisation.ipynb, cell 6 .*question 4.1 is not an "
                                          r"exercise of lab 2: labkit/labs/network_visualisation.py declares 2.1"):
        assign.release([MASTER, other], out)
    assert not out.exists()
    with pytest.raises(LabkitError, match="two masters for lab 04_universal_masked_image"):
        assign.release([MASTER, _edit(tmp_path, lambda cells: None)], out)
    assert not out.exists()


def test_failed_release_leaves_a_previous_release_untouched(tmp_path):
    out = tmp_path / "out"
    assign.release([MASTER], out)
    before = _files(out)
    with pytest.raises(LabkitError):
        assign.release([_edit(tmp_path, _delete("# END SOLUTION", 1))], out)
    assert _files(out) == before


def test_no_prompt_seed_and_line_markers(tmp_path):
    path = _edit(tmp_path, lambda cells: setattr(cells[_find(cells, _41)], "source", (
        "def stripe_masks(k, size):\n"
        "    height = size / k  # SOLUTION\n"
        "    helper_value_1 = 2  # SOLUTION NO PROMPT\n"
        "    np.random.seed(42)  # SEED\n"
        "    # BEGIN SOLUTION NO PROMPT\n"
        "    secret_rows = np.array_split(np.arange(size), k)\n"
        "    # END SOLUTION\n"
        "    # BEGIN SOLUTION\n"
        "    return secret_rows\n"
        "    # END SOLUTION")))
    [r] = assign.release([path], tmp_path / "out")
    [student] = _cells(_nb(r.student), "4.1")
    assert student.source.splitlines() == ["def stripe_masks(k, size):", "    height = ...",
                                           "    # exercise 4.1: your code here",
                                           '    raise NotImplementedError("exercise 4.1 is not done yet")']
    [solution] = _cells(_nb(r.solution), "4.1")
    assert "height = size / k" in solution.source and "helper_value_1 = 2" in solution.source
    assert "np.random.seed(42)" in solution.source
    assert "SOLUTION" not in solution.source and "SEED" not in solution.source


# -- the command line ---------------------------------------------------------------------------------------------

def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="labkit")
    assign.add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["assign", *argv])
    return args.func(args)


def test_cli(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert _cli("4", "--out", out, "--notebooks", str(FIXTURES)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["04_universal_masked_image: 5 exercises, 11 pts: 3 coding (4.1, 4.2, 4.3; 7 pts), "
                     "2 written (4.4, 4.5; 4 pts)",
                     f"  {os.path.join(out, 'student', NAME)}", f"  {os.path.join(out, 'solution', NAME)}"]
    assert _cli("universal_masked_image", "04", "--out", out, "--notebooks", str(FIXTURES)) == 0
    assert capsys.readouterr().out.count("(unchanged)") == 2
    with pytest.raises(LabkitError, match=r"no master notebook for 01_attention_maps, 02_network_visualisation, "
                                          r"03_noise_fooling in .*assign \(expected 01_attention_maps.ipynb\)"):
        _cli("--out", str(tmp_path / "all"), "--notebooks", str(FIXTURES))
    with pytest.raises(LabkitError, match="unknown lab '9'"):
        _cli("9", "--out", out, "--notebooks", str(FIXTURES))
    assert not (tmp_path / "all").exists()


def test_cli_other_formats_need_a_seed(tmp_path):
    calls = []
    parser = argparse.ArgumentParser(prog="labkit")
    assign.add_cli(parser.add_subparsers(dest="command", required=True),
                   {"otter": lambda masters, out, *, seed: calls.append(seed) or []})
    args = parser.parse_args(["assign", "4", "--format", "otter", "--out", str(tmp_path), "--notebooks", str(FIXTURES)])
    with pytest.raises(LabkitError, match=r"^--format otter needs --seed: .*secret"):
        args.func(args)
    assert calls == []
    args = parser.parse_args(["assign", "4", "--format", "otter", "--seed", "0", "--out", str(tmp_path),
                              "--notebooks", str(FIXTURES)])
    assert args.func(args) == 0 and calls == [0]


def test_repository_masters_release(tmp_path):
    """The real masters in notebooks/, once they have question blocks."""
    from labkit.runner.plan import find_notebooks

    found = find_notebooks()
    if not all("# BEGIN QUESTION" in path.read_text() for path in found.values()):
        pytest.skip("the repository's notebooks have no question blocks yet")
    released = assign.release(list(found.values()), tmp_path / "out")
    assert [r.lab for r in released] == list(found)
    assert any("# NBVAL_CHECK_OUTPUT" in path.read_text() for path in found.values())  # the goldens' markers
    for r in released:  # ... are not the students'
        for path in (r.student, r.solution):
            assert "NBVAL" not in path.read_text(), path
