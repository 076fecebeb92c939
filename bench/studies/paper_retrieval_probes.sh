#!/usr/bin/env bash
# Which change lets the RMT fill a small memory with retrieval's 4 pairs quickly? Twelve runs at once on one GPU,
# each stopped after LIMIT seconds (SIGINT: the run saves its history): g = 5 seed 0 and g = 4 seed 1 of the paper's
# layout, the paper's recipe with dropout off, batches of 256, another rate, no curriculum, and compiled with CUDA
# graphs; with the step speed of one run eager and with CUDA graphs (paper_step_speed.py) beside them. The curves
# go to $OUT/probes.json (stage starts and evaluations of each run).
#
#   OUT=/some/folder bash bench/studies/paper_retrieval_probes.sh      # on a GPU: about 8 minutes
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TORCHINDUCTOR_COMPILE_THREADS=${CT:-2}
O=${OUT:-/tmp/out}; P=$(mktemp -d); mkdir -p "$O"
LIMIT=${LIMIT:-470}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
( timeout 400 python3 bench/studies/paper_step_speed.py --task assoc --segments 5 --steps 300 --warm 50 \
    --modes eager "CUDA graphs" --out "$O/speed.json" > "$P/speed.log" 2>&1 ) &
probe() {  # name g seed options...
    local name=$1 g=$2 s=$3; shift 3
    ( timeout -s INT "$LIMIT" python3 -m minirmt train --layout paper --task assoc --model rmt --segments "$g" \
        --seed "$s" --device cuda --threads 1 --quiet --out "$P/$name" "$@" > "$P/$name.log" 2>&1 ) &
}
probe g5s0_base 5 0
probe g5s0_d0 5 0 --dropout 0
probe g5s0_d0_b256 5 0 --dropout 0 --batch-size 256
probe g5s0_d0_lr3 5 0 --dropout 0 --lr 3e-3
probe g5s0_d0_direct 5 0 --dropout 0 --curriculum none
probe g5s0_d0_b256_lr2 5 0 --dropout 0 --batch-size 256 --lr 2e-3
probe g5s0_b256 5 0 --batch-size 256
probe g4s1_base 4 1
probe g4s1_d0 4 1 --dropout 0
probe g4s1_d0_b256 4 1 --dropout 0 --batch-size 256
probe g5s0_d0_graphs 5 0 --dropout 0 --compile --cuda-graphs
probe g5s0_d0_b256_graphs 5 0 --dropout 0 --batch-size 256 --compile --cuda-graphs
wait
python3 - "$P" "$O/probes.json" <<'PY'
import json, sys
from pathlib import Path
runs = {}
for f in sorted(Path(sys.argv[1]).glob("*/metrics.json")):
    m = json.loads(f.read_text())
    evals = [h for h in m["history"] if "eval_accuracy" in h]
    starts = {}
    for h in evals:
        starts.setdefault(h["stage"], [h["step"], round(h["seconds"])])
    runs[f.parent.name] = {"steps": m["steps"], "stage_starts": starts,
                           "evals": [[h["step"], h["stage"], round(h["eval_accuracy"], 4)] for h in evals]}
    print(f"{f.parent.name:22s} {m['steps']:6d} steps, stage {evals[-1]['stage']}, last {evals[-1]['eval_accuracy']:.3f}")
Path(sys.argv[2]).write_text(json.dumps(runs, indent=1))
PY
tail -3 "$P/speed.log"
