"""Data-parallel training (torch DistributedDataParallel) for :func:`gnnannot.train.train_model`.

``torchrun --nproc_per_node N -m stages.train`` (or ``train.distributed.nproc_per_node: N``
in params.yaml, which makes the stage launch torchrun itself) starts N processes; each one
calls :func:`init_from_env` and passes the returned :class:`DataParallel` to
``train_model(..., dist=...)``. Backend: gloo on the CPU, nccl on CUDA (one GPU per
process, ``cuda:<LOCAL_RANK>``). What changes against one process:

* the training sessions of a round are sharded across ranks (video ``i`` on rank
  ``i % N``); each rank takes its optimizer steps on its own cached interactions, padded
  (cyclically) to the longest rank's count so every rank steps in lockstep; DDP averages
  the gradients, so the parameters stay identical on all ranks;
* rank 0 alone validates (the others get its J curve, so the learning-rate schedule and the
  model selection agree), logs (dvclive) and writes the checkpoint;
* the logged train loss and J are means over all ranks.

Same seed, same world size: the same checkpoint (every rank is seeded alike and the
collectives reduce in a fixed order). A different world size changes the shards and the
step order, so the model differs (as with any data-parallel training).

:data:`SINGLE` is the one-process default: every hook is the identity.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from gnnannot.errors import ConfigError

T = TypeVar("T")


class SingleProcess:
    """The hooks :func:`gnnannot.train.train_model` calls, for one process (identity)."""

    rank = 0
    world_size = 1

    @property
    def is_main(self) -> bool:
        """True on the process that validates, logs and writes the checkpoint."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of the training videos."""
        return list(items)

    def wrap(self, model: Any) -> Any:
        """The module to call for training steps (DDP-wrapped when distributed)."""
        return model

    def epoch_order(self, order: np.ndarray) -> np.ndarray:
        """This rank's step order, padded to the same length on every rank."""
        return order

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on rank 0 only, its result given to every rank."""
        return fn()

    def main_only(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` on rank 0, a no-op elsewhere (checkpoint writes)."""
        return fn

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all ranks."""
        return float(value)

    def close(self) -> None:
        """End the process group (nothing for one process)."""


SINGLE = SingleProcess()


class DataParallel(SingleProcess):
    """The hooks for rank ``rank`` of ``world_size`` processes (an initialised default
    process group); ``device`` is this rank's device."""

    def __init__(self, rank: int, world_size: int, device: str) -> None:
        self.rank = rank
        self.world_size = world_size
        self.device = device

    def shard(self, items: Sequence[T]) -> list[T]:
        if len(items) < self.world_size:
            raise ConfigError(
                f"train: {self.world_size} processes for {len(items)} training videos "
                "(each process needs at least one)"
            )
        return list(items[self.rank :: self.world_size])

    def wrap(self, model: Any) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        if self.device.startswith("cuda"):
            idx = int(self.device.split(":")[1]) if ":" in self.device else 0
            return DistributedDataParallel(model, device_ids=[idx], output_device=idx)
        return DistributedDataParallel(model)

    def _tensor(self, values: list[float]) -> Any:
        import torch

        dev = self.device if self.device.startswith("cuda") else "cpu"
        return torch.tensor(values, dtype=torch.float64, device=dev)

    def epoch_order(self, order: np.ndarray) -> np.ndarray:
        import torch.distributed as dist

        n = self._tensor([float(len(order))])
        dist.all_reduce(n, op=dist.ReduceOp.MAX)
        target = int(n.item())
        if len(order) == target:
            return order
        return np.resize(order, target)  # cyclic repeat of this rank's own order

    def on_main(self, fn: Callable[[], T]) -> T:
        import torch.distributed as dist

        box = [fn() if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def main_only(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn if self.is_main else (lambda *a, **k: None)

    def mean(self, value: float) -> float:
        import torch.distributed as dist

        t = self._tensor([float(value)])
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():  # no barrier: a rank that failed must not hang the rest
            dist.destroy_process_group()


def init_from_env(device: str = "cpu") -> tuple[SingleProcess, str]:
    """The hooks and the device of this process. Under torchrun (``WORLD_SIZE`` > 1 in the
    environment) initialise the process group (gloo on the CPU, nccl for ``cuda``) and
    give rank ``LOCAL_RANK`` its GPU; otherwise :data:`SINGLE` and ``device`` unchanged."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("train.device is cuda but no CUDA device is available")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    torch.set_num_threads(max(1, torch.get_num_threads() // int(
        os.environ.get("LOCAL_WORLD_SIZE", world))))  # share the host's cores
    return DataParallel(rank, world, device), device


def under_torchrun() -> bool:
    """True in a process started by torchrun (or another launcher setting WORLD_SIZE)."""
    return "WORLD_SIZE" in os.environ


def launch(nproc_per_node: int, module: str, args: Sequence[str] = ()) -> None:
    """Run ``python -m module args`` in ``nproc_per_node`` processes on this host with
    torchrun (``--standalone``); raise ConfigError naming the exit status if one fails.
    Several hosts: run ``torchrun --nnodes ... --rdzv-endpoint ...`` yourself (README)."""
    if nproc_per_node < 1:
        raise ConfigError(f"train.distributed.nproc_per_node must be >= 1, found "
                          f"{nproc_per_node}")  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc_per_node}", "-m", module, *args]  # fmt: skip
    rc = subprocess.call(cmd)
    if rc != 0:
        raise ConfigError(f"distributed training failed (torchrun exit status {rc}): "
                          f"{' '.join(cmd)}")  # fmt: skip
