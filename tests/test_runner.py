"""``labkit run`` (runner + report) and the nbval golden-notebook machinery, on fixture notebooks.

tests/fixtures holds three tiny labs without TensorFlow: 01_ok records numbers and saves a figure,
02_raises raises a LabkitError, 03_sleeps sleeps past ``--timeout``. Every executed notebook starts a
kernel (2-3 s), so the runs below each cover several cases at once.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from labkit import LabkitError, cli, runner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
BANNER = "An Exception was encountered"


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's seeding fixture: nothing here uses Keras, so TensorFlow need not load."""


def labkit_run(*args: str, cwd: Path, notebooks: Path = FIXTURES) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit", "run", "--notebooks", str(notebooks), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def errors(path: Path) -> list[tuple[str, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(o.ename, o.evalue) for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("-2.5", -2.5), ("1e3", 1000.0), ("True", True), ("false", False), ("None", None),
    ("none", None), ("[1, 2]", [1, 2]), ("(1, 'a')", [1, "a"]), ('{"k": [1]}', {"k": [1]}),
    ("goose", "goose"), ("'99'", "99"), ("01", "01"), ("a b", "a b"), ("", ""),
])
def test_p_values_are_typed(text, value):
    parsed = runner.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_p_assignments():
    assert runner.parse_assignment("seed=1") == (None, "seed", 1)
    assert runner.parse_assignment("01:photos=['a.jpg', 'b.jpg']") == ("01", "photos", ["a.jpg", "b.jpg"])
    assert runner.parse_assignment("targets=goose=99") == (None, "targets", "goose=99")
    for bad in ("seed", "=3", "1x=3", "01:=3"):
        with pytest.raises(LabkitError, match="expected key=value"):
            runner.parse_assignment(bad)


def test_labs_are_named_by_number_or_name():
    labs = runner.find_notebooks(FIXTURES)
    assert list(labs) == ["01_ok", "02_raises", "03_sleeps"]
    assert [runner.resolve_lab(n, labs) for n in ("1", "02", "sleeps", "01_ok")] == [
        "01_ok", "02_raises", "03_sleeps", "01_ok"]
    with pytest.raises(LabkitError, match=r"unknown lab 'raise' \(did you mean 02_raises\?\)"):
        runner.resolve_lab("raise", labs)


