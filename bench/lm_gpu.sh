#!/usr/bin/env bash
# The GPU experiment of notebook 08 (bench/lm_gpu.py), run from the repository root; results go to $OUT.
#
#   bench/lm_gpu.sh                          RMT, segment-only, Transformer-XL, MemTr-XL on one GPU
#   MODELS="rmt segment" bench/lm_gpu.sh     a subset (each model takes BUDGET s + compile + evaluation)
#   bench/lm_gpu.sh ddp                      RMT tokens/s on 1 GPU, then on 2 GPUs with DDP (torchrun)
#   bench/lm_gpu.sh smoke                    the whole pipeline on the CPU in about a minute
#
# Settings (environment): OUT (default runs/lm_gpu), DATA (default .carry/data/pg-books: train.txt.gz and
# test.txt.gz), BUDGET (training seconds per model, default 120), DDP_BUDGET (default 30), PYTHON.
# Any further arguments are passed on to bench/lm_gpu.py (e.g. --batch-size 32 --no-compile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/lm_gpu}
DATA=${DATA:-.carry/data/pg-books}
BUDGET=${BUDGET:-120}
DDP_BUDGET=${DDP_BUDGET:-30}
PYTHON=${PYTHON:-python3}
MODELS=${MODELS:-rmt segment xl memxl}
mode=${1:-gpu}
[ $# -gt 0 ] && shift

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
case "$mode" in
gpu)
    "$PYTHON" bench/lm_gpu.py --data "$DATA" --out "$OUT" --budget "$BUDGET" --models "${MODELS// /,}" "$@"
    ;;
ddp)
    # The same RMT run on one GPU, then on two (each GPU keeps a batch of 64 rows): the speed-up in
    # tokens/s is the data-parallel scaling; no evaluation, no compilation, to keep the command short.
    common=(--data "$DATA" --out "$OUT" --budget "$DDP_BUDGET" --models rmt --eval-bytes 0 --no-compile "$@")
    "$PYTHON" bench/lm_gpu.py "${common[@]}" --tag gpu1
    "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node=2 bench/lm_gpu.py "${common[@]}" --tag gpu2
    ;;
smoke)
    "$PYTHON" bench/lm_gpu.py --smoke --out "$OUT" "$@"
    ;;
*)
    echo "usage: bench/lm_gpu.sh [gpu|ddp|smoke] [extra bench/lm_gpu.py arguments]" >&2
    exit 2
    ;;
esac
