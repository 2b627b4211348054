"""Grading the students' own code (lab 4's exercises 4.1-4.3) and collecting their written answers (4.4, 4.5):
solved, stubbed, buggy, forged, reordered, duplicated, renamed, looping and wrong-lab submissions graded in the
sandbox; the grader's reading of what a probe left, as hostile data; execution that keeps going."""

import csv
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit import grading, labs
from labkit.execute import execute
from labkit.grading import exercises

FIXTURES = Path(__file__).parent / "fixtures" / "exercises"
SEED = 1234
EXERCISE_TIMEOUT = 15
LAB = labs.get(4)


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_notebooks", FIXTURES / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading-exercises")
    subs = root / "submissions"
    subs.mkdir()
    for nb in FIXTURES.glob("*.ipynb"):
        shutil.copyfile(nb, subs / nb.name)
    out = root / "out"
    outcomes = grading.grade(subs, 4, out, jobs=2, timeout=150, cell_timeout=90, memory_mb=3072, progress=False,
                             exercise_timeout=EXERCISE_TIMEOUT, seed=SEED)
    return {o.student: o for o in outcomes}, out


def _points(outcome) -> dict:
    return {e.name: e.points for e in outcome.exercises}


def _messages(outcome) -> dict:
    return {e.name: e.message for e in outcome.exercises}


def test_solutions_and_reordered_or_duplicated_cells_get_every_point(graded):
    outcomes, _ = graded
    for student in ("solved", "moved", "duplicated"):
        o = outcomes[student]
        assert o.status == "ok", (student, o.message)
        assert _points(o) == {"4.1": 2, "4.2": 2, "4.3": 3}, (student, _messages(o))
        assert o.total == 2 + 7  # the lab's "runs" check, and the exercises


def test_stubs_and_forgeries_get_nothing(graded):
    outcomes, out = graded
    for student in ("stubs", "forged"):
        o = outcomes[student]
        assert o.status == "ok" and _points(o) == {"4.1": 0, "4.2": 0, "4.3": 0}, (student, _messages(o))
        assert _messages(o)["4.1"] == "exercise 4.1 is not done yet"
        feedback = (out / "feedback" / f"{student}.md").read_text()
        assert "exercise 4.2 is not done yet" in feedback and "All tests passed" not in feedback
    assert outcomes["forged"].total == outcomes["stubs"].total  # forging earns nothing over not doing the work


def test_a_planted_bug_or_a_renamed_function_loses_that_exercise_only(graded):
    outcomes, _ = graded
    bug, renamed = outcomes["bug"], outcomes["renamed"]
    assert _points(bug) == {"4.1": 0, "4.2": 2, "4.3": 3}
    assert "partition the image" in _messages(bug)["4.1"]
    assert _points(renamed) == {"4.1": 0, "4.2": 2, "4.3": 3}
    assert _messages(renamed)["4.1"] == "exercise 4.1: no function stripe_masks"


def test_an_endless_exercise_is_stopped_and_the_others_still_graded(graded):
    outcomes, _ = graded
    loops = outcomes["loops"]
    assert _points(loops) == {"4.1": 2, "4.2": 0, "4.3": 3}
    assert _messages(loops)["4.2"] == f"exercise 4.2 ran over {EXERCISE_TIMEOUT} s"
    assert loops.status == "ok"  # the notebook itself ran to its end


def test_another_labs_notebook_is_not_run(graded):
    outcomes, _ = graded
    o = outcomes["wrong_lab"]
    assert o.status == "rejected" and o.total == 0
    assert o.message == ("this is the notebook of lab 2 (02_network_visualisation), not lab 4 "
                         "(04_universal_masked_image)")


