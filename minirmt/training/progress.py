"""A run's clocks, its progress display and a clean Ctrl-C: what every loop uses to time, show and stop a run."""

import math
import sys
import time
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm


class Interrupt:
    """Set by `stop_on_interrupt` when Ctrl-C (KeyboardInterrupt) ended the block early."""

    interrupted = False


@contextmanager
def stop_on_interrupt():
    """Turn Ctrl-C inside the block into a clean stop: the block ends, the program goes on.

        with stop_on_interrupt() as stop:
            for step in ...: ...
        if stop.interrupted: ...   # keep the model and the history gathered so far

    A step interrupted half way (say, inside `optimizer.step()`) may have updated some parameters.
    """
    flag = Interrupt()
    try:
        yield flag
    except KeyboardInterrupt:
        flag.interrupted = True


class Stopwatch:
    """Seconds of `clock` since creation (plus `start`), not counting the time inside `paused()` blocks.

    clock: `time.perf_counter` (wall clock) or `time.process_time` (CPU seconds of all this process's threads:
    the steadier measure on a machine that other jobs share).
    """

    def __init__(self, start: float = 0.0, clock=time.perf_counter):
        self.clock = clock
        self.origin = clock() - start

    def read(self) -> float:
        return self.clock() - self.origin

    @contextmanager
    def paused(self):
        begin = self.clock()
        try:
            yield
        finally:
            self.origin += self.clock() - begin


class BudgetClock:
    """Training time without evaluations, and the time budget: the steps the measured speed allows.

    The budget clock starts after the first WARM_STEPS steps (which compile the model). At each log step
    `plan` turns the speed so far into the step at which the budget ends (under DDP the caller takes the
    smallest plan of all processes, so they run the same number of steps with the same schedule).
    """

    def __init__(self, device: torch.device, budget_seconds: float):
        self.device = device
        self.mark = time.perf_counter()
        self.budget_seconds = budget_seconds  # spent so far, earlier runs of a resumed training included
        self.budget_mark = None
        self.warm = None  # (step, tokens, budget_seconds) when the budget clock started

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def tick(self) -> float:
        """Seconds since the last tick (or resume); also adds them to the budget once it has started."""
        self._sync()
        now = time.perf_counter()
        seconds, self.mark = now - self.mark, now
        if self.budget_mark is not None:
            self.budget_seconds += now - self.budget_mark
            self.budget_mark = now
        return seconds

    def resume(self) -> None:
        """Restart the clocks after an evaluation (which does not count)."""
        self.mark = time.perf_counter()
        if self.budget_mark is not None:
            self.budget_mark = self.mark

    def start_budget(self, step: int, tokens: int) -> None:
        self._sync()
        self.budget_mark = time.perf_counter()
        self.warm = (step, tokens, self.budget_seconds)

    def plan(self, step: int, budget: float) -> float:
        """The step at which the time budget ends, from the speed measured since the warm-up steps."""
        if self.warm is None or step <= self.warm[0]:
            return math.inf
        rate = (step - self.warm[0]) / (self.budget_seconds - self.warm[2])  # steps per second
        return float(step + max(0, math.floor((budget - self.budget_seconds) * rate)))

    def speed(self, tokens: int) -> float | None:
        """Tokens per second since the budget clock started (None if it never did)."""
        if self.warm is None or tokens <= self.warm[1]:
            return None
        return (tokens - self.warm[1]) / (self.budget_seconds - self.warm[2])


def progress_bar(total: int | None, initial: int = 0, desc: str = "", enabled: bool = True, unit: str = "steps"):
    """A tqdm bar in a terminal or a notebook; where output goes to a file (a job log), a line every 10%."""
    if not enabled:
        return NoBar()
    in_notebook = "ipykernel" in sys.modules
    if in_notebook or sys.stderr.isatty():
        one = unit[:-2] if unit.endswith("ches") else unit.removesuffix("s")  # "steps" -> "step/s", "batch/s"
        return tqdm(total=total, initial=initial, desc=desc, unit=one, dynamic_ncols=True)
    return LineBar(total, initial, desc, unit)


class NoBar:
    """Stands in for the progress bar when there is none."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, values: dict | None = None, refresh: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class LineBar(NoBar):
    """Progress as whole lines on stderr (`desc: 300/1000 steps | loss 0.12`), one every tenth of the run."""

    def __init__(self, total: int | None, initial: int = 0, desc: str = "", unit: str = "steps"):
        self.total, self.n, self.desc, self.unit, self.postfix = total, initial, desc, unit, {}
        self.every = max(1, (total or 1000) // 10)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.every == 0 or self.n == self.total:
            values = " | ".join(f"{k} {v}" for k, v in self.postfix.items())
            total = f"/{self.total}" if self.total else ""
            print(f"{self.desc}: {self.n}{total} {self.unit}" + (f" | {values}" if values else ""), file=sys.stderr)

    def set_postfix(self, values: dict | None = None, refresh: bool = False) -> None:
        self.postfix = dict(values or {})
