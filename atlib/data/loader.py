"""``DeviceLoader``: the whole training set lives on the device as uint8; batches are gathers.

Per batch the loader does one index gather, the crop/flip gather (train only) and a float
conversion, all on the device; there are no workers, no per-sample Python and no host copies
(except for a synthetic set too large for the device, see :func:`synthetic_placement`).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np
import torch

from atlib.data.augment import crop_flip
from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.mixing import PAD, EpochPlan, make_plan, num_batches

# On the CPU "the device" is host RAM: a synthetic set up to this size is copied into it once; a larger
# one stays a memmap of its file, read a batch's rows at a time.
SYNTHETIC_ON_DEVICE_MAX_BYTES = 2 << 30
GIB = 1 << 30


def synthetic_placement(nbytes: int, device: torch.device, free: int | None = None, total: int | None = None) -> tuple[bool, str]:
    """Whether a synthetic set of ``nbytes`` is copied to ``device`` once (else each batch's rows are
    read from the host memmap and copied over), and why, for the log.

    On CUDA the set goes to the device when it fits in the free memory less a reserve of
    max(4 GiB, 10 % of the card) for the model, activations and the allocator: Wang et al.'s 1M
    images (3 GB) then live on an H100/H200 like the original set. ``free``/``total`` default to
    ``torch.cuda.mem_get_info``. On the CPU the fixed limit above applies.
    """
    size = f"{nbytes / GIB:.2f} GiB"
    if device.type == "cuda":
        if free is None or total is None:
            free, total = torch.cuda.mem_get_info(device)
        budget = free - max(4 * GIB, total // 10)
        fits = nbytes <= budget
        return fits, (f"{size} {'on the device' if fits else 'kept on the host, rows copied per batch'}: "
                      f"{free / GIB:.1f} GiB free, {max(budget, 0) / GIB:.1f} GiB after the reserve of max(4 GiB, 10% of {total / GIB:.0f} GiB)")
    fits = nbytes <= SYNTHETIC_ON_DEVICE_MAX_BYTES
    return fits, f"{size} {'in memory' if fits else 'memory-mapped, rows read per batch'} (limit {SYNTHETIC_ON_DEVICE_MAX_BYTES / GIB:.0f} GiB on the CPU)"


class Batch(NamedTuple):
    x: torch.Tensor             # float32 (B, 3, S, S) in [0, 1], contiguous NCHW, on the device
    y: torch.Tensor             # int64 (B,)
    is_synthetic: torch.Tensor  # bool (B,)
    index: torch.Tensor         # int64 (B,): row in the original set, or in the synthetic set where is_synthetic
    num_original: int           # the first num_original rows are original, the rest synthetic (known on the host)


class DeviceLoader:
    """Epochs of batches from an ImageSet held on ``device``; every epoch is a pure function of
    (seed, epoch), so ``epoch(e, start_batch=k)`` resumes bit-exactly (see ``atlib.data.mixing``).

    With ``synthetic`` and ``train=True``, each batch holds round(synthetic_fraction * batch_size)
    synthetic rows (drawn with replacement) and original rows for the rest, and an epoch keeps
    ceil(len(data) / batch_size) batches, so mixing costs no extra compute (Bayat & Rish, Sec. 5).
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: str | torch.device = "cpu",
        *,
        train: bool,
        seed: int = 0,
        synthetic: ImageSet | None = None,
        synthetic_fraction: float = 0.5,
    ) -> None:
        validate_image_set(data.images, data.labels, len(data.classes) or None, "DeviceLoader data")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        if not 0 <= synthetic_fraction < 1:
            raise ValueError(f"synthetic_fraction must be in [0, 1); got {synthetic_fraction}")
        self.synthetic_per_batch = round(synthetic_fraction * batch_size) if synthetic is not None else 0
        if self.synthetic_per_batch and not train:
            raise ValueError("synthetic mixing is a training setting; pass train=True or no synthetic set")
        if self.synthetic_per_batch >= batch_size:
            raise ValueError(
                f"synthetic_fraction {synthetic_fraction} leaves no original rows in a batch of {batch_size}"
            )
        self.device = torch.device(device)
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.num_rows = len(data.labels)
        self._images = _to_device_nchw(data.images, self.device)
        self._labels = _labels_to_device(data.labels, self.device)
        self.num_synthetic_rows = 0
        self.synthetic_placement = ""  # where the synthetic set lives and why, for the log
        self._synthetic_images: torch.Tensor | np.ndarray | None = None
        if synthetic is not None and self.synthetic_per_batch:
            validate_image_set(synthetic.images, synthetic.labels, len(data.classes) or None, "synthetic set",
                               data.images.shape[1])
            self.num_synthetic_rows = len(synthetic.labels)
            on_device, self.synthetic_placement = synthetic_placement(synthetic.images.nbytes, self.device)
            self._synthetic_images = _to_device_nchw(synthetic.images, self.device) if on_device else synthetic.images
            self._synthetic_labels = _labels_to_device(synthetic.labels, self.device)

    def __len__(self) -> int:
        """Batches per epoch."""
        return num_batches(self.num_rows, self.batch_size)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Batches ``start_batch``.. of epoch ``epoch``."""
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch must be in [0, {len(self)}]; got {start_batch}")
        plan = make_plan(
            self.num_rows,
            self.batch_size,
            train=self.train,
            seed=self.seed,
            epoch=epoch,
            num_synthetic_rows=self.num_synthetic_rows,
            synthetic_per_batch=self.synthetic_per_batch,
        )
        on_device = EpochPlan(*(t.to(self.device) if isinstance(t, torch.Tensor) else t for t in plan))
        for b in range(start_batch, len(self)):
            yield self._batch(plan, on_device, b)

    def _batch(self, plan: EpochPlan, dev: EpochPlan, b: int) -> Batch:
        start, stop, n_orig = plan.bounds[b], plan.bounds[b + 1], plan.num_original[b]
        rows = dev.rows[start:stop]
        x = self._images.index_select(0, rows[:n_orig])  # far faster than rows-indexing on CPU
        y = self._labels.index_select(0, rows[:n_orig])
        if stop - start > n_orig:
            x = torch.cat([x, self._gather_synthetic(plan.rows[start + n_orig : stop], rows[n_orig:])])
            y = torch.cat([y, self._synthetic_labels.index_select(0, rows[n_orig:])])
        if dev.offsets is not None and dev.flips is not None:
            x = crop_flip(x, dev.offsets[start:stop], dev.flips[start:stop], PAD)
        return Batch(x.float().div_(255), y, dev.is_synthetic[start:stop], rows, n_orig)

    def _gather_synthetic(self, host_rows: torch.Tensor, device_rows: torch.Tensor) -> torch.Tensor:
        if isinstance(self._synthetic_images, torch.Tensor):
            return self._synthetic_images.index_select(0, device_rows)
        picked = np.asarray(self._synthetic_images[host_rows.numpy()])  # reads only these rows of a memmap
        return torch.from_numpy(picked).permute(0, 3, 1, 2).to(self.device).contiguous()


def _labels_to_device(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.array(labels, dtype=np.int64)).to(device)  # a copy: the source may be read-only


def _to_device_nchw(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NHWC array (possibly a read-only memmap) → uint8 NCHW tensor on ``device``, one host copy."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