def test_grades_csv_has_a_column_per_exercise_and_empty_written_ones(graded):
    outcomes, out = graded
    with open(out / "grades.csv") as f:
        reader = csv.DictReader(f)
        rows = {r["student"]: r for r in reader}
        header = reader.fieldnames
    assert header == ["student", "status", "seconds", "runs", "results", "universal", "4.1", "4.2", "4.3", "4.4",
                      "4.5", "total", "max", "sandbox"]
    assert set(rows) == set(outcomes)
    assert all(r["4.4"] == "" and r["4.5"] == "" and r["max"] == "13" for r in rows.values())
    assert (rows["solved"]["4.3"], rows["solved"]["total"]) == ("3", "9")
    assert (rows["loops"]["4.2"], rows["loops"]["total"]) == ("0", "7")


def test_feedback_and_summary(graded):
    _, out = graded
    feedback = (out / "feedback" / "loops.md").read_text()
    assert "| exercise 4.2: K near-square cells that partition the image | 0 / 2 | exercise 4.2 ran over" in feedback
    assert "4.4: why can one image carry K classes? (2 points)" in feedback and "graded by your teacher" in feedback
    summary = (out / "summary.md").read_text()
    assert "| 4.1: K horizontal stripes that partition the image | 4/9 |" in summary
    assert "| 4.2: K near-square cells that partition the image | 5/9 |" in summary


def test_feedback_never_shows_the_hidden_inputs(graded):
    outcomes, out = graded
    for student in outcomes:
        text = (out / "feedback" / f"{student}.md").read_text()
        assert "expected" not in text.lower()
        for name in ("4.1", "4.2"):
            hidden = LAB.exercises[int(name[-1]) - 1].checker.inputs(exercises.exercise_seed(SEED, student, name))
            for k, size in zip(hidden["k"], hidden["size"], strict=True):
                assert f"K = {k}" not in text and f"{size}x{size}" not in text and f"({k}, {size}" not in text


def test_written_answers_file(graded):
    _, out = graded
    text = (out / "answers-04_universal_masked_image.md").read_text()
    assert "The decision regions are close to each other." in text and "print('a fence')" in text
    # outside the fenced answers, only the file's own headings: one per question, one per student under each
    headings = [line for line in _outside_fences(text) if line.startswith("#")]
    assert [h for h in headings if h.startswith("## ")] == [
        "## 4.4: why can one image carry K classes? (2 points)",
        "## 4.5: what does the relative norm difference say about the decision regions? (2 points)"]
    assert headings.count("### solved") == 2 and headings.count("### stubs") == 2
    assert "_(no answer)_" in text  # the stubbed notebook's empty answers


def _outside_fences(text: str) -> list[str]:
    """The lines of ``text`` outside its fenced code blocks (CommonMark: closed by a fence at least as long)."""
    out, fence = [], None
    for line in text.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and m and len(m.group(1)) >= len(fence) and not line.strip("`"):
            fence = None
        elif fence is None:
            out.append(line)
    return out


# -- the grader's reading of what the sandbox left, without a sandbox ----------------------------------------------


def _probed(tmp_path, student="s"):
    nb = nbformat.v4.new_notebook()
    folder = tmp_path / "probes"
    inputs = exercises.add_probes(nb, LAB, folder, SEED, student, 7)
    return nb, folder, inputs


def _report(folder, name, status, **arrays):
    (folder / name / "status.json").write_text(json.dumps(status))
    if arrays:
        np.savez(folder / name / "outputs.npz", **arrays)


def test_add_probes_writes_inputs_and_appends_one_cell_per_coding_exercise(tmp_path):
    nb, folder, inputs = _probed(tmp_path)
    assert [c.metadata["labkit"] for c in nb.cells] == [{"probe": n, "timeout": 7} for n in ("4.1", "4.2", "4.3")]
    assert set(inputs) == {"4.1", "4.2", "4.3"} and (folder / "4.2" / "inputs.npz").is_file()
    again = exercises.add_probes(nbformat.v4.new_notebook(), LAB, tmp_path / "again", SEED, "s", 7)
    other = exercises.add_probes(nbformat.v4.new_notebook(), LAB, tmp_path / "other", SEED, "t", 7)
    assert np.array_equal(again["4.1"]["k"], inputs["4.1"]["k"])  # deterministic
    assert not all(np.array_equal(other[n]["k"], inputs[n]["k"]) for n in ("4.1", "4.2"))  # per student


