"""Show that the test command still catches real regressions: plant each bug below in a copy of the
repository and run ``bash scripts/test.sh`` there; every run must FAIL.

    .venv/bin/python scripts/check_mutations.py            # every mutation (each run stops at its first failure)
    .venv/bin/python scripts/check_mutations.py seed fooling_step
    .venv/bin/python scripts/check_mutations.py rss_memory --tests tests/test_sandbox.py   # quicker

A text mutation replaces one exact piece of text (an error if it is not there exactly once, so a
mutation never silently tests nothing). The copy runs with ``PYTHONPATH`` set to
itself, so ``import labkit`` (in pytest and in the notebook kernels) takes the mutated package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def replace(pattern: str, old: str, new: str):
    """A mutation that replaces ``old`` (present exactly once) by ``new`` in the files matching ``pattern``."""

    def apply(copy: Path) -> None:
        files = sorted(copy.glob(pattern))
        if not files:
            raise SystemExit(f"no file {pattern} (update scripts/check_mutations.py)")
        for f in files:
            text = f.read_text()
            if text.count(old) != 1:
                raise SystemExit(f"{f.relative_to(copy)} holds {text.count(old)} copies of {old!r}, expected one "
                                 "(update scripts/check_mutations.py)")
            f.write_text(text.replace(old, new))

    return apply


def both(*mutations):
    """Several edits as one mutation."""
    def apply(copy: Path) -> None:
        for mutation in mutations:
            mutation(copy)

    return apply


def golden_seed(seed: int):
    """A mutation that runs every golden notebook with another ``seed`` (in papermill's injected cell)."""

    def apply(copy: Path) -> None:
        import nbformat

        for path in sorted((copy / "tests" / "golden").glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
            cell.source += f"\nseed = {seed}\n"
            nbformat.write(nb, path)

    return apply


# name -> (what it plants, how)
MUTATIONS = {
    "seed": ("another seed: every golden lab runs with seed = 1", golden_seed(1)),
    "guided_rule": ("lab 1: the guided rule swapped for vanilla",
                    replace("labkit/modifiers.py", "(None, GuidedBackpropagation, RectifiedBackpropagation)",
                            "(None, None, RectifiedBackpropagation)")),
    "fooling_step": ("lab 2: a fooling step without its normalisation",
                     replace("labkit/attacks/steps.py", "x + lr * g / image_norm(g) * scale", "x + lr * g * scale")),
    "profile_cap": ("a profile that halves an iteration cap (lab 4, quick: step_cap 80 -> 40)",
                    replace("labkit/labs/universal_masked_image.py", '"step_cap": 80,', '"step_cap": 40,')),
    "noise_generator": ("lab 3: uniform noise from another generator",
                        replace("labkit/images.py",
                                "np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)",
                                "np.random.RandomState(seed).randint(0, 256, (n, size, size, 3)).astype(np.uint8)")),
    "masks": ("lab 4: stripes swapped for squares",
              replace("labkit/masks.py", 'layout = [1] * k if kind == "stripes" else grid_layout(k)',
                      'layout = [1] * k if kind == "squares" else grid_layout(k)')),
    "partition_check": ("exercise 4.1's check accepts masks that overlap",
                        replace("labkit/exercises/universal_masked_image.py", "if not (m.sum(axis=0) == 1).all():",
                                "if not (m.sum(axis=0) >= 1).all():")),
    # the grader's trust (issue 22): each hole it closed, opened again
    "reference_in_room": ("the clean room keeps labkit's own implementation of the exercise",
                          replace("labkit/grading/cleanroom.py",
                                  "    for reference in exercise.reference:\n        path,",
                                  "    for reference in ():\n        path,")),
    "lenient_fooling": ("the old fooling check: a step count off by one, and an image within 0.5 + 2% of 255",
                        both(replace("labkit/exercises/network_visualisation.py",
                                     "if int(np.ravel(iterations)[0]) != want_steps:",
                                     "if abs(int(np.ravel(iterations)[0]) - want_steps) > 1:"),
                             replace("labkit/exercises/network_visualisation.py",
                                     'return "" if close(image, want_image, 2e-3) else self.RULE',
                                     'return "" if close(image, want_image, 0.02, 0.5) else self.RULE'))),
    "rss_memory": ("memory counted per process (RSS), not proportionally",
                   replace("labkit/grading/limits.py", 'fields = (b"Pss_Anon:", b"Pss_Shmem:")',
                           'fields = (b"Rss:",)')),
    "root_stays_root": ("graded by root, the sandbox's user stays root",
                        replace("labkit/grading/isolate.py", "str(SANDBOX_UID if as_root else 0)", "'0'")),
    "env_prefixes": ("every TF_ variable of the grader's goes in",
                     replace("labkit/grading/sandbox.py",
                             "base.update({name: os.environ[name] for name in ALLOWED_ENV if name in os.environ})",
                             "base.update({k: v for k, v in os.environ.items() if k.startswith('TF_')})")),
    "links_followed": ("the untrusted reader follows links",
                       replace("labkit/untrusted.py",
                               "flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC",
                               "flags = os.O_RDONLY | os.O_CLOEXEC")),
    "dotfiles_unhashed": ("a folder submission's dot-files left out of the cache key",
                          replace("labkit/grading/cluster.py", "    for entry in sorted(path.rglob(\"*\")):",
                                  "    for entry in sorted(p for p in path.rglob(\"*\") if p.name[0] != \".\"):")),
}


def copy_repo(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked-not-ignored files), and a link to .venv."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"mutations to plant (default: all): {', '.join(MUTATIONS)}")
    parser.add_argument("--tests", nargs="+", metavar="PATH", help="run pytest on these test files instead of the "
                                                                  "whole test command (quicker, for one mutation)")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in MUTATIONS]
    if unknown:
        parser.error(f"unknown mutation(s) {unknown}; known: {', '.join(MUTATIONS)}")
    rows = []
    for name in args.names or list(MUTATIONS):
        what, apply = MUTATIONS[name]
        # beside the repository, not in /tmp: a graded submission's sandbox has a private /tmp, which would hide
        # the copy (and the interpreter its grading tests start)
        with tempfile.TemporaryDirectory(prefix=f".labkit-mutant-{name}-", dir=ROOT.parent) as tmp:
            copy = Path(tmp)
            copy_repo(copy)
            apply(copy)
            env = {**os.environ, "PYTHONPATH": str(copy)}
            start = time.monotonic()
            command = ([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests]
                       if args.tests else ["bash", "scripts/test.sh", "-x", "-p", "no:cacheprovider"])
            proc = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
            out = proc.stdout + proc.stderr
            caught = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
            verdict = "caught" if proc.returncode != 0 else "NOT CAUGHT"
            rows.append((name, verdict, time.monotonic() - start, caught[0] if caught else out.strip()[-200:]))
            print(f"{name}: {verdict} in {rows[-1][2]:.0f} s ({what})\n    {rows[-1][3]}", flush=True)
    missed = [r[0] for r in rows if r[1] != "caught"]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} mutations caught" + (f"; missed: {missed}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
