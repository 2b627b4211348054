"""A student's session with a released lab (lab 4), end to end (minutes: run by scripts/test.sh, not by a bare
pytest): in a Jupyter kernel cell by cell, as a student works; headless with ``labkit run``; and in a real
JupyterLab in Chromium, whose screenshot is left in ``test-output/`` (``LABKIT_TEST_OUTPUT``) to look at.

The browser test needs Debian's ``chromium`` (``apt-get install chromium``) and pip's ``playwright`` (the
``browser`` extra); it is skipped where either is missing, unless ``LABKIT_REQUIRE_BROWSER=1`` (CI sets it).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from labkit import assign, quiet
from labkit.labs import notebooks_dir

pytestmark = pytest.mark.student_session

ROOT = Path(__file__).resolve().parent.parent
LAB = "04_universal_masked_image"
OUTPUT = Path(os.environ.get("LABKIT_TEST_OUTPUT", ROOT / "test-output"))
QUICK = {"profile": '"quick"', "model_name": '"efficientnet_lite0"'}  # a student may edit the parameters cell too
TYPO = "m[i, edges[i]:edges[i + 1]] = 1"


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's: the kernels and processes below load TensorFlow, not this one."""


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("session")
    [r] = assign.release([notebooks_dir() / f"{LAB}.ipynb"], root / "release")
    return r


def _quick(nb, **extra) -> None:
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("profile = "))
    for name, value in {**QUICK, **extra}.items():
        cell.source = re.sub(rf"^{name} = .*$", f"{name} = {value}", cell.source, flags=re.M)


def _text(cell) -> str:
    return "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in cell.get("outputs", []))


def _at(nb, exercise: str, kind: str, text: str = "") -> int:
    [i] = [i for i, c in enumerate(nb.cells) if c.metadata.get("labkit") == {"exercise": exercise, "kind": kind}
           and text in c.source]
    return i


