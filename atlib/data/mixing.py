"""The random plan of one epoch: which rows, from which set, with which augmentation.

Everything random about an epoch is drawn here, up front, on the CPU, from a ``torch.Generator``
seeded by (seed, epoch) alone. Resuming at batch k therefore replays exactly the batches k..
of an uninterrupted epoch, on any device, and the global RNGs are never touched.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

PAD = 4  # zero padding of the random crop, in pixels


class EpochPlan(NamedTuple):
    """Rows of one epoch in batch order. Each batch lists its original rows first, then its
    synthetic ones; batch b spans ``rows[bounds[b]:bounds[b+1]]`` and its first
    ``num_original[b]`` entries are original rows."""

    rows: torch.Tensor          # int64 (R,): row in the original or the synthetic set
    is_synthetic: torch.Tensor  # bool (R,)
    offsets: torch.Tensor | None  # int64 (R, 2): crop (dy, dx) in the padded image, in [0, 2*PAD]
    flips: torch.Tensor | None    # bool (R,): mirror horizontally
    bounds: list[int]           # len = batches + 1
    num_original: list[int]     # original rows per batch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator whose stream depends only on (seed, epoch), decorrelated across both."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative integers; got seed={seed}, epoch={epoch}")
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def num_batches(num_rows: int, batch_size: int) -> int:
    """Batches per epoch: ceil(N / batch_size), with or without synthetic mixing."""
    return math.ceil(num_rows / batch_size)


def make_plan(
    num_rows: int,
    batch_size: int,
    *,
    train: bool,
    seed: int,
    epoch: int,
    num_synthetic_rows: int = 0,
    synthetic_per_batch: int = 0,
) -> EpochPlan:
    """Plan one epoch (see the module docstring).

    ``train=False``: rows in order, last batch partial, no augmentation. ``train=True``: a fresh
    permutation. With ``synthetic_per_batch`` = s > 0, each of the ceil(N / batch_size) batches
    has s rows drawn with replacement from the synthetic set and batch_size - s original rows taken
    from the permutation without replacement; on a set so small that the permutation runs out,
    the last batches get the remaining original rows only (never a repeat).
    """
    batches = num_batches(num_rows, batch_size)
    if not train:
        rows = torch.arange(num_rows)
        bounds = [min(b * batch_size, num_rows) for b in range(batches + 1)]
        return EpochPlan(rows, torch.zeros(num_rows, dtype=torch.bool), None, None, bounds, _sizes(bounds))
    gen = epoch_generator(seed, epoch)
    order = torch.randperm(num_rows, generator=gen)
    if synthetic_per_batch == 0:
        rows, is_synthetic = order, torch.zeros(num_rows, dtype=torch.bool)
        bounds = [min(b * batch_size, num_rows) for b in range(batches + 1)]
        num_original = _sizes(bounds)
    else:
        per_batch = batch_size - synthetic_per_batch
        used = min(num_rows, batches * per_batch)
        original = torch.full((batches * per_batch,), -1, dtype=torch.int64)
        original[:used] = order[:used]
        synthetic = torch.randint(num_synthetic_rows, (batches, synthetic_per_batch), generator=gen)
        grid = torch.cat([original.view(batches, per_batch), synthetic], dim=1)
        flags = torch.zeros_like(grid, dtype=torch.bool)
        flags[:, per_batch:] = True
        keep = grid >= 0  # drops the unused original slots of a too-small set
        rows, is_synthetic = grid[keep], flags[keep]
        num_original = [max(0, min(per_batch, used - b * per_batch)) for b in range(batches)]
        bounds = [0, *np.cumsum([n + synthetic_per_batch for n in num_original]).tolist()]
    offsets = torch.randint(2 * PAD + 1, (len(rows), 2), generator=gen)
    flips = torch.randint(2, (len(rows),), generator=gen).bool()
    return EpochPlan(rows, is_synthetic, offsets, flips, bounds, num_original)


def _sizes(bounds: list[int]) -> list[int]:
    return [b - a for a, b in zip(bounds[:-1], bounds[1:])]
