"""Which CPU thread setting keeps a lab-size training step fast on an idle machine AND on a crowded one.

On a lab server many kernels share the cores. PyTorch's threads busy-wait between operations (OpenMP's
default wait policy), so two threads that must both be scheduled for every small operation can be slowed
many times over when other jobs hold the cores. This benchmark times the notebooks' own workload (a lab-size
RMT training step on copy, 4 segments of 8, batch 64) under each candidate setting, first on the machine as it
is, then while two other CPU-bound jobs run, then while four classmates train the same model with PyTorch's
default setting (`harness.crowded`), each candidate in a fresh process (the wait policy is read when PyTorch
loads), and prints the ratios against the default (all cores, busy-wait) measured in the same run.

    python bench/goals/thread_policy.py              # writes bench/results/thread_policy/latest.json
    python bench/goals/thread_policy.py --smoke      # a few steps: checks that the script works
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import harness  # noqa: E402

CANDIDATES = {  # name: (torch threads, extra environment)
    "all cores, busy-wait (PyTorch's default)": (os.cpu_count(), {}),
    "all cores, passive wait": (os.cpu_count(), {"OMP_WAIT_POLICY": "PASSIVE"}),
    "one thread": (1, {}),
}
DEFAULT = next(iter(CANDIDATES))
CONDITIONS = {  # name: (other processes, what each runs)
    "idle": (0, None),
    "2 busy jobs": (2, harness.BUSY_LOOP),
    "4 classmates": (4, [__file__, "--classmate"]),
}


def worker(threads: int, steps: int) -> float:
    """Seconds per training step of the notebooks' workload (median of `steps`, after 3 warm-up steps)."""
    import torch

    from minirmt import build_model, preset
    from minirmt.data.tasks import make_task
    from minirmt.training.common import LoopConfig, make_optimizer

    torch.set_num_threads(threads)
    task = make_task("copy", segment_len=8)
    model = build_model("rmt", preset("lab", vocab_size=task.vocab_size), seed=0)
    optimizer = make_optimizer(model, LoopConfig())
    tokens, targets = task.sample(64, 4, torch.Generator().manual_seed(0))
    times = []
    for step in range(3 + steps):
        started = time.perf_counter()
        model(tokens, targets=targets).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 3:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(name: str, steps: int) -> float:
    threads, env = CANDIDATES[name]
    done = subprocess.run([sys.executable, __file__, "--worker", str(threads), "--steps", str(steps)],
                          env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3, help="runs of each candidate per condition (median kept)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--classmate", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        print(worker(args.worker, args.steps))
        return
    while args.classmate:  # a classmate's kernel: the same training, PyTorch's default threads, until stopped
        worker(os.cpu_count(), 50)
    steps, repeats = (3, 1) if args.smoke else (args.steps, args.repeats)
    seconds = {}
    for condition, (jobs, command) in CONDITIONS.items():
        with harness.crowded(jobs, command) if jobs else contextlib.nullcontext():
            load = os.getloadavg()[0]
            for name in CANDIDATES:
                runs = [measure(name, steps) for _ in range(repeats)]
                seconds[(condition, name)] = statistics.median(runs)
                print(f"{condition:12s} {name:42s} {1000 * seconds[condition, name]:8.1f} ms/step "
                      f"(runs {', '.join(f'{1000 * r:.0f}' for r in runs)}; load {load:.1f})")
    rows = []
    for name in CANDIDATES:
        row = {"candidate": name, "threads": CANDIDATES[name][0], "env": CANDIDATES[name][1],
               "ms_per_step": {c: round(1000 * seconds[c, name], 2) for c in CONDITIONS},
               "speed_vs_default": {c: round(seconds[c, DEFAULT] / seconds[c, name], 2) for c in CONDITIONS},
               "slowdown_vs_idle": {c: round(seconds[c, name] / seconds["idle", name], 2) for c in CONDITIONS}}
        rows.append(row)
        print(f"{name:42s} speed vs default: " + ", ".join(f"{c} {x:.2f}x" for c, x in row["speed_vs_default"].items())
              + " | slower than idle: " + ", ".join(f"{c} {x:.2f}x" for c, x in row["slowdown_vs_idle"].items()))
    path = harness.result_path("thread_policy", args.smoke)
    harness.write_json(path, {"workload": "lab-size RMT, copy, 4 segments of 8, batch 64: one training step",
                              "conditions": {c: f"{jobs} other processes" for c, (jobs, _) in CONDITIONS.items()},
                              "steps": steps, "repeats": repeats,
                              "rows": rows, "environment": harness.environment("cpu")})
    print("wrote", path)


if __name__ == "__main__":
    main()