def test_a_student_session_in_a_kernel(release, tmp_path):
    """Run the unfilled notebook, write 4.1 and check it, make a typo (its traceback shows), fix it, labkit check."""
    from nbclient import NotebookClient

    student = nbformat.read(release.student, as_version=4)
    solution = nbformat.read(release.solution, as_version=4)
    text = release.student.read_text()
    for gone in ("NBVAL", "seed 00", "Seed 00", "benchmarks/", "check_universal"):  # what students must not see
        assert gone not in text, gone
    nb = nbformat.from_dict(student)
    _quick(nb)
    code = _at(nb, "4.1", "solution")
    check = code + 1
    assert nb.cells[check].source == 'check("4.1")'
    step = next(i for i, c in enumerate(nb.cells) if 'with exercise(name):  # your masks' in c.source)
    client = NotebookClient(nb, kernel_name="python3", timeout=900, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):  # the unfilled notebook, top to bottom
            client.execute_cell(cell, i)
        outputs = [o for c in nb.cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], [_text(c) for c in nb.cells if "Error" in _text(c)]
        assert not [o for o in outputs if o.output_type == "execute_result"]  # no stray Out: under a cell
        shown = "".join(_text(c) + json.dumps(c.get("outputs", [])) for c in nb.cells)
        assert "[recorded" not in shown and not [line for line in shown.splitlines()
                                                 if quiet.NATIVE_LOG.match(line.encode())]
        assert "exercise 4.1: not done yet" in _text(nb.cells[check])
        assert "exercise 4.1: not done yet: this step is skipped" in _text(nb.cells[step])

        answer = solution.cells[_at(solution, "4.1", "solution")].source
        for source, check_says, step_raises in (
                (answer, "the public checks pass", None),  # 4.1 written
                (answer.replace(TYPO, "m[i, edges[i]:edges[i + 1]] = sise"), "raised NameError", "NameError"),  # typo
                (answer, "the public checks pass", None)):  # fixed
            nb.cells[code].source = source
            for i in (code, check, step):
                client.execute_cell(nb.cells[i], i)
            assert check_says in _text(nb.cells[check]), _text(nb.cells[check])
            errors = [o.ename for o in nb.cells[step].outputs if o.output_type == "error"]
            assert errors == ([step_raises] if step_raises else []), _text(nb.cells[step])
            if step_raises:  # the student's own line, in the traceback
                assert "sise" in _text(nb.cells[step]) and "exercise 4.1: not done" not in _text(nb.cells[step])
    saved = tmp_path / "my_lab4.ipynb"
    nbformat.write(nb, saved)
    run = subprocess.run([sys.executable, "-m", "labkit", "check", str(saved)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(r"\n  4\.1  passes +K horizontal stripes", run.stdout), run.stdout
    assert run.stdout.rstrip().endswith("not ready to hand in: 4.2 not done; 4.3 not done; 4.4 not answered; "
                                        "4.5 not answered"), run.stdout


def test_labkit_run_shows_an_untouched_notebook_s_exercises_as_not_done(release, tmp_path):
    """In the terminal's table, index.html and results.json."""
    run = subprocess.run([sys.executable, "-m", "labkit", "run", "--notebooks", str(release.student.parent), "4",
                          "--profile", "quick", "--model", "efficientnet_lite0", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(rf"\n{LAB} +ok +[\d.]+ s +0/3 pass, 0/2 answered +", run.stdout), run.stdout
    assert f"{LAB}: 4.1 not done, 4.2 not done, 4.3 not done; 4.4 not answered, 4.5 not answered" in run.stdout
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<h3>Exercises: 0/3 pass, 0/2 answered</h3>" in page and page.count('class="not-done"') == 3
    saved = json.loads((tmp_path / "out" / LAB / "results.json").read_text())
    assert {e["name"]: e["status"] for e in saved["exercises"]} == {
        "4.1": "not done", "4.2": "not done", "4.3": "not done", "4.4": "not answered", "4.5": "not answered"}


def _browser():
    """(playwright's sync API, Chromium's path), or a skip (a failure where LABKIT_REQUIRE_BROWSER=1)."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium and sync_playwright:
        return sync_playwright, chromium
    why = ("no Chromium (apt-get install chromium)" if not chromium else
           "no playwright (pip install -e '.[browser]')")
    if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser test cannot run: {why}")
    pytest.skip(f"the browser test needs {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_in_chromium_runs_a_released_notebook_to_its_first_check(release, tmp_path):
    sync_playwright, chromium = _browser()
    work = tmp_path / "lab"
    shutil.copytree(release.student.parent, work)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    port, token = _free_port(), "labkit-session-test"
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
                               "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}",
                               f"--ServerApp.root_dir={work}"], env=env, stdout=subprocess.DEVNULL,
                              stderr=(tmp_path / "jupyterlab.log").open("w"))
    nb = nbformat.read(work / f"{LAB}.ipynb", as_version=4)
    first_check = next(i for i, c in enumerate(nb.cells) if c.source.startswith("check("))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "jupyterlab_first_check.png"
    shot.unlink(missing_ok=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{LAB}.ipynb?token={token}", timeout=180_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
            page.get_by_text(re.compile(r"\| Idle$")).wait_for(timeout=180_000)  # the kernel, connected (status bar)
            page.locator(".jp-Notebook .jp-Cell").first.click()
            for _ in range(first_check + 1):  # Shift+Enter: run the cell, select the next one, as a student does
                page.keyboard.press("Shift+Enter")
            checked = page.locator(".jp-Notebook .jp-Cell").nth(first_check)
            checked.get_by_text("exercise 4.1:").wait_for(timeout=600_000)
            checked.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
            said = checked.locator(".jp-OutputArea").inner_text()
            shown = page.locator(".jp-Notebook").inner_text()
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    print(f"screenshot: {shot}")
    assert shot.read_bytes()[:4] == b"\x89PNG"
    assert "exercise 4.1: not done yet" in said, said
    assert "No renderer could be found" not in shown and "Traceback" not in shown
    assert not [line for line in shown.splitlines() if quiet.NATIVE_LOG.match(line.encode())], shown
