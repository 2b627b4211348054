"""The grading batch (lab 2): recording, lying, raising, looping, memory-hungry, destructive, corrupt, chatty and
path-traversing submissions graded to the end; points only for what the grader saw the student's own code do."""

import csv
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit import LabkitError, attacks, grading, images
from labkit.execute import execute, main

BATCH = Path(__file__).parent / "grading_batch"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, lite0):
    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    shutil.copytree(BATCH, subs)
    shutil.copyfile(BATCH / "alice.ipynb", subs / "..\\..\\mallory.ipynb")  # a name that tries path traversal
    # a genuinely fooling image for the good submissions, made the lab's way
    x = images.fit_batch(["chelsea"], 224)
    result = attacks.fooling_images(lite0, x, [6], steps=100, progress=False)
    assert result.success.all()
    fooled = root / "fooled_to_6.npy"
    np.save(fooled, result.images[0].astype(np.float32))
    out = root / "out"
    # the cell limit is what stops the endless loop; the memory hog crosses its limit in under a second, whatever
    # the machine's load, long before it
    outcomes = grading.grade(subs, 2, out, jobs=2, timeout=300, cell_timeout=20, memory_mb=2048,
                             parameters={"fooled_npy": str(fooled)}, data=[fooled], progress=False)
    return {o.student: o for o in outcomes}, out, subs


def test_every_submission_gets_its_status(graded):
    outcomes, _, _ = graded
    status = {k: o.status for k, o in outcomes.items()}
    assert status == {
        "alice": "ok", "henry": "ok", "mallory": "ok", "bob_claims_success": "ok",
        "carol_raises": "failed", "dave_loops": "timeout", "erin_allocates": "killed",
        "frank_deletes": "ok", "grace_corrupt": "invalid", "ivan_prints": "ok", "zoe_writes_the_loop": "ok",
    }
    assert "memory limit exceeded" in outcomes["erin_allocates"].message


def test_only_the_students_own_code_earns_points(graded):
    """A genuinely fooling image that labkit's loop made, recorded with its results, earns nothing; the student's
    own loop, run by the grader on the lab's photo and re-classified, earns the fooling check."""
    outcomes, _, _ = graded
    for recorded in ("alice", "henry", "mallory", "bob_claims_success", "frank_deletes", "ivan_prints"):
        assert outcomes[recorded].total == 0, (recorded, [c for c in outcomes[recorded].checks if c.points])
    zoe = {c.name: c for c in [*outcomes["zoe_writes_the_loop"].checks, *outcomes["zoe_writes_the_loop"].exercises]}
    assert zoe["fooling"].passed and zoe["fooling"].points == 4, zoe["fooling"]
    assert zoe["2.2"].points == 3 and zoe["2.1"].points == zoe["2.3"].points == 0
    assert not zoe["runs"].passed and "2.1, 2.3 are not done" in zoe["runs"].message
    bob = {c.name: c for c in outcomes["bob_claims_success"].checks}
    assert not bob["fooling"].passed and "make_fooling_image" in bob["fooling"].message


def test_heavy_output_is_cut_not_timed_out(graded):
    outcomes, out, _ = graded
    assert outcomes["ivan_prints"].status == "ok"
    executed = out / "executed" / "ivan_prints.ipynb"
    assert executed.stat().st_size < 1 << 20 and "output cut" in executed.read_text()


