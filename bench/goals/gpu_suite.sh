#!/usr/bin/env bash
# The GPU benchmarks in one go on one GPU (about 5 minutes on an H100): gpu_throughput.py, then
# gpu_memory.py --peer. Writes the JSON records, the logs and nvidia-smi's view of the card into $OUT
# (default: a new temporary folder), then prints a short table of both.
#
# Runs from a copy of the repository with no network: minirmt is imported from the working tree, and the
# peer (lucidrains' recurrent-memory-transformer-pytorch 0.7.0, pure Python) and its pure-Python
# dependencies are installed from the wheels in $WHEELS (default .carry/wheels, see bench/README.md) into a
# temporary folder with --no-index --no-deps, so the machine's own torch is the one that runs.
#
#   OUT=/some/folder bash bench/goals/gpu_suite.sh
#   SMOKE=1 bash bench/goals/gpu_suite.sh      # tiny sizes, runs on a CPU too: a check of the suite itself
#   PARTS=throughput bash bench/goals/gpu_suite.sh    # one part only (throughput, memory)
set -uo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-$(mktemp -d)}
WHEELS=${WHEELS:-.carry/wheels}
PYTHON=${PYTHON:-python}
SMOKE_FLAG=${SMOKE:+--smoke}
mkdir -p "$OUT"
SITE=$(mktemp -d)

wheel() { ls "$WHEELS"/"$1"-*.whl 2>/dev/null | head -n 1; }
install() { "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" "$@"; }

# The peer and the packages only it needs; einops, packaging and tqdm only where the machine lacks them.
if [ -n "$(wheel recurrent_memory_transformer_pytorch)" ]; then
    install "$(wheel recurrent_memory_transformer_pytorch)" "$(wheel hyper_connections)" "$(wheel torch_einops_utils)"
    for pair in einops:einops packaging:packaging tqdm:tqdm; do
        module=${pair%%:*}
        "$PYTHON" -c "import $module" 2>/dev/null || install "$(wheel "${pair##*:}")"
    done
else
    echo "no peer wheel in $WHEELS: the peer rows will be skipped"
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.csv"
fi
"$PYTHON" -c "import torch, minirmt, recurrent_memory_transformer_pytorch; print('torch', torch.__version__, \
'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name())" | tee "$OUT/versions.txt"

wants() { case " ${PARTS:-throughput memory} " in *" $1 "*) return 0 ;; esac; return 1; }

if wants throughput; then
    start=$SECONDS
    timeout 420 "$PYTHON" bench/goals/gpu_throughput.py $SMOKE_FLAG --out "$OUT/gpu_throughput.json" 2>&1 | tee "$OUT/gpu_throughput.log"
    echo "gpu_throughput.py: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$OUT/suite.log"
fi
if wants memory; then
    start=$SECONDS
    timeout 220 "$PYTHON" bench/goals/gpu_memory.py --peer $SMOKE_FLAG --out "$OUT/gpu_memory.json" 2>&1 | tee "$OUT/gpu_memory.log"
    echo "gpu_memory.py: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$OUT/suite.log"
fi

echo
"$PYTHON" bench/summary.py "$OUT"/gpu_*.json | tee "$OUT/summary.txt"
rm -rf "$SITE"
