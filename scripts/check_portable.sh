#!/usr/bin/env bash
# Portability check on one machine: the README's test command (the unit suite and the goldens) under
# several numeric paths, as another CPU would take them. All must pass.
#
#   bash scripts/check_portable.sh                  # every variant this CPU can run
#   bash scripts/check_portable.sh sse41 threads1   # some
#
# Variants: sse41, avx2, avx512_core (oneDNN capped at that instruction set; avx512_core only where the
# CPU has AVX-512), onednn_on and onednn_off (TensorFlow's oneDNN kernels forced on, as TensorFlow itself
# chooses on Intel CPUs with AVX-512 VNNI or AMX, or off), threads1, threads2 (intra-op threads); and load:
# the unit suite alone (no goldens: load moves time, not numbers) while busy loops, one per core, keep every
# core busy, as other jobs on a shared CI runner do. The script starts them and stops them when the suite
# ends (or is interrupted); each also stops by itself after $LOAD_SECONDS (default 3600).
# Each variant's log and results.json files go to $PORTABLE_OUT (default /tmp/labkit-portable); at the
# end a table says which variants ran and passed, and `python -m labkit.labs spread` prints, per
# key, how far the variants' results moved from the reference next to the tolerance that key declares.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python; [ -x "$PY" ] || PY=python3  # VENV: another environment (scripts/setup.sh)
OUT=${PORTABLE_OUT:-/tmp/labkit-portable}
mkdir -p "$OUT"

all=(sse41 avx2 onednn_on onednn_off threads1 threads2 load)
grep -qw avx512f /proc/cpuinfo 2>/dev/null && all=(sse41 avx2 avx512_core onednn_on onednn_off threads1 threads2 load)
[ $# -gt 0 ] || set -- "${all[@]}"

hogs=()
stop_load() {  # the busy loops this script started, by their ids
  [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null
  wait "${hogs[@]}" 2>/dev/null
  hogs=()
}
trap stop_load EXIT
start_load() {  # one busy loop per core, each ending by itself after $LOAD_SECONDS at the latest
  local cores seconds=${LOAD_SECONDS:-3600}
  cores=$(nproc 2>/dev/null || echo 2)
  for _ in $(seq "$cores"); do
    (end=$((SECONDS + seconds)); while [ $SECONDS -lt $end ]; do :; done) &
    hogs+=($!)
  done
  echo "   load: ${#hogs[@]} busy loop(s), ids ${hogs[*]}, at most ${seconds} s"
}

declare -A status seconds
for v in "$@"; do
  case $v in
    sse41|avx2|avx512_core) envs=(ONEDNN_MAX_CPU_ISA="${v^^}") ;;
    onednn_on) envs=(TF_ENABLE_ONEDNN_OPTS=1) ;;
    onednn_off) envs=(TF_ENABLE_ONEDNN_OPTS=0) ;;
    threads1) envs=(TF_NUM_INTRAOP_THREADS=1) ;;
    threads2) envs=(TF_NUM_INTRAOP_THREADS=2) ;;
    load) envs=(TF_CPP_MIN_LOG_LEVEL=3) ;;
    *) echo "check_portable: unknown variant $v (known: sse41 avx2 avx512_core onednn_on onednn_off threads1 threads2" \
            "load)" >&2
       exit 2 ;;
  esac
  start=$SECONDS
  rm -rf "$OUT/$v" && mkdir -p "$OUT/$v"
  status[$v]=pass
  if [ "$v" = load ]; then
    echo "== $v: the unit suite while every core is kept busy"
    start_load
    TF_CPP_MIN_LOG_LEVEL=3 "$PY" -m pytest -q -p no:cacheprovider tests >"$OUT/$v/unit.log" 2>&1 || status[$v]=FAIL
    stop_load
    seconds[$v]=$((SECONDS - start))
    tail -n 1 "$OUT/$v/unit.log"
    continue
  fi
  echo "== $v: ${envs[*]}: the unit suite, then the goldens (both run, whatever the first gives)"
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
  logs="$OUT/$v/{unit,golden}.log"; [ "$v" = load ] && logs="$OUT/$v/unit.log"
  printf '%-12s %-6s %8s  %s\n' "$v" "${status[$v]}" "${seconds[$v]}" "$logs"
  [ "${status[$v]}" = pass ] || failed=1
done
echo
"$PY" -m labkit.labs spread tests/golden "$OUT" "$@"
exit $failed