def test_the_grader_checks_outputs_itself_and_trusts_nothing_else(tmp_path):
    _, folder, inputs = _probed(tmp_path)
    ns = {"np": np}
    exec(_fixture_module().STRIPES, ns)  # noqa: S102 - the fixture's solution
    good = LAB.exercises[0].checker.run({"stripe_masks": ns["stripe_masks"]}, inputs["4.1"])
    _report(folder, "4.1", {"status": "ok"}, **good)
    (folder / "elsewhere.json").write_text(json.dumps({"status": "ok"}))  # a symlinked report is not read
    os.symlink(folder / "elsewhere.json", folder / "4.2" / "status.json")
    _report(folder, "4.3", {"status": "ok"}, loss=np.array([object()], dtype=object))  # a pickle
    results = {r.name: r for r in exercises.grade_exercises(LAB, folder, None, inputs, stopped="timeout")}
    assert results["4.1"].passed and results["4.1"].points == 2
    assert results["4.2"].message == ("exercise 4.2 was not tested: the notebook was stopped before its test "
                                      "(status: timeout)")
    assert results["4.3"].message == "exercise 4.3 could not be tested: its results are unreadable"


def test_the_grader_survives_malformed_reports_and_never_tells_a_hidden_input(tmp_path):
    _, folder, inputs = _probed(tmp_path)
    k, size = inputs["4.1"]["k"], inputs["4.1"]["size"]
    # shapes built from the hidden K and size, the wrong way round: the checker's message would show them
    _report(folder, "4.1", {"status": "ok"},
            **{f"m{i}": np.zeros((int(s), int(s), int(kk))) for i, (kk, s) in enumerate(zip(k, size, strict=True))})
    _report(folder, "4.2", {"status": "raised", "error": f"ValueError: k={k[0]}\n| injected |"})
    os.mkfifo(folder / "4.3" / "status.json")  # would block a reader that opens it
    results = {r.name: r for r in exercises.grade_exercises(LAB, folder, None, inputs)}
    assert not results["4.1"].passed and results["4.1"].message.startswith("exercise 4.1: on the grader's K")
    for kk, s in zip(k, size, strict=True):
        assert f"{s}x{s}" not in results["4.1"].message and f"K = {kk} " not in results["4.1"].message
    assert results["4.2"].message == "exercise 4.2: square_masks raised an error on the grader's inputs"
    assert results["4.3"].message.startswith("exercise 4.3 was not tested")


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    _, folder, inputs = _probed(tmp_path)
    (folder / "4.1" / "status.json").write_text('{"status": "ok"}')
    np.savez_compressed(folder / "4.1" / "outputs.npz", m0=np.zeros(exercises.OUTPUTS_LIMIT // 8 + 1))
    assert (folder / "4.1" / "outputs.npz").stat().st_size < 1 << 20
    result = exercises.grade_exercises(LAB, folder, None, inputs)[0]
    assert result.message == "exercise 4.1 could not be tested: its results are unreadable"


def test_answers_come_from_answer_cells_only():
    nb = _fixture_module().notebook([_fixture_module().solved()])
    nb.cells.append(nbformat.v4.new_markdown_cell("second part", metadata={"labkit": {"exercise": "4.4",
                                                                                     "kind": "answer"}}))
    got = exercises.answers(nb, LAB)
    assert set(got) == {"4.4", "4.5"} and got["4.4"].endswith("\n\nsecond part")
    assert "Why can one image" not in got["4.4"]  # the prompt is not the answer
    assert exercises.answers(nbformat.v4.new_notebook(), LAB) == {"4.4": "", "4.5": ""}


# -- execution that keeps going ---------------------------------------------------------------------------------


def test_keep_going_runs_every_cell_and_times_probes_apart(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell
    nb.cells = [cell("x = 1", metadata={"tags": ["parameters"]}), cell("raise ValueError('first')"),
                cell("while True:\n    pass"), cell("print('after', x)"),
                cell("import time\ntime.sleep(60)", metadata={"labkit": {"probe": "4.1", "timeout": 2}}),
                cell("print('second probe')", metadata={"labkit": {"probe": "4.2", "timeout": 2}})]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    run = execute(tmp_path / "nb.ipynb", tmp_path / "out.ipynb", cell_timeout=3, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped after 3 s")
    cells = [c for c in nbformat.read(run.notebook, as_version=4).cells if c.cell_type == "code"]
    outputs = [[o.get("ename") or o.get("text") for o in c.outputs] for c in cells]
    assert outputs[1:] == [["ValueError"], ["TimeoutError"], ["after 1\n"], ["TimeoutError"], ["second probe\n"]]
    plain = execute(tmp_path / "nb.ipynb", tmp_path / "plain.ipynb", cell_timeout=3)  # labkit run: stops
    assert (plain.status, plain.message) == ("failed", "ValueError: first")


def test_a_linked_notebook_is_not_read_and_an_old_one_gets_cell_ids(tmp_path):
    from labkit.grading.one import Options, grade_one
    from labkit.grading.submissions import Submission

    folder = tmp_path / "eve"
    folder.mkdir()
    os.symlink(FIXTURES / "solved.ipynb", folder / "lab.ipynb")  # another student's notebook, say
    o = grade_one(Submission("eve", folder, folder / "lab.ipynb"), LAB, tmp_path / "out", Options())
    assert o.status == "invalid" and "a link" in o.message and o.total == 0
    old = nbformat.v4.new_notebook()
    old.nbformat_minor = 4
    old.cells = [nbformat.from_dict({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                     "source": "x = 1"})]
    exercises.add_probes(old, LAB, tmp_path / "probes", SEED, "s", 7)
    nbformat.validate(old)
    assert old.nbformat_minor == 5 and len(old.cells) == 4


def test_the_cache_key_follows_the_exercises_checkers(monkeypatch):
    import inspect

    from labkit.exercises import universal_masked_image as checkers
    from labkit.grading import cluster

    before, lab2 = cluster.checks_version(4), cluster.checks_version(2)
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: real(obj) + ("\n# edited" if obj is checkers else ""))
    assert cluster.checks_version(4) != before and cluster.checks_version(2) == lab2


def test_cli_options():
    from labkit.cli import build_parser

    args = build_parser().parse_args(["grade", "subs", "--lab", "4", "--out", "o", "--exercise-timeout", "5",
                                      "--seed", "987"])
    assert (args.exercise_timeout, args.seed) == (5, 987)
    args = build_parser().parse_args(["grade", "subs", "--lab", "4", "--out", "o"])
    assert (args.exercise_timeout, args.seed) == (60, 0)


def _notebook(tmp_path, *cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, metadata=meta) for source, meta in cells]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    return tmp_path / "nb.ipynb"


def test_past_the_deadline_the_notebook_is_skipped_and_the_probes_still_run(tmp_path):
    probe = {"labkit": {"probe": "4.1", "timeout": 5}}
    src = _notebook(tmp_path, ("import time\ntime.sleep(60)", {}), ("print('late')", {}),
                    ("print('probed')", probe))
    run = execute(src, tmp_path / "out.ipynb", timeout=6, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped: the notebook ran over its 6 s")
    cells = nbformat.read(run.notebook, as_version=4).cells
    late, probed = [c for c in cells if c.cell_type == "code"][1:]
    assert "skip-execution" in late.metadata.tags and "over its time limit" in late.outputs[0].text
    assert probed.outputs[0].text == "probed\n"


def test_a_cell_that_swallows_interrupts_is_given_up(tmp_path):
    src = _notebook(tmp_path, ("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except:\n        pass",
                               {}), ("print('never')", {}))
    run = execute(src, tmp_path / "out.ipynb", cell_timeout=1, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped after 1 s and could not be interrupted")
    assert run.seconds < 30