def test_list_shows_each_labs_parameters_with_their_comments(capsys):
    assert cli.main(["run", "--list", "--notebooks", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "01_ok  (" in out and "02_raises  (" in out
    assert re.search(r"\n  n = None +# how many numbers to draw; None: the profile's", out)
    assert re.search(r"\n  seconds = 60 +# how long to sleep", out)


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "unknown lab 'nope'"),
    (["-p", "nn=3"], "unknown parameter 'nn' (did you mean 'n'?): no lab to run declares it"),
    (["-p", "seed"], "expected key=value"),
    (["-p", "04:seed=1"], "unknown lab '04'"),
    (["01", "-p", "02:seed=1"], "lab 02_raises is not among the labs to run"),
    (["--profile", "fast"], "unknown profile 'fast'; one of quick, standard, full"),
    (["--model", "vgg17"], "unknown model 'vgg17'"),
    (["--out", "a_file"], "cannot write to output folder"),
    (["--timeout", "0"], "--timeout must be a positive number"),
    (["-p", "out_dir=x"], "-p out_dir: each lab has its own; use --out DIR"),
])
def test_run_wide_mistakes_stop_everything_before_a_notebook_runs(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("in the way")
    assert cli.main(["run", "--notebooks", str(FIXTURES), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written


def test_a_lab_that_raises_or_times_out_does_not_stop_the_others(tmp_path):
    run = labkit_run("--profile", "quick", "--timeout", "6", "--jobs", "3", "--out", "out",
                     "-p", "01:n=4", "-p", "scale=2.0", "-p", 'words=["x", "y"]', cwd=tmp_path)
    out = tmp_path / "out"
    assert run.returncode == 1, run.stdout + run.stderr
    # the summary table, then each failure's message
    assert re.search(r"\n01_ok +ok +[\d.]+ s +out/01_ok\.ipynb\n", run.stdout), run.stdout
    assert re.search(r"\n02_raises +failed +[\d.]+ s +out/02_raises\.ipynb\n", run.stdout)
    slept = re.search(r"\n03_sleeps +timeout +([\d.]+) s +out/03_sleeps\.ipynb\n", run.stdout)
    assert slept and float(slept.group(1)) < 30  # stopped, not slept for 60 s
    assert "02_raises: LabkitError: this fixture fails on purpose" in run.stdout
    assert "03_sleeps: stopped after 6 s" in run.stdout
    assert "1 of 3 labs ok, 2 did not pass" in run.stdout and "report: out/index.html" in run.stdout

    # typed parameters arrived; scale and words only in the lab that declares them
    ok = json.loads((out / "01_ok" / "results.json").read_text())
    assert ok["params"] == {"profile": "quick", "model_name": "auto", "seed": 0, "n": 4, "scale": 2.0,
                            "words": ["x", "y"]}
    assert ok["n"] == 4 and ok["words"] == ["x", "y"]
    assert errors(out / "01_ok.ipynb") == []
    # failed notebooks are kept, with papermill's error banner on top
    for lab, ename in (("02_raises", "LabkitError"), ("03_sleeps", "TimeoutError")):
        nb = nbformat.read(out / f"{lab}.ipynb", as_version=4)
        assert BANNER in nb.cells[0].source
        assert [e for e, _ in errors(out / f"{lab}.ipynb")] == [ename]
    assert not any("woke up" in str(c.get("outputs")) for c in nbformat.read(out / "03_sleeps.ipynb", 4).cells)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no partial notebook

    # the report: every lab, its HTML notebook, key numbers and figure, and what went wrong
    index = (out / "index.html").read_text()
    for lab in ("01_ok", "02_raises", "03_sleeps"):
        assert (out / f"{lab}.html").stat().st_size > 1000 and f'href="{lab}.html"' in index
    assert 'src="01_ok/values.png"' in index and (out / "01_ok" / "values.png").is_file()
    assert "<th>mean</th>" in index and "<th>words</th><td>x, y</td>" in index
    assert "LabkitError: this fixture fails on purpose" in index and "stopped after 6 s" in index


def test_labs_rejected_for_a_bad_parameter_or_folder_get_a_message_and_the_others_run(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for src in FIXTURES.glob("*.ipynb"):
        shutil.copy(src, notebooks)
    shutil.copy(FIXTURES / "01_ok.ipynb", notebooks / "04_ok.ipynb")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "04_ok").write_text("a file where the lab's output folder should be")
    stale = tmp_path / "out" / "01_ok" / "old.png"
    stale.parent.mkdir()
    stale.write_bytes(b"stale")

    run = labkit_run("--out", "out", "--profile", "quick", "-p", "02:nosuch=1", "-p", "sleeps:profile=fast",
                     cwd=tmp_path, notebooks=notebooks)
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(r"\n01_ok +ok +[\d.]+ s +out/01_ok\.ipynb\n", run.stdout), run.stdout
    for lab in ("02_raises", "03_sleeps", "04_ok"):
        assert re.search(rf"\n{lab} +rejected +- +-\n", run.stdout)
        assert not (tmp_path / "out" / f"{lab}.ipynb").exists()
    assert "02_raises: unknown parameter 'nosuch' for 02_raises; its parameters: profile, model_name" in run.stdout
    assert "03_sleeps: unknown profile 'fast'; one of quick, standard, full" in run.stdout
    assert re.search(r"04_ok: cannot write to output folder \S+04_ok: a file is in the way", run.stdout)
    assert not stale.exists()  # the lab's own output folder starts empty
    assert "unknown parameter 'nosuch'" in html.unescape((tmp_path / "out" / "index.html").read_text())


def test_an_interrupted_run_leaves_no_notebook_behind(tmp_path):
    out = tmp_path / "out"
    # Ctrl-C's default action restored: a shell's background job (`cmd &`) starts with SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-m", "labkit", "run", "--notebooks", str(FIXTURES), "sleeps",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(out.glob(".03_sleeps.partial*.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in text, text
    assert sorted(p.name for p in out.iterdir()) == ["03_sleeps"]  # neither a notebook nor a partial one


def test_nbval_passes_on_a_fresh_golden_notebook_and_fails_when_a_result_changes(tmp_path):
    golden = tmp_path / "golden"
    regen = subprocess.run(["bash", "scripts/regen_golden.sh", "tests/fixtures/01_ok.ipynb"], cwd=ROOT,
                           env={**_env(), "GOLDEN_DIR": str(golden)}, capture_output=True, text=True, timeout=300)
    assert regen.returncode == 0, regen.stdout + regen.stderr
    shutil.copy(ROOT / "tests" / "golden" / "conftest.py", golden)  # nbval's stderr rule, as in tests/golden
    path = golden / "01_ok.ipynb"
    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'profile = "quick"' in params.source and 'model_name = "efficientnet_lite0"' in params.source
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr" or "image/png" in o.get("data", {})]
    assert [bool(c.outputs) for c in code] == ["NBVAL_CHECK_OUTPUT" in c.source for c in code]  # only checked

    def nbval() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "scripts/nbval.sh", str(path)], cwd=ROOT, env=_env(), capture_output=True,
                              text=True, timeout=300)

    same = nbval()  # stderr noise and a memory address differ between runs: ignored / sanitized
    assert same.returncode == 0 and " passed" in same.stdout, same.stdout + same.stderr
    params.source = params.source.replace('profile = "quick"', 'profile = "standard"')  # n: 2 -> 3 numbers
    nbformat.write(nb, path)
    changed = nbval()
    assert changed.returncode == 1 and "Cell outputs differ" in changed.stdout, changed.stdout
    # numbers are masked (each compared under its tolerance in results.json), their count is not
    assert "values:_[#,_#]" in changed.stdout and "values:_[#,_#,_#]" in changed.stdout


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def test_progress_is_shown_during_one_long_cell(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 0.5)
    (outcome,) = runner.run(["03"], params=["seconds=3"], out=tmp_path / "out", notebooks=FIXTURES)
    assert outcome["status"] == "ok"
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "03_sleeps: cell 5/6" in line]
    assert len(lines) >= 3, out  # the sleeping cell (5 of 6 with papermill's injected one) is reported while it runs


