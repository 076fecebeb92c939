#!/usr/bin/env bash
# The paper's algorithmic figure (RMT paper, Fig. 4) on one GPU, as `python -m minirmt experiment paper` runs it,
# many small runs at once (JOBS processes). The sweep resumes from bench/results/paper_figure/rows.jsonl: a run
# already there is not run again. Every run stops TIME_LIMIT seconds after the start; one not finished by then keeps
# its state in bench/results/paper_figure/unfinished/ (git-ignored) and goes on from it in the next call, where that
# folder travels too. Afterwards the folder (rows, table, figure, log) is copied to $OUT, the unfinished runs as
# unfinished.tar.part-aa, -ab, ... (cat them | tar x -C bench/results/paper_figure).
#
#   OUT=/some/folder bash bench/studies/paper_figure.sh --tasks copy reverse --seeds 0 1 2
#
# Runs from a copy of the repository with no network: minirmt is imported from the working tree; einops and tqdm
# are installed from .carry/wheels (pip download einops tqdm), matplotlib and its needs from .carry/mpl, where the
# machine lacks them.
set -uo pipefail
cd "$(dirname "$0")/../.."

RESULTS=bench/results/paper_figure
OUT=${OUT:-$RESULTS}
JOBS=${JOBS:-12}
TIME_LIMIT=${TIME_LIMIT:-540}
PYTHON=${PYTHON:-python3}
SITE=$(mktemp -d)
for pair in einops:einops tqdm:tqdm; do
    "$PYTHON" -c "import ${pair%%:*}" 2>/dev/null ||
        "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" .carry/wheels/"${pair##*:}"-*.whl
done
"$PYTHON" -c "import matplotlib" 2>/dev/null ||
    "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" .carry/mpl/*.whl
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$RESULTS" "$OUT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
started=$SECONDS
timeout "$((TIME_LIMIT + 60))" "$PYTHON" -m minirmt experiment paper --out "$RESULTS" --device cuda --jobs "$JOBS" \
    --time-limit "$TIME_LIMIT" "$@" 2>&1 | tee -a "$RESULTS/log.txt"
echo "sweep: $((SECONDS - started)) s of GPU time (limit $TIME_LIMIT s)" | tee -a "$RESULTS/log.txt"
if [ "$OUT" != "$RESULTS" ]; then
    cp "$RESULTS"/*.* "$OUT"/
    [ -n "$(ls "$RESULTS/unfinished" 2>/dev/null)" ] &&
        tar cf - -C "$RESULTS" unfinished | split -b 15M - "$OUT/unfinished.tar.part-"
fi
exit 0
