#!/usr/bin/env bash
# Regenerate the golden references (tests/golden/): each lab notebook executed with papermill on the offline
# model and the quick profile, in the environment of scripts/golden_env.sh, from inside the golden folder
# (where nbval runs them too). Writes NN_name.ipynb, stored with the outputs nbval compares (those of the
# cells marked "# NBVAL_CHECK_OUTPUT", without images and stderr), and NN_name.results.json, the lab's key
# results that tests/golden/compare_results.py compares under each key's declared tolerance.
#
#   bash scripts/regen_golden.sh                          # every notebooks/NN_*.ipynb
#   bash scripts/regen_golden.sh notebooks/02_*.ipynb     # some
#   GOLDEN_DIR=/tmp/golden bash scripts/regen_golden.sh   # somewhere else
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/golden_env.sh
PY=${VENV:-.venv}/bin/python; [ -x "$PY" ] || PY=python3  # VENV: another environment (scripts/setup.sh)
GOLDEN_DIR=${GOLDEN_DIR:-tests/golden}
mkdir -p "$GOLDEN_DIR"
GOLDEN_DIR=$(cd "$GOLDEN_DIR" && pwd)
[ $# -gt 0 ] || set -- notebooks/[0-9][0-9]_*.ipynb
for nb in "$@"; do
  [ -f "$nb" ] || { echo "regen_golden: no notebook $nb" >&2; exit 2; }
  name=$(basename "$nb")
  tmp="$GOLDEN_DIR/.${name%.ipynb}.partial.ipynb"
  trap 'rm -f "$tmp"' EXIT
  start=$SECONDS
  rm -rf "$GOLDEN_DIR/labkit-out/${name%.ipynb}"
  "$PY" -m papermill "$nb" "$tmp" -p profile quick -p model_name efficientnet_lite0 \
    --cwd "$GOLDEN_DIR" --no-progress-bar --log-level WARNING
  "$PY" - "$tmp" <<'PY'
import sys

import nbformat
from nbval.plugin import find_comment_markers, find_metadata_tags

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
    nb.metadata.get("papermill", {}).pop(key, None)
for cell in nb.cells:
    cell.metadata.pop("execution", None)
    cell.metadata.pop("papermill", None)
    if cell.cell_type != "code":
        continue
    checked = {**dict(find_metadata_tags(cell.metadata)), **dict(find_comment_markers(cell.source))}
    if checked.get("check") is not True:
        cell.outputs = []  # nbval --nbval-lax compares only the cells marked # NBVAL_CHECK_OUTPUT
        continue
    kept = []
    for out in cell.outputs:
        if out.output_type == "stream" and out.name == "stderr":
            continue  # TensorFlow log lines, progress bars: nbval ignores stderr (tests/golden/conftest.py)
        if "data" in out:
            for mime in [m for m in out.data if m.startswith("image/")]:
                del out.data[mime]  # nbval does not compare images; the text/plain line stays
            if not out.data:
                continue
        kept.append(out)
    cell.outputs = kept
nbformat.write(nb, path)
PY
  cp "$GOLDEN_DIR/labkit-out/${name%.ipynb}/results.json" "$GOLDEN_DIR/${name%.ipynb}.results.json"
  mv "$tmp" "$GOLDEN_DIR/$name"
  echo "golden: $GOLDEN_DIR/$name and ${name%.ipynb}.results.json ($((SECONDS - start)) s)"
done
