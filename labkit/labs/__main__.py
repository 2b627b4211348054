"""``python -m labkit.labs sync``: write the notebooks' parameters cells from the labs' declarations.
``python -m labkit.labs spread GOLDEN_DIR RUNS_DIR VARIANT...``: per lab and numeric key, the largest deviation of
the variants' results from the golden reference, next to its declared tolerance (``scripts/check_portable.sh``)."""

import json
import sys
from pathlib import Path

from labkit import labs
from labkit.labs import golden, sync_notebooks


def spread_report(golden_dir: str, runs_dir: str, variants: list[str]) -> str:
    """Per lab and numeric key: the largest deviation over the variants next to its declared tolerance."""
    lines = []
    for lab in labs.LABS.values():
        ref_file = golden.reference_path(golden_dir, lab.name)
        runs = {v: Path(runs_dir) / v / "labkit-out" / lab.name / "results.json" for v in variants}
        runs = {v: json.loads(p.read_text()) for v, p in runs.items() if p.is_file()}
        if not ref_file.is_file() or not runs:
            continue
        reference = json.loads(ref_file.read_text())
        declared = lab.results_by_key
        lines.append(f"{lab.name}: {len(runs)} variant(s) against the reference")
        rows = []
        for path, row in golden.spread(reference, runs).items():
            if not (row["abs"] or row["differs"]):
                continue
            key, _, inner = path.partition(".")
            spec = declared.get(key)
            tol = spec.tolerance(inner, row["reference"]) if spec else None
            allowed = tol.abs + tol.rel * abs(row["reference"]) if tol and tol.kind == "close" else None
            use = row["abs"] / allowed if allowed else float("inf") if tol and tol.kind == "exact" else 0.0
            moved = "differs" if row["differs"] else f"{row['abs']:.3g}"
            rows.append((use, f"  {path:<60} moved {moved:>9} ({row['run']}); tolerance {tol}"))
        lines += [text for _, text in sorted(rows, key=lambda r: -r[0])] or ["  nothing moved"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv == ["sync"]:
        for path in sync_notebooks():
            print(f"updated {path}")
        return 0
    if len(argv) >= 4 and argv[0] == "spread":
        print(spread_report(argv[1], argv[2], argv[3:]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
