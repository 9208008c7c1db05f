"""Multi-process (DDP) support for ``torchrun --nproc_per_node=K -m atlib.train ...``.

Every rank builds the same global batch (the loader is a pure function of seed and epoch) and
trains on its slice ``[rank::world]``, so the optimisation sees the same global batch size as a
single-device run. Only rank 0 evaluates, records and checkpoints; the others wait at barriers.
Without torchrun's environment variables everything here is a no-op (a single process).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over ranks (in place)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch."""
        return tensor[self.rank :: self.world_size] if self.enabled else tensor


def with_sync_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm of ``model`` as SyncBatchNorm: batch statistics over all ranks' shards, so a
    DDP run normalizes with the global batch's statistics like a single-device run (per-rank BN
    sees only ``batch_size / world_size`` images). Running it needs CUDA and a process group."""
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def init_distributed(device_type: str, timeout_min: float = 120.0) -> Distributed:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), once.

    ``timeout_min`` bounds every collective, the final barrier included: it must outlast rank 0's
    final evaluation (CIFAR-C on a WRN-28-10 takes many minutes; NCCL's default is 10)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    info = Distributed(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo",
                                timeout=dt.timedelta(minutes=timeout_min))
    return info
