"""What a clean room costs, per coding exercise, side by side in one run: the master solution on one student's
hidden cases in this process (the work itself), in a clean room without the sandbox (a fresh Python on the
package view), and in the sandboxed clean room the grader uses. Ratios against the work itself. Each is timed
best of --repeat after one warm-up run (the first room builds the package view); a room that did not end "ok"
with every case "ok" stops the benchmark rather than being reported as a cheap time.

    .venv/bin/python benchmarks/bench_cleanroom.py [--repeat 2] [--exercises 2.2,4.1]
"""

import argparse
import sys
from functools import partial
from pathlib import Path

import labkit  # noqa: F401 - first: quiets TensorFlow's native log lines (labkit.quiet)

# isort: split
from _common import best  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from planted import functions  # noqa: E402

from labkit import assign, labs  # noqa: E402
from labkit.exercises.harness import run_cases  # noqa: E402
from labkit.exercises.source import program  # noqa: E402
from labkit.grading import cleanroom  # noqa: E402
from labkit.labs import notebooks_dir  # noqa: E402


def room(prog, ex, cases, sandbox: bool) -> None:
    """One clean room on ``cases``; raises unless the room and every case ended "ok" (a room that failed, timed
    out or was refused is no time to report)."""
    r = cleanroom.run_room(prog, ex, cases, timeout=600, memory_mb=4096, sandbox=sandbox)
    where = f"{ex.name} ({'sandboxed' if sandbox else 'no sandbox'})"
    if r.status != "ok" or r.program != "ok":
        raise SystemExit(f"{where}: the room ended {r.status!r} (program {r.program!r}): {r.message or r.error}")
    bad = [i for i, res in enumerate(r.results) if res is None or res[0] != "ok"]
    if len(r.results) != len(cases) or bad:
        raise SystemExit(f"{where}: cases {bad} did not end ok: {[r.results[i] for i in bad]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, the best kept")
    parser.add_argument("--exercises", default="", help="comma-separated names (default: every coding exercise)")
    args = parser.parse_args()
    chosen = [n for n in args.exercises.split(",") if n] or [e.name for lab in labs.LABS.values()
                                                             for e in lab.exercises if not e.written]
    print(f"{'exercise':<9} {'cases':>5} {'in process':>11} {'room, no sandbox':>17} {'sandboxed room':>15}")
    for name in chosen:
        ex = labs.exercise(name)
        nb = assign.parse_master(notebooks_dir() / f"{labs.get(ex.lab_number).name}.ipynb").solution
        cases = ex.checker.cases(cleanroom.exercise_seed(1, "bench", name))
        prog, fns = program(nb, ex), functions(name)
        # each timed best of args.repeat after one warm-up run: models built, functions traced, the view built
        work = best(partial(run_cases, fns, ex.defines, cases), args.repeat)
        rooms = [best(partial(room, prog, ex, cases, sb), args.repeat) for sb in (False, True)]
        print(f"{name:<9} {len(cases):>5} {work:>9.2f} s {rooms[0]:>9.2f} s ({rooms[0] / work:4.1f}x) "
              f"{rooms[1]:>7.2f} s ({rooms[1] / work:4.1f}x)")


if __name__ == "__main__":
    main()
