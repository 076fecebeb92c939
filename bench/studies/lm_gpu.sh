#!/usr/bin/env bash
# The GPU experiment of notebook 08 (bench/studies/lm_gpu.py), run from the repository root; results go to $OUT.
#
#   bench/studies/lm_gpu.sh all      2 GPUs, under 10 minutes: RMT + segment-only on GPU 0 while Transformer-XL +
#                            MemTr-XL train on GPU 1, then the data-parallel scaling run (ddp below; DDP=0
#                            skips it)
#   bench/studies/lm_gpu.sh gpu      one GPU: the models in MODELS one after the other (default all four: about
#                            4 x (BUDGET + compilation + evaluation) seconds, over 10 minutes at BUDGET=120)
#   bench/studies/lm_gpu.sh ddp      RMT tokens/s on 1 GPU, then on 2 GPUs with DDP (torchrun): eager (DDP_EAGER=0
#                            skips it), compiled, compiled with CUDA graphs; no evaluation
#   bench/studies/lm_gpu.sh smoke    the whole pipeline on the CPU with a tiny model, in a minute or two
#
# Settings (environment): OUT (default runs/lm_gpu), DATA (default .carry/data/pg-books: train.txt.gz and
# test.txt.gz), BUDGET (training seconds per model, default 120), DDP_BUDGET (default 30), MODELS (for gpu),
# PYTHON (default python3). Further arguments go to bench/studies/lm_gpu.py (e.g. --batch-size 32 --no-compile
# --no-cuda-graphs).
# Merge the rows of several runs later with: python bench/studies/lm_gpu.py --report DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/lm_gpu}
DATA=${DATA:-.carry/data/pg-books}
BUDGET=${BUDGET:-120}
DDP_BUDGET=${DDP_BUDGET:-30}
PYTHON=${PYTHON:-python3}
MODELS=${MODELS:-rmt segment xl memxl}
mode=${1:-gpu}
[ $# -gt 0 ] && shift
mkdir -p "$OUT"

bench() {  # bench ARGS...: one bench/studies/lm_gpu.py run on the pg-books data
    "$PYTHON" bench/studies/lm_gpu.py --data "$DATA" --out "$OUT" "$@"
}

ddp() {  # the same RMT run on one GPU, then on two (64 rows per GPU): the tokens/s speed-up is the scaling.
    # Eager, compiled, and compiled with CUDA graphs.
    local common=(--budget "$DDP_BUDGET" --models rmt --eval-bytes 0 "$@")
    two() { "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node=2 bench/studies/lm_gpu.py --data "$DATA" \
        --out "$OUT" "${common[@]}" "$@"; }
    if [ "${DDP_EAGER:-1}" != 0 ]; then
        CUDA_VISIBLE_DEVICES=0 bench "${common[@]}" --no-compile --no-cuda-graphs --tag gpu1
        two --no-compile --no-cuda-graphs --tag gpu2
    fi
    CUDA_VISIBLE_DEVICES=0 bench "${common[@]}" --compile --no-cuda-graphs --tag gpu1-compiled
    two --compile --no-cuda-graphs --tag gpu2-compiled
    CUDA_VISIBLE_DEVICES=0 bench "${common[@]}" --compile --cuda-graphs --tag gpu1-graphs
    two --compile --cuda-graphs --tag gpu2-graphs
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
case "$mode" in
all)
    status=0
    CUDA_VISIBLE_DEVICES=0 bench --budget "$BUDGET" --models rmt,segment "$@" > "$OUT/log-gpu0.txt" 2>&1 &
    first=$!
    CUDA_VISIBLE_DEVICES=1 bench --budget "$BUDGET" --models xl,memxl "$@" > "$OUT/log-gpu1.txt" 2>&1 &
    second=$!
    wait "$first" || status=$?
    wait "$second" || status=$?
    grep -h -E "parameters|test:|FAILED|Error" "$OUT/log-gpu0.txt" "$OUT/log-gpu1.txt" || true
    if [ "${DDP:-1}" != 0 ]; then ddp "$@" || status=$?; fi
    bench --report "$OUT"
    exit "$status"
    ;;
gpu)
    bench --budget "$BUDGET" --models "${MODELS// /,}" "$@"
    ;;
ddp)
    ddp "$@"
    bench --report "$OUT"
    ;;
smoke)
    "$PYTHON" bench/studies/lm_gpu.py --smoke --out "$OUT" "$@"
    ;;
*)
    echo "usage: bench/studies/lm_gpu.sh [all|gpu|ddp|smoke] [more bench/studies/lm_gpu.py arguments]" >&2
    exit 2
    ;;
esac