# a matplotlib figure's size in a notebook: ~300 KB of base64 PNG
FIGURE = ("import base64, os\nfrom IPython.display import display\n\n"
          "def figure(n=225_000):\n"
          "    png = base64.b64encode(os.urandom(n)).decode()\n"
          "    display({'image/png': png, 'text/plain': '<Figure size 640x480 with 1 Axes>'}, raw=True)")


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def _outputs(path: Path) -> dict[str, list]:
    return {c.source: c.outputs for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"}


def test_a_plain_run_keeps_its_figures(tmp_path):
    """``labkit run`` caps nothing: a lab's figures are kept whole, however many a cell shows."""
    one, many = "figure()\nprint('after')", "for _ in range(8):\n    figure()"
    run = execute(_notebook(tmp_path / "lab.ipynb", FIGURE, one, many), tmp_path / "out.ipynb")
    assert run.status == "ok", run.message
    outputs = _outputs(run.notebook)
    assert len(outputs[one][0].data["image/png"]) == 300_000 and outputs[one][1].text == "after\n"
    assert [len(o.data["image/png"]) for o in outputs[many]] == [300_000] * 8
    assert "output cut" not in run.notebook.read_text()


def test_the_graders_run_cuts_a_flood_of_output(tmp_path):
    """The grader's child (``python -m labkit.execute``) keeps a figure under the cell's limit; a cell that shows
    image after image or prints 20 MB keeps one note, last (its later outputs are dropped); the notebook stays
    small and the next cell keeps its output."""
    small = "figure(30_000)"
    images_ = "for _ in range(20):\n    figure()\nprint('tail')"
    prints = "import sys\nfor _ in range(20):\n    sys.stdout.write('x' * (1 << 20) + '\\n')\nprint('tail')"
    src = _notebook(tmp_path / "sub.ipynb", FIGURE, small, images_, prints, "print('done')")
    executed = tmp_path / "out.ipynb"
    assert main([str(src), str(executed), "--cwd", str(tmp_path), "--cell-timeout", "120", "--keep-going"]) == 0
    assert executed.stat().st_size < 1 << 20
    outputs = _outputs(executed)
    assert len(outputs[small][0].data["image/png"]) == 40_000
    for flood in (images_, prints):
        assert len(outputs[flood]) == 1 and "output cut" in outputs[flood][0].text, outputs[flood]
    assert outputs["print('done')"][0].text == "done\n"


def test_grades_csv_feedback_and_summary(graded):
    outcomes, out, _ = graded
    reader = csv.DictReader(open(out / "grades.csv"))
    rows = list(reader)
    assert reader.fieldnames == ["student", "status", "seconds", "runs", "results", "fooling", "2.1", "2.2", "2.3",
                                 "2.4", "2.5", "total", "max", "sandbox"]
    assert [r["student"] for r in rows] == sorted(outcomes)
    assert {r["student"]: r["total"] for r in rows}["zoe_writes_the_loop"] == "7"
    # the written questions are left empty for the teacher
    assert all(r["max"] == "14" and r["2.4"] == r["2.5"] == "" for r in rows)
    assert all(r[name] in ("0", "0.0") for r in rows for name in ("2.1", "2.3"))
    assert {r["student"]: r["status"] for r in rows}["dave_loops"] == "timeout"
    feedback = (out / "feedback" / "bob_claims_success.md").read_text()
    assert "make_fooling_image" in feedback and "def _fooling" not in feedback and "argmax" not in feedback
    assert "ValueError: my attack diverged" in (out / "feedback" / "carol_raises.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "| fooling | 1/11 |" in summary and "Slowest notebooks" in summary


def test_nothing_escapes_the_scratch_folder(graded):
    _, out, subs = graded
    # the destructive notebook ran on a copy: the submissions are intact
    assert (subs / "frank_deletes.ipynb").is_file() and (subs / "henry" / "notes.txt").is_file()
    # outputs only under out/, named by sanitised ids
    names = {p.name for p in (out / "feedback").iterdir()}
    assert "mallory.md" in names and all("/" not in n and not n.startswith(".") for n in names)
    assert not list(out.parent.glob("mallory*")) and not list(out.parent.parent.glob("mallory*"))


@pytest.mark.parametrize("raw, clean", [("..\\..\\etc\\passwd", "etc_passwd"), ("a b/c", "a_b_c"),
                                        ("...", "student"), ("Zoë-1.2", "Zo_-1.2")])
def test_sanitize_id(raw, clean):
    assert grading.sanitize_id(raw) == clean


def test_bad_arguments(tmp_path):
    with pytest.raises(LabkitError, match="unknown lab 9"):
        grading.grade(BATCH, 9, tmp_path)
    with pytest.raises(LabkitError, match="submissions folder not found"):
        grading.grade(tmp_path / "nope", 2, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabkitError, match="no submissions"):
        grading.grade(tmp_path / "empty", 2, tmp_path)
