"""A short table of benchmark records, with each goal met or missed: the current ones (bench/results/*/latest.json)
by default, or the records named.

    python bench/summary.py                      # every goal benchmark's current record
    python bench/summary.py $OUT/gpu_*.json      # the records of one run
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fmt  # noqa: E402


def verdict(value, ok) -> str:
    return "-" if value is None else ("met" if ok(value) else "MISSED")


def cpu_throughput(r: dict) -> list[str]:
    lines = [f"{name:<10} {x['tokens_per_s']:>10,.0f} tokens/s  {x['tokens_per_cpu_s']:>10,.0f} tokens/CPU-s"
             for name, x in r["results"].items()]
    for key, x in r["ratios"].items():
        goal = "control" if key.endswith("peer-lean") else f"goal >= 2: {verdict(x['wall'], lambda v: v >= 2)}"
        lines.append(f"{key}: {fmt(x['wall'])}x wall, {fmt(x['cpu_time'])}x CPU time ({goal})")
    return lines


def gpu_throughput(r: dict) -> list[str]:
    k = r.get("config", {}).get("steps_per_round", 1)  # records before run 12 timed each step alone
    lines = [f"timed {k} steps back to back per row and round" if k > 1 else "each step timed alone, from an idle GPU",
             f"{'row':<32} {'tokens/s':>11} {'MFU':>7} {'step GiB':>9}"]
    for name, x in r["results"].items():
        if "error" in x:
            lines.append(f"{name:<32} {x['error']}")
            continue
        mem = x.get("step_peak_bytes")
        mfu = x.get("mfu")
        lines.append(f"{name:<32} {x['tokens_per_s']:>11,.0f} {fmt(mfu and 100 * mfu, 1):>6}% "
                     f"{fmt(mem and mem / 2**30):>9}")
    for key, value in r["ratios"].items():
        other = key.split(" / ")[-1]  # "minirmt ... / peer", "... / dense compiled whole", ...
        if other == "peer-lean":
            goal = "control"
        elif other == "peer" or other.startswith("dense"):
            least = 10 if other == "peer" else 0.8
            goal = f"goal >= {least}: {verdict(value, lambda v, least=least: v >= least)}"
        else:
            goal = "a proposal against today's code"
        lines.append(f"{key}: {fmt(value)}x ({goal})")
    return lines


def memory_cell(x: dict) -> str:
    if x["oom"] or "error" in x:
        return "oom" if x["oom"] else x["error"]
    return f"{fmt(x['peak_bytes'] and x['peak_bytes'] / 2**30)} GiB {x['tokens_per_s']:,.0f} tok/s"


def gpu_memory(r: dict) -> list[str]:
    lines = []
    for name, by_g in r["results"].items():
        cells = [f"g={g}: {memory_cell(x)}" for g, x in by_g.items()]
        lines.append(f"{name:<32} " + " | ".join(cells))
    for key in [name for name in r["summary"] if name.startswith("flat peak")]:  # eager, compiled, CUDA graphs
        ratio = r["summary"][key]
        lines.append(f"{key}: {fmt(ratio)} (goal <= 2: {verdict(ratio, lambda v: v <= 2)})")
    for key in [name for name in r["summary"] if name.startswith("throughput cost")]:
        for g, cost in r["summary"][key].items():
            lines.append(f"{key.replace(' by g', '')} at g={g}: {100 * cost:.0f}% "
                         f"(goal <= 30%: {verdict(cost, lambda v: v <= 0.3)})")
    return lines


def cpu_time_to_solve(r: dict) -> list[str]:
    lines = [f"{name:<10} solved={x['solved']} after {x['steps']} steps, {x['train_wall_s']:.0f} s wall, "
             f"{x['train_cpu_s']:.0f} CPU-s, exact match {fmt(x['final_exact_match'], 3)}"
             for name, x in r["results"].items()]
    for key, x in r["ratios"].items():
        if x.get("at_least"):
            lines.append(f"{key}: more than {fmt(x['at_least']['cpu_time'])}x CPU time (not solved in the budget)")
        else:
            lines.append(f"{key}: {fmt(x['wall'])}x wall, {fmt(x['cpu_time'])}x CPU time")
    return lines


TABLES = {"cpu_throughput": cpu_throughput, "gpu_throughput": gpu_throughput, "gpu_memory": gpu_memory,
          "cpu_time_to_solve": cpu_time_to_solve}


def summarize(path: Path) -> str:
    record = json.loads(Path(path).read_text())
    name = record.get("benchmark")
    if name not in TABLES:
        return f"== {path}: not a benchmark record (no table for {name!r}), skipped"
    env = record.get("environment", {})
    head = f"== {name} ({env.get('device')}, torch {env.get('torch')}){' SMOKE' if record.get('smoke') else ''}"
    return "\n".join([head, *TABLES[name](record)])


def main(paths: list[str]) -> None:
    results = Path(__file__).resolve().parent / "results"
    for path in paths or sorted(str(p) for name in TABLES for p in results.glob(f"{name}/latest.json")):
        if not Path(path).exists():
            print(f"== {path}: missing (the benchmark did not finish)")
            continue
        print(summarize(Path(path)))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
