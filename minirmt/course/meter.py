"""Measuring what a call costs: its median time, and the peak of the tensor memory it allocates (on any device).

`PeakMemory` sees every tensor that a PyTorch operation returns inside the `with` block (a dispatch mode, so it
works on the CPU, where there is no allocator to ask) and keeps a running total of the storages still alive;
its `peak` is the most that was alive at once. Tensors made before the block (weights, inputs) are not counted:
the number is what the call itself needs on top of them.

    with PeakMemory() as meter:
        model(tokens)
    meter.peak  # bytes
"""

import statistics
import time
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class PeakMemory(TorchDispatchMode):
    """Bytes of tensor storage allocated inside the block: `now` (still alive) and `peak` (the most at once)."""

    def __init__(self):
        super().__init__()
        self.alive = {}  # storage address -> (bytes, tensors that use it)
        self.now = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                address = tensor.untyped_storage().data_ptr()
                if address in inputs and address not in self.alive:
                    continue  # a view (or in-place result) of a tensor made before the block: no new memory
                self._hold(tensor)
        self.peak = max(self.peak, self.now)
        return out

    def _hold(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        size, users = self.alive.get(address, (storage.nbytes(), 0))
        if users == 0:
            self.now += size
        self.alive[address] = (size, users + 1)
        weakref.finalize(tensor, self._release, address)

    def _release(self, address: int) -> None:
        size, users = self.alive[address]
        if users == 1:
            del self.alive[address]
            self.now -= size
        else:
            self.alive[address] = (size, users - 1)


def median_seconds(fn, repeats: int = 5, device: torch.device | str = "cpu") -> float:
    """The median wall-clock seconds of `repeats` calls of `fn()` (after one untimed warm-up call)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    fn()
    seconds = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)
