"""What the grader trusts, and what it does not: the one reader of what a sandbox wrote (links, special files, sizes,
outputs), the clean room's package view (labkit's own implementation and the checkers left out), submission ids,
the cache key and the checks' version."""

import json
import os
import resource
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

import labkit
from labkit import imports, labs, untrusted
from labkit.exercises.source import labkit_names, program
from labkit.grading import cleanroom, cluster
from labkit.grading.submissions import find_submissions

# -- the untrusted reader ---------------------------------------------------------------------------------------


@pytest.fixture
def written(tmp_path):
    """A folder as a sandbox leaves it: the grader's own root, the lab's out_dir inside."""
    out = tmp_path / "work" / "labkit-out"
    out.mkdir(parents=True)
    return tmp_path, out


def test_a_results_file_linked_to_the_graders_files_is_not_followed(written, tmp_path_factory):
    root, out = written
    home = tmp_path_factory.mktemp("instructor-home")
    (home / "grades-2025.json").write_text(json.dumps({"alice": 3, "secret": "the instructor's"}))
    (out / "results.json").symlink_to(home / "grades-2025.json")
    ctx = labs.Context(labs.get(2), "ok", root, out_dir="work/labkit-out")
    assert ctx.results == {}
    (out / "data").symlink_to(home)  # a link on the way counts too
    assert untrusted.read_json(root, "work/labkit-out/data/grades-2025.json") is None
    assert untrusted.read_json(home, "grades-2025.json")["alice"] == 3  # the reader itself works


def test_a_special_file_never_blocks_the_grader(written):
    root, out = written
    (out / "results.json").symlink_to("/proc/kmsg")  # blocks a reader forever
    os.mkfifo(out / "fifo.json")  # blocks an opener until a writer comes
    assert untrusted.read_json(root, "work/labkit-out/results.json") is None
    assert untrusted.read_json(root, "work/labkit-out/fifo.json") is None
    assert untrusted.read_bytes(root, "work/labkit-out/../../etc/passwd", 1000) is None
    assert untrusted.read_bytes(root, "/etc/hostname", 1000) is None  # not the host's file: dir_fd ignored


def test_a_huge_sparse_file_is_refused_unread(written):
    root, out = written
    with open(out / "results.json", "wb") as f:
        f.truncate(2 << 30)  # 2 GB, sparse: no disk, and all of it would be read
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ctx = labs.Context(labs.get(2), "ok", root, out_dir="work/labkit-out")
    assert ctx.results == {}
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: nothing of it was read


