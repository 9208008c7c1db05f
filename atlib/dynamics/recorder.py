"""Per-example statistics of every training presentation, taken from the forward pass the step already
makes, accumulated on the device and written once per epoch to a :class:`~atlib.store.dynamics.DynamicsStore`.

For each original training example seen in a batch: the loss, correctness (argmax), the true-class
probability and the margin (true-class logit minus the largest other logit), and the global step.
Under adversarial training that forward is on the adversarial input (for TRADES/MART the adversarial
forward), at the training precision; ``clean=True`` adds an eval-mode forward of the clean batch. Rows
drawn from a synthesized set are kept as a list (step, generated index, label, loss, margin, correct),
since they are drawn with replacement. Nothing is read back to the host per step: rows are scattered
into device buffers by index, and copied to the host at the end of an epoch. The buffers of a
partly done epoch travel in the checkpoint (:meth:`state_dict`), so a resumed run writes the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atlib.store.dynamics import FIELDS, DynamicsStore

SYNTHETIC_KEYS = ("step", "index", "label", "loss", "margin", "correct")


def presentation_stats(logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per row: cross-entropy loss, correct (argmax, as 0/1), true-class probability and logit margin, fp32."""
    logits = logits.detach().float()
    true_logit = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return {
        "loss": F.cross_entropy(logits, y, reduction="none"),
        "correct": (logits.argmax(1) == y).float(),
        "p_true": logits.softmax(1).gather(1, y[:, None]).squeeze(1),
        "margin": true_logit - others.max(1).values,
    }


class PresentationRecorder:
    """Device buffers for one epoch of presentations of ``num_rows`` original examples (and
    ``synthetic_per_epoch`` synthesized rows), written to ``store`` by :meth:`flush`."""

    def __init__(self, store: DynamicsStore, num_rows: int, synthetic_per_epoch: int, device: torch.device) -> None:
        self.store, self.num_rows, self.device = store, num_rows, device
        self.synthetic_per_epoch = synthetic_per_epoch
        self.kinds = ("train", "clean") if store.clean else ("train",)
        self.reset()

    def reset(self) -> None:
        nan = lambda: torch.full((self.num_rows,), float("nan"), device=self.device)  # noqa: E731
        self.stats = {kind: {f: nan() for f in FIELDS} for kind in self.kinds}
        self.step = torch.full((self.num_rows,), -1, dtype=torch.int32, device=self.device)
        self.synthetic = {k: torch.zeros(self.synthetic_per_epoch, device=self.device,
                                         dtype=torch.int64 if k in ("step", "index", "label") else torch.float32)
                          for k in SYNTHETIC_KEYS}
        self.synthetic_count = 0

    @torch.no_grad()
    def observe(self, logits: torch.Tensor, y: torch.Tensor, index: torch.Tensor, num_original: int, step: int,
                clean_logits: torch.Tensor | None = None) -> None:
        """One batch: its first ``num_original`` rows are original examples ``index[:num_original]``, the rest
        synthesized rows ``index[num_original:]`` of the generated set."""
        n = num_original
        rows = index[:n]
        for kind, out in (("train", logits), ("clean", clean_logits)):
            if kind in self.kinds:
                for name, value in presentation_stats(out[:n], y[:n]).items():
                    self.stats[kind][name].index_copy_(0, rows, value)
        self.step.index_fill_(0, rows, step)
        m = len(y) - n
        if m:
            stats = presentation_stats(logits[n:], y[n:])
            end = self.synthetic_count + m
            values = {"step": torch.full((m,), step, device=self.device), "index": index[n:], "label": y[n:],
                      "loss": stats["loss"], "margin": stats["margin"], "correct": stats["correct"]}
            for key, value in values.items():
                self.synthetic[key][self.synthetic_count:end] = value
            self.synthetic_count = end

    def flush(self, epoch: int) -> None:
        """Write the epoch's rows (rows first, then the store's index), and start the next epoch."""
        host = {kind: {f: v.cpu().numpy() for f, v in fields.items()} for kind, fields in self.stats.items()}
        synthetic = None
        if self.synthetic_per_epoch:
            synthetic = {k: v[: self.synthetic_count].cpu().numpy() for k, v in self.synthetic.items()}
            synthetic["correct"] = synthetic["correct"].astype(np.uint8)
        self.store.write_epoch(epoch, host["train"], self.step.cpu().numpy(), clean=host.get("clean"), synthetic=synthetic)
        self.reset()

    def state_dict(self) -> dict[str, Any]:
        """The partly done epoch's buffers, on the CPU, for the checkpoint."""
        return {"stats": {k: {f: v.cpu() for f, v in fields.items()} for k, fields in self.stats.items()},
                "step": self.step.cpu(), "synthetic": {k: v.cpu() for k, v in self.synthetic.items()},
                "synthetic_count": self.synthetic_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for kind, fields in state["stats"].items():
            for name, value in fields.items():
                self.stats[kind][name].copy_(value)
        self.step.copy_(state["step"])
        for key, value in state["synthetic"].items():
            self.synthetic[key].copy_(value)
        self.synthetic_count = int(state["synthetic_count"])
