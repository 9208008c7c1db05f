"""``--tensorboard``: a run's record points as TensorBoard scalars in ``<run>/tb/``, through
``torch.utils.tensorboard`` (the ``tensorboard`` package is optional: only this module needs it).

The curves follow the records, as the run's log (``RunWriter.log_point``) does: a resumed run reopens its event files with
``purge_step`` just after its last kept record point, so TensorBoard drops whatever a killed session wrote
beyond it and every recorded point appears once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from atlib.store.layout import LOG

# Record-point numbers shown, by TensorBoard tag (grouped into the loss, accuracy and schedule panels).
SCALARS = {
    "loss/train": "train_loss", "accuracy/train": "train_acc", "accuracy/test": "test_acc", "accuracy/neg": "neg_acc",
    "accuracy/test_ema": "test_acc_ema", "accuracy/neg_ema": "neg_acc_ema", "schedule/lr": "lr", "schedule/epoch": "epoch",
}
INSTALL = "pip install tensorboard"


def require_tensorboard() -> None:
    """Fail before any training when ``--tensorboard`` is asked for and the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ImportError(f"--tensorboard needs the optional package tensorboard, which is not installed: {INSTALL} "
                          f"(or train without --tensorboard; {LOG} holds the same numbers)") from None


class Curves:
    """The TensorBoard writer of one training session; the global step is the optimizer step of each point."""

    def __init__(self, folder: Path, kept: Sequence[Mapping[str, Any]]) -> None:
        """Open ``folder``'s event files after the record points ``kept`` (those of the records at this start)."""
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        _wait_for_a_later_second(folder)
        self.writer = SummaryWriter(str(folder), purge_step=int(kept[-1]["step"]) + 1 if kept else 0)

    def add(self, point: Mapping[str, Any]) -> None:
        """One record point's numbers, flushed (a killed run loses nothing it recorded)."""
        for tag, name in SCALARS.items():
            if point.get(name) is not None:
                self.writer.add_scalar(tag, float(point[name]), int(point["step"]), walltime=point.get("time"))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _wait_for_a_later_second(folder: Path) -> None:
    """Wait, if needed, until this session's event file will sort after every one already in ``folder``.

    TensorBoard reads a folder's event files in name order, and a name starts with the second the file was
    created (``events.out.tfevents.<seconds>.<host>.<pid>...``). A session resumed within the second its
    predecessor began could be read first; the predecessor's restart marker (its ``purge_step``, 0 for a new
    run) would then purge every point the resumed session wrote. A file stamped further ahead (another
    machine's clock) is not waited for.
    """
    stamps = [int(parts[3]) for parts in (p.name.split(".") for p in folder.glob("events.out.tfevents.*"))
              if len(parts) > 3 and parts[3].isdigit()]
    deadline = time.time() + 2.0
    while stamps and int(time.time()) <= max(stamps) and time.time() < deadline:
        time.sleep(0.05)
