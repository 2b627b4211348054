"""The watchdog: the limits of a submission's whole process tree, read from ``/proc`` every poll interval.

Resident memory as proportional set size (``Pss_Anon + Pss_Shmem`` of every process, from ``smaps_rollup``: a page
shared after ``fork`` counts once in all; ``RssAnon + RssShmem`` where the kernel has no rollup), plus what a
sandbox's private ``/tmp`` and ``/dev/shm`` hold once its own root is in place, NOT address space: TensorFlow
with CUDA reserves tens of GB of virtual memory and touches little (tensorflow#10040), which ``RLIMIT_AS`` would
kill. Processes, threads and CPU time likewise. Cgroups would be
exact, but are usually not delegated to an unprivileged user, so they are not used: the granularity is one
poll interval (see ``labkit.grading.sandbox``'s docstring).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path: str, size: int = 4096) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass
class _Proc:
    ppid: int
    session: int
    threads: int
    cpu: float  # utime + stime + cutime + cstime, seconds


def _scan() -> dict[int, _Proc]:
    procs: dict[int, _Proc] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        raw = _read(f"/proc/{name}/stat", 1024)
        if not raw:
            continue
        f = raw[raw.rfind(b")") + 2:].split()
        try:
            procs[int(name)] = _Proc(int(f[1]), int(f[3]), int(f[17]), sum(int(x) for x in f[11:15]) / _TICK)
        except (IndexError, ValueError):
            continue
    return procs


def _resident(pid: int) -> int:
    """Pss_Anon + Pss_Shmem of one process, in bytes (RssAnon + RssShmem without a rollup; 0 when it is gone)."""
    raw = _read(f"/proc/{pid}/smaps_rollup", 8192)
    fields = (b"Pss_Anon:", b"Pss_Shmem:")
    if not raw or b"Pss_Anon:" not in raw:
        raw, fields = _read(f"/proc/{pid}/status", 8192), (b"RssAnon:", b"RssShmem:")
    total = 0
    for line in (raw or b"").splitlines():
        if line.startswith(fields):
            total += int(line.split()[1]) * 1024
    return total


@dataclass
class _Usage:
    tree: list[int] = field(default_factory=list)
    init: int | None = None  # in the sandbox: bwrap as the PID namespace's init (host pid)
    processes: int = 0
    threads: int = 0
    resident: int = 0
    cpu: float = 0.0


class Watchdog:
    """Measures the tree of ``root`` (in a sandbox, bwrap's), says when it is over a limit, and kills it."""

    def __init__(self, root: int, *, sandboxed: bool, memory_mb: int | None, max_processes: int | None,
                 max_threads: int | None, cpu_seconds: float | None, tmpfs_mb: int | None = None):
        self.root, self.sandboxed = root, sandboxed
        self.tmpfs_bytes = tmpfs_mb * 1024 * 1024 if tmpfs_mb else None
        self.memory = memory_mb * 1024 * 1024 if memory_mb else None
        self.max_processes, self.max_threads, self.cpu_seconds = max_processes, max_threads, cpu_seconds
        self.peak_resident = self.peak_processes = 0
        self.cpu = 0.0
        self._adjusted: set[int] = set()
        self.root_exited = False

    def usage(self) -> _Usage:
        procs = _scan()
        children: dict[int, list[int]] = {}
        for pid, p in procs.items():
            children.setdefault(p.ppid, []).append(pid)
        seeds = [] if self.root_exited else [self.root]
        if not self.sandboxed:  # orphans of the command that stayed in its session
            seeds += [pid for pid, p in procs.items() if p.session == self.root]
        tree, seen = [], set()
        while seeds:
            pid = seeds.pop()
            if pid in seen or pid not in procs or pid == os.getpid():
                continue
            seen.add(pid)
            tree.append(pid)
            seeds.extend(children.get(pid, ()))
        u = _Usage(tree=tree, init=(children.get(self.root) or [None])[0] if self.sandboxed else None)
        overhead = 2 if self.sandboxed else 0  # bwrap outside, and bwrap as the namespace's init
        u.processes = max(0, len(tree) - overhead)
        u.threads = max(0, sum(procs[p].threads for p in tree) - overhead)
        u.cpu = sum(procs[p].cpu for p in tree)
        u.resident = sum(_resident(p) for p in tree) + self._tmpfs(u.init)
        for pid in tree:
            if pid not in self._adjusted:  # the OOM killer's first choice, should the machine run out anyway
                self._adjusted.add(pid)
                try:
                    with open(f"/proc/{pid}/oom_score_adj", "w") as f:
                        f.write("1000")
                except OSError:
                    pass
        self.peak_resident = max(self.peak_resident, u.resident)
        self.peak_processes = max(self.peak_processes, u.processes)
        self.cpu = max(self.cpu, u.cpu)
        return u

    def _tmpfs(self, init: int | None) -> int:
        """What the sandbox's private /tmp and /dev/shm hold (tmpfs: memory no process shows as its own). Only once
        the sandbox's root is in place: before bwrap pivots, the init's root is the host's, whose /tmp is no
        tmpfs of the sandbox's; and only a tmpfs of the size the sandbox gave it."""
        used = 0
        try:
            if not init or os.stat(f"/proc/{init}/root").st_dev == os.stat("/").st_dev:
                return 0
        except OSError:
            return 0
        for mount in ("tmp", "dev/shm"):
            try:  # the init's root is the sandbox's root
                st = os.statvfs(f"/proc/{init}/root/{mount}")
            except OSError:
                continue
            if self.tmpfs_bytes is None or st.f_blocks * st.f_frsize == self.tmpfs_bytes:
                used += (st.f_blocks - st.f_bfree) * st.f_frsize
        return used

    def over(self, u: _Usage) -> str | None:
        """Why the tree must die, or None (a fork bomb's copies add up to memory too: processes first)."""
        mb = 1024 * 1024
        if self.max_processes and u.processes > self.max_processes:
            return f"process limit exceeded: {u.processes} processes, the limit is {self.max_processes}"
        if self.max_threads and u.threads > self.max_threads:
            return f"thread limit exceeded: {u.threads} threads, the limit is {self.max_threads}"
        if self.memory and u.resident > self.memory:
            return (f"memory limit exceeded: the processes held {u.resident / mb:.0f} MB resident, "
                    f"the limit is {self.memory / mb:.0f} MB")
        if self.cpu_seconds and u.cpu > self.cpu_seconds:
            return f"CPU time limit exceeded: {u.cpu:.0f} s, the limit is {self.cpu_seconds:g} s"
        return None

    def kill(self, usage: _Usage | None = None) -> None:
        """SIGKILL the tree; in the sandbox the namespace's init first (the kernel then kills all of it)."""
        for _ in range(50):
            usage = usage or self.usage()
            if not usage.tree:
                return
            for pid in [usage.init, *usage.tree] if usage.init else usage.tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            usage = None
            time.sleep(0.01)
