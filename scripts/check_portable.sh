#!/usr/bin/env bash
# Portability check on one machine: the README's test command (the unit suite and the goldens) under
# several numeric paths, as another CPU would take them. All must pass.
#
#   bash scripts/check_portable.sh                  # every variant this CPU can run
#   bash scripts/check_portable.sh sse41 threads1   # some
#
# Variants: sse41, avx2, avx512_core (oneDNN capped at that instruction set; avx512_core only where the
# CPU has AVX-512), onednn_on and onednn_off (TensorFlow's oneDNN kernels forced on, as TensorFlow itself
# chooses on Intel CPUs with AVX-512 VNNI or AMX, or off), threads1, threads2 (intra-op threads).
# Each variant's log and results.json files go to $PORTABLE_OUT (default /tmp/labkit-portable); at the
# end a table says which variants ran and passed, and `python -m labkit.labs spread` prints, per
# key, how far the variants' results moved from the reference next to the tolerance that key declares.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
OUT=${PORTABLE_OUT:-/tmp/labkit-portable}
mkdir -p "$OUT"

all=(sse41 avx2 onednn_on onednn_off threads1 threads2)
grep -qw avx512f /proc/cpuinfo 2>/dev/null && all=(sse41 avx2 avx512_core onednn_on onednn_off threads1 threads2)
[ $# -gt 0 ] || set -- "${all[@]}"

declare -A status seconds
for v in "$@"; do
  case $v in
    sse41|avx2|avx512_core) envs=(ONEDNN_MAX_CPU_ISA="${v^^}") ;;
    onednn_on) envs=(TF_ENABLE_ONEDNN_OPTS=1) ;;
    onednn_off) envs=(TF_ENABLE_ONEDNN_OPTS=0) ;;
    threads1) envs=(TF_NUM_INTRAOP_THREADS=1) ;;
    threads2) envs=(TF_NUM_INTRAOP_THREADS=2) ;;
    *) echo "check_portable: unknown variant $v (known: sse41 avx2 avx512_core onednn_on onednn_off threads1 threads2)" >&2
       exit 2 ;;
  esac
  echo "== $v: ${envs[*]}: the unit suite, then the goldens (both run, whatever the first gives)"
  start=$SECONDS
  rm -rf "$OUT/$v" && mkdir -p "$OUT/$v"
  status[$v]=pass
  env "${envs[@]}" TF_CPP_MIN_LOG_LEVEL=3 "$PY" -m pytest -q -p no:cacheprovider tests >"$OUT/$v/unit.log" 2>&1 \
    || status[$v]=FAIL
  env "${envs[@]}" bash scripts/nbval.sh >"$OUT/$v/golden.log" 2>&1 || status[$v]=FAIL
  seconds[$v]=$((SECONDS - start))
  cp -r tests/golden/labkit-out "$OUT/$v/" 2>/dev/null
  tail -n 1 "$OUT/$v/unit.log" "$OUT/$v/golden.log"
done

echo
printf '%-12s %-6s %8s  %s\n' variant result seconds logs
failed=0
for v in "$@"; do
  printf '%-12s %-6s %8s  %s\n' "$v" "${status[$v]}" "${seconds[$v]}" "$OUT/$v/{unit,golden}.log"
  [ "${status[$v]}" = pass ] || failed=1
done
echo
"$PY" -m labkit.labs spread tests/golden "$OUT" "$@"
exit $failed
