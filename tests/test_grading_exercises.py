"""Grading the students' own code (lab 4's exercises 4.1-4.3), each in a clean room on hidden cases, and collecting
their written answers (4.4, 4.5): solved, stubbed, buggy, forged, monkeypatched, labkit-calling, reordered,
duplicated, renamed, looping, other-style and wrong-lab submissions graded in the sandbox; execution that keeps
going."""

import csv
import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import grading, labs
from labkit.execute import execute
from labkit.grading import cleanroom, exercises

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


FULL = {"4.1": 2, "4.2": 2, "4.3": 3}
NONE = {"4.1": 0, "4.2": 0, "4.3": 0}


def test_solutions_in_any_style_and_any_cell_order_get_every_point(graded):
    outcomes, _ = graded
    for student in ("solved", "moved", "duplicated", "style", "no_kernelspec"):
        o = outcomes[student]
        assert o.status == "ok", (student, o.message)
        assert _points(o) == FULL, (student, _messages(o))
        assert o.total == 2 + 7  # the run (with the student's work in it), and the exercises


def test_stubs_forgeries_and_monkeypatches_get_nothing(graded):
    outcomes, out = graded
    for student in ("stubs", "forged", "monkeypatched"):
        o = outcomes[student]
        assert o.status == "ok" and _points(o) == NONE, (student, _messages(o))
        assert o.total == 0, (student, o.checks)  # the untouched notebook's run earns nothing on its own
        assert _messages(o)["4.1"] == "exercise 4.1 is not done yet"
        feedback = (out / "feedback" / f"{student}.md").read_text()
        assert "exercise 4.2 is not done yet" in feedback and "All tests passed" not in feedback
        runs = {c.name: c for c in o.checks}["runs"]
        assert not runs.passed and "4.1, 4.2, 4.3 are not done" in runs.message


def test_labkits_own_implementation_earns_nothing_and_is_named(graded):
    outcomes, _ = graded
    calls, patched = outcomes["calls_labkit"], outcomes["patched_room"]
    assert _points(calls) == NONE, _messages(calls)
    said = _messages(calls)
    assert said["4.1"] == ("exercise 4.1 uses labkit's own masks, which implements the exercise: write it yourself "
                           "(it is left out when your code is tested)")  # named in the code: found without running
    assert "calls labkit's own implementation" in said["4.2"]  # reached round about: stopped in the clean room
    assert "labkit's own masked_loss" in said["4.3"]
    assert _points(patched) == {"4.1": 0, "4.2": 2, "4.3": 3}, _messages(patched)  # patching the room's harness


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


def test_another_labs_notebook_is_not_run_whatever_its_metadata_says(graded):
    outcomes, _ = graded
    for student, other in (("wrong_lab", "lab 2 (02_network_visualisation)"), ("unmarked_lab3",
                                                                                 "lab 3 (03_noise_fooling)")):
        o = outcomes[student]
        assert o.status == "rejected" and o.total == 0
        assert o.message == f"this is the notebook of {other}, not lab 4 (04_universal_masked_image)"


def test_grades_csv_has_a_column_per_exercise_and_empty_written_ones(graded):
    outcomes, out = graded
    with open(out / "grades.csv") as f:
        reader = csv.DictReader(f)
        rows = {r["student"]: r for r in reader}
        header = reader.fieldnames
    assert header == ["student", "status", "seconds", "runs", "results", "universal", "4.1", "4.2", "4.3", "4.4",
                      "4.5", "total", "max", "sandbox"]
    assert set(rows) == set(outcomes)
    assert all(r["4.4"] == "" and r["4.5"] == "" and r["max"] == "9" for r in rows.values())
    assert (rows["solved"]["4.3"], rows["solved"]["total"]) == ("3", "9")
    assert (rows["loops"]["4.2"], rows["loops"]["total"]) == ("0", "7")


def test_feedback_and_summary(graded):
    outcomes, out = graded
    feedback = (out / "feedback" / "loops.md").read_text()
    assert "| exercise 4.2: K near-square cells that partition the image | 0 / 2 | exercise 4.2 ran over" in feedback
    assert "4.4: why can one image carry K classes? (2 points)" in feedback and "graded by your teacher" in feedback
    summary = (out / "summary.md").read_text()
    passed = sum(outcomes[s].exercises[0].passed for s in outcomes)
    assert f"| 4.1: K horizontal stripes that partition the image | {passed}/{len(outcomes)} |" in summary


def test_feedback_never_shows_the_hidden_cases(graded):
    outcomes, out = graded
    for student in outcomes:
        text = (out / "feedback" / f"{student}.md").read_text()
        assert "expected" not in text.lower()
        for name in ("4.1", "4.2"):
            cases = labs.exercise(name).checker.cases(cleanroom.exercise_seed(SEED, student, name))
            for k, size in (c.args for c in cases):
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


def test_answers_come_from_answer_cells_only():
    nb = _fixture_module().notebook([_fixture_module().solved()])
    nb.cells.append(nbformat.v4.new_markdown_cell("second part", metadata={"labkit": {"exercise": "4.4",
                                                                                     "kind": "answer"}}))
    got = exercises.answers(nb, LAB)
    assert set(got) == {"4.4", "4.5"} and got["4.4"].endswith("\n\nsecond part")
    assert "Why can one image" not in got["4.4"]  # the prompt is not the answer
    assert exercises.answers(nbformat.v4.new_notebook(), LAB) == {"4.4": "", "4.5": ""}


# -- execution that keeps going ---------------------------------------------------------------------------------


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


def test_a_cell_that_swallows_interrupts_is_given_up(tmp_path):
    # SIGINT ignored, not caught: a try/except around the sleep lets an interrupt that lands between two
    # statements through, more often the busier the machine
    src = _notebook(tmp_path, ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
                               "    time.sleep(0.1)", {}), ("print('never')", {}))
    run = execute(src, tmp_path / "out.ipynb", cell_timeout=1, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped after 1 s and could not be interrupted")
    assert run.seconds < 30


def test_keep_going_runs_every_cell(tmp_path):
    src = _notebook(tmp_path, ("x = 1", {"tags": ["parameters"]}), ("raise ValueError('first')", {}),
                    ("while True:\n    pass", {}), ("print('after', x)", {}))
    run = execute(src, tmp_path / "out.ipynb", cell_timeout=3, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped after 3 s")
    cells = [c for c in nbformat.read(run.notebook, as_version=4).cells if c.cell_type == "code"]
    outputs = [[o.get("ename") or o.get("text") for o in c.outputs] for c in cells]
    assert outputs[1:] == [["ValueError"], ["TimeoutError"], ["after 1\n"]]
    plain = execute(src, tmp_path / "plain.ipynb", cell_timeout=3)  # labkit run: stops
    assert (plain.status, plain.message) == ("failed", "ValueError: first")


def test_past_the_deadline_the_rest_of_the_notebook_is_skipped(tmp_path):
    src = _notebook(tmp_path, ("import time\ntime.sleep(60)", {}), ("print('late')", {}))
    run = execute(src, tmp_path / "out.ipynb", timeout=6, keep_going=True)
    assert (run.status, run.message) == ("timeout", "stopped: the notebook ran over its 6 s")
    late = [c for c in nbformat.read(run.notebook, as_version=4).cells if c.cell_type == "code"][1]
    assert "skip-execution" in late.metadata.tags and "over its time limit" in late.outputs[0].text
