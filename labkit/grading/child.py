"""The grading child: ``python -m labkit.grading.child NOTEBOOK EXECUTED --cwd DIR --cell-timeout S [--timeout S]
[--keep-going] --parameters JSON`` executes one submission (``labkit.execute``) inside the sandbox; its exit code
says how it ended."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_CODES = {"ok": 0, "failed": 10, "timeout": 11, "killed": 12, "invalid": 13}
STATUS_OF = {code: status for status, code in EXIT_CODES.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="labkit.grading.child")
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--cwd", required=True)
    p.add_argument("--cell-timeout", type=float, required=True)
    p.add_argument("--timeout", type=float, default=None, help="the notebook's deadline (probe cells aside)")
    p.add_argument("--keep-going", action="store_true", help="run every cell, even after an error or a timeout")
    p.add_argument("--parameters", default="{}")
    a = p.parse_args(argv)
    from labkit.execute import execute

    run = execute(a.notebook, a.output, json.loads(a.parameters), cwd=a.cwd, cell_timeout=a.cell_timeout,
                  timeout=a.timeout, keep_going=a.keep_going)
    if run.message:
        print(run.message[:1000], file=sys.stderr)
    return EXIT_CODES[run.status]


if __name__ == "__main__":
    raise SystemExit(main())
