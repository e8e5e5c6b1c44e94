#!/usr/bin/env bash
# One-shot check on a GPU machine (torch installed, no network needed); the time limits add up to 8 min:
#   1. the CUDA tests (pytest -m cuda): compiled Triton scan and LIF against the float64 references
#   2. kernels: Triton scan and LIF vs the references on model-sized inputs, timed against torch
#   3. train: one bf16 autocast training step of every CIFAR model
#   4. smolmamba bench --device cuda (bf16 autocast; BENCH_ARGS, default "--no-memory --no-imagenet --rounds 3")
# Usage: scripts/gpu_check.sh [OUT_DIR]   (default $OUT, else ./gpu_check_out); PYTHON picks the interpreter.
# Writes OUT_DIR/summary.json (exit status and seconds of every step), env.json, cuda_tests.xml,
# kernels.json, train_step.json, bench/bench.json and one .log per step. Exits 1 if any step failed.
set -u

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="$(mkdir -p "${1:-${OUT:-./gpu_check_out}}" && cd "${1:-${OUT:-./gpu_check_out}}" && pwd)"
PY="${PYTHON:-python}"
BENCH_ARGS="${BENCH_ARGS:---no-memory --no-imagenet --rounds 3}"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_INTERPRET=0  # compiled kernels; the interpreter runs in the CPU test suite
cd "$ROOT"

STEPS=()
step() {  # step NAME TIMEOUT_S CMD...: run with a time limit, log to OUT_DIR/NAME.log, record the result
    local name="$1" limit="$2"
    shift 2
    local start rc
    start=$(date +%s)
    echo "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
    rc=$?
    tail -n 5 "$OUT_DIR/$name.log"
    STEPS+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(($(date +%s) - start)), \"timed_out\": $([ $rc -eq 124 ] || [ $rc -eq 137 ] && echo true || echo false)}")
    echo "== $name: exit $rc"
}

step env 30 "$PY" -c "
import json, sys, torch
info = {'python': sys.version.split()[0], 'torch': torch.__version__, 'cuda': torch.version.cuda,
        'cuda_available': torch.cuda.is_available(),
        'device': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
try:
    import triton
    info['triton'] = triton.__version__
except Exception as exc:
    info['triton'] = f'not importable: {exc}'
json.dump(info, open('$OUT_DIR/env.json', 'w'), indent=2)
print(info)
assert torch.cuda.is_available(), 'torch sees no CUDA device'
"
step cuda_tests 120 "$PY" -m pytest -m cuda -q -p no:cacheprovider "--junitxml=$OUT_DIR/cuda_tests.xml" tests
step kernels 90 "$PY" -m smolmamba.bench.gpu_check kernels "$OUT_DIR"
step train 60 "$PY" -m smolmamba.bench.gpu_check train "$OUT_DIR"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
step bench 180 "$PY" -m smolmamba.cli bench --device cuda $BENCH_ARGS --out "$OUT_DIR/bench"

FAILED=0
for s in "${STEPS[@]}"; do
    case "$s" in *'"rc": 0,'*) ;; *) FAILED=1 ;; esac
done
{
    echo "{\"ok\": $([ $FAILED -eq 0 ] && echo true || echo false), \"steps\": ["
    for i in "${!STEPS[@]}"; do
        [ "$i" -gt 0 ] && echo ","
        echo "  ${STEPS[$i]}"
    done
    echo "]}"
} >"$OUT_DIR/summary.json"
cat "$OUT_DIR/summary.json"
exit $FAILED