PHOTO_PARAMS = [("01", "photos"), ("01", "mosaic_targets"), ("01", "mosaic_fillers"), ("02", "saliency_images"),
                ("02", "fool_image"), ("02", "init_image"), ("03", "photo")]


@pytest.mark.parametrize(("lab", "param"), PHOTO_PARAMS, ids=[f"{lab}:{p}" for lab, p in PHOTO_PARAMS])
def test_a_missing_or_corrupt_photo_rejects_its_lab_before_anything_runs(lab, param, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff not a JPEG after all")
    lists = param in ("photos", "mosaic_targets", "mosaic_fillers", "saliency_images")
    for bad, why in (("nosuch.jpg", "image not found: 'nosuch.jpg'"), (str(corrupt), "cannot read image")):
        value = f"['rocket', {bad!r}]" if lists else bad
        (job,) = runner.plan([lab], params=[f"{param}={value}"], out=tmp_path / "out")
        assert job["status"] == "rejected" and job["message"].startswith(f"{param}: {why}"), job
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no lab folder, no results.json


def test_labkit_run_names_the_bad_photo_and_writes_nothing_for_that_lab(tmp_path):
    run = subprocess.run([sys.executable, "-m", "labkit", "run", "01", "--out", "out", "-p", "photos=['nope.png']"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "01_attention_maps: not run: photos: image not found: 'nope.png'" in run.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["index.html"]


def test_results_json_is_written_at_the_first_record_and_an_earlier_one_goes(tmp_path):
    from labkit import results

    stale = tmp_path / "results.json"
    stale.write_text('{"lab": "an earlier run"}')
    results.start(tmp_path, lab="x", seed=0)
    assert not stale.exists()  # a lab that stops in its setup leaves no results.json of parameters alone
    results.record("n", 3, display=False)
    assert json.loads(stale.read_text()) == {"lab": "x", "params": {"seed": 0}, "n": 3}


EXERCISES = [{"name": "4.1", "title": "K horizontal stripes", "kind": "coding", "status": "passes", "problems": []},
             {"name": "4.2", "title": "K cells", "kind": "coding", "status": "fails",
              "problems": ["the masks do not partition the image"]},
             {"name": "4.3", "title": "the loss", "kind": "coding", "status": "not done", "problems": ["not done yet"]},
             {"name": "4.4", "title": "why?", "kind": "written", "status": "answered", "problems": []},
             {"name": "4.5", "title": "what?", "kind": "written", "status": "not answered", "problems": []}]


def test_the_summary_and_the_report_show_each_exercise_and_results_as_tables(tmp_path):
    """The labs' real results (the golden references) and a lab's exercises: tables and words, no JSON dump."""
    from labkit import report

    outcomes = []
    for reference in sorted((ROOT / "tests" / "golden").glob("*.results.json")):
        lab = reference.name.removesuffix(".results.json")
        (tmp_path / lab).mkdir()
        shutil.copy(reference, tmp_path / lab / "results.json")
        outcomes.append({"lab": lab, "status": "ok", "seconds": 1.0, "message": "", "notebook": None, "html": None,
                         "out_dir": str(tmp_path / lab)})
    outcomes[-1]["exercises"] = EXERCISES
    text = runner.summary(outcomes)
    assert re.search(r"\n04_universal_masked_image +ok +1\.0 s +1/3 pass, 1/2 answered +-\n", text), text
    assert "04_universal_masked_image: 4.1 passes, 4.2 fails, 4.3 not done; 4.4 answered, 4.5 not answered" in text
    page = report.build(tmp_path, outcomes).read_text()
    assert "<pre>" not in page and '{"' not in page and "{&quot;" not in page and "[[" not in page
    assert "<h3>Exercises: 1/3 pass, 1/2 answered</h3>" in page and "the masks do not partition the image" in page
    assert '<td class="not-done">not done</td>' in page and '<td class="fails">fails</td>' in page
    assert "<th>efficientnet_lite0</th>" in page  # a nested table: confidence per noise kind, then per model