def test_a_zip_bomb_and_a_pickle_are_refused(written):
    root, out = written
    np.savez_compressed(out / "bomb.npz", m=np.zeros((64 << 20) // 8 + 1))
    assert (out / "bomb.npz").stat().st_size < 1 << 20
    assert untrusted.read_npz(root, "work/labkit-out/bomb.npz") is None
    np.save(out / "pickled.npy", np.array([object()], dtype=object), allow_pickle=True)
    assert untrusted.read_npy(root, "work/labkit-out/pickled.npy") is None
    np.save(out / "image.npy", np.ones((2, 2)))
    ctx = labs.Context(labs.get(4), "ok", root, out_dir="work/labkit-out")
    assert ctx.array("image.npy").sum() == 4 and ctx.array("../labkit-out/image.npy") is None
    assert ctx.array(str(out / "image.npy")) is None  # an absolute name, even of the right file


def test_an_executed_notebooks_outputs_are_capped(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print", outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                                   text="x" * 50_000)] * 10)]
    nbformat.write(nb, tmp_path / "executed.ipynb")
    read = untrusted.read_notebook(tmp_path, "executed.ipynb")
    outputs = read.cells[0].outputs
    assert 2 <= len(outputs) < 10 and "cut by the grader" in outputs[-1].text
    assert len(json.dumps(outputs)) < untrusted.OUTPUT_LIMIT + 1000
    assert untrusted.read_notebook(tmp_path, "executed.ipynb", limit=1000) is None


# -- the clean room's package view ------------------------------------------------------------------------------


def test_the_view_leaves_out_the_exercises_implementation_and_every_checker(tmp_path):
    ex = labs.exercise("2.2")
    view = cleanroom.package_view(ex, tmp_path) / "labkit"
    fooling = (view / "attacks" / "fooling.py").read_text()
    assert "Unavailable" in fooling.split("def fooling_images")[1].split("\ndef ")[0]
    assert "Unavailable" not in fooling.split("def pgd")[1].split("\ndef ")[0]  # the rest of labkit stays
    checker = (view / "exercises" / "network_visualisation.py").read_text()
    assert "attacks.fooling_images" not in checker and "input_gradient" not in checker  # no reference in sight
    assert (view / "exercises" / "harness.py").read_text() == (
        Path(labkit.__file__).parent / "exercises" / "harness.py").read_text()


def test_in_the_clean_room_labkit_is_the_view_and_its_stubs_raise(tmp_path):
    """The student's code, the view on PYTHONPATH, the real labkit out of reach: what it can import."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import labkit, pathlib\nfrom labkit import attacks, labs\n"
        "def make_fooling_image(model, x, target, lr=1.0, max_iterations=100):\n"
        "    real = pathlib.Path(labkit.__file__).parent\n"
        "    assert real != pathlib.Path(" + repr(str(Path(labkit.__file__).parent)) + ")\n"
        "    assert not (real.parent / 'notebooks').exists()\n"
        "    labs.exercise('2.2').checker.grade  # the registry imports; its checkers are stubs\n"
        "    return attacks.fooling_images(model, x[None], [target])")]
    ex = labs.exercise("2.2")
    prog = program(nb, ex)
    assert cleanroom.uses_reference(prog, ex) == ["fooling_images"]  # named in the code: found without running
    room = cleanroom.run_room(prog, ex, ex.checker.cases(5)[:1], timeout=120, memory_mb=3000)
    assert room.program == "ok" and room.results == [("reference", "Unavailable")], room


def test_the_honest_but_lazy_call_is_named_without_running():
    src = "from labkit import masks as m\nimport labkit.attacks\nx = labkit.attacks.masked_loss\nm.masks\n"
    assert {"labkit.masks.masks", "labkit.attacks.masked_loss"} <= labkit_names(src)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom labkit import masks\n\n"
                                          "def stripe_masks(k, size):\n    return masks.masks('stripes', k, size)")]
    ex = labs.exercise("4.1")
    assert cleanroom.uses_reference(program(nb, ex), ex) == ["masks"]
    result, _ = cleanroom.grade_exercise(ex, nb, seed=1, student="s", timeout=30, memory_mb=1000)
    assert result.points == 0 and "uses labkit's own masks" in result.message


def test_a_program_slices_what_the_exercise_needs_and_names_what_is_missing():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell
    nb.cells = [cell("import numpy as np\nimport time"), cell("time.sleep(3600)  # the lab's long step"),
                cell("SCALE = 2\nUNUSED = open('/nonexistent')"),
                cell("def helper(k):\n    return np.ones(k) * SCALE"),
                cell("def stripe_masks(k, size):\n    return helper(k) + size_of_it"),
                cell("%matplotlib inline\nplt_cell = 1")]
    prog = program(nb, labs.exercise("4.1"))
    assert "time.sleep" not in prog.source and "UNUSED" not in prog.source and "matplotlib" not in prog.source
    assert "SCALE = 2" in prog.source and "def helper" in prog.source and prog.unresolved == ["size_of_it"]
    assert program(nb, labs.exercise("4.2")).missing == ["square_masks"]


# -- ids, the cache key, the checks' version --------------------------------------------------------------------


def _write(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_submission_keeps_the_id_of_its_own_name(tmp_path):
    for name in ("_alice.ipynb", "alice.ipynb", "bob.ipynb", "a b.ipynb", "a_b.ipynb"):
        _write(tmp_path / name)
    _write(tmp_path / "carol" / "lab.ipynb")
    ids = {s.path.name: s.student for s in find_submissions(tmp_path)}
    assert ids == {"_alice.ipynb": "_alice", "alice.ipynb": "alice", "bob.ipynb": "bob", "a_b.ipynb": "a_b",
                   "a b.ipynb": "a_b-2", "carol": "carol"}  # a collision gets a suffix, never another's id
    (tmp_path / "zed.ipynb").symlink_to(tmp_path / "bob.ipynb")  # a top-level link: invalid, never followed
    zed = next(s for s in find_submissions(tmp_path) if s.student == "zed")
    assert zed.problem.startswith("a link") and zed.notebook is None


def test_the_cache_key_holds_the_student_and_every_file_of_a_folder(tmp_path):
    one, twin = _write(tmp_path / "one.ipynb", "same"), _write(tmp_path / "twin.ipynb", "same")
    assert cluster.job_key(one, lab=4, checks="v", student="one") != cluster.job_key(twin, lab=4, checks="v",
                                                                                     student="twin")
    folder = tmp_path / "bob"
    _write(folder / "lab.ipynb", "x")
    keys = {cluster.content_hash(folder)}
    for extra in (".env", ".ipynb_checkpoints/lab-checkpoint.ipynb", "data.txt"):  # the notebook may read any
        _write(folder / extra, "y")
        keys.add(cluster.content_hash(folder))
    (folder / "link").symlink_to("/etc/hostname")
    keys.add(cluster.content_hash(folder))
    assert len(keys) == 5


def test_editing_a_reference_function_regrades(tmp_path):
    """The checks' version covers every module the checks import: labkit's reference (attacks.fooling) and the
    tiny models (testing) included, in a copy of the package."""
    copy = tmp_path / "copy"
    shutil.copytree(Path(labkit.__file__).parent, copy / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    before = cluster.checks_version(2, root=copy)
    assert before == cluster.checks_version(2)
    for edited in ("attacks/fooling.py", "testing.py", "exercises/harness.py"):
        path = copy / "labkit" / edited
        path.write_text(path.read_text() + "\n# edited\n")
        after = cluster.checks_version(2, root=copy)
        assert after != before, edited
        before = after
    assert "labkit.attacks.fooling" in imports.closure(["labkit.labs.network_visualisation"])


def test_the_step_cap_never_reaches_the_graders_references(monkeypatch):
    """LABKIT_MAX_STEPS speeds a lab's loops; a student's fooling loop knows no cap, so neither may labkit's
    reference it is compared with (nor the cases drawn by it)."""
    from planted import functions

    from labkit.exercises import network_visualisation as nv
    from labkit.exercises.harness import run_cases

    ex = labs.exercise("2.2")
    uncapped_cases = ex.checker.cases(3)
    monkeypatch.setenv("LABKIT_MAX_STEPS", "1")
    nv._reachable.cache_clear()  # every reference loop runs again, under the cap
    nv._fooling_loop.cache_clear()
    cases = ex.checker.cases(3)
    assert [c.args[2] for c in cases] == [c.args[2] for c in uncapped_cases]
    result = cleanroom.score(ex, cases, run_cases(functions("2.2"), ex.defines, cases))
    assert result.passed, result.message
