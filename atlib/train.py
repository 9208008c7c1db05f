"""The one training loop: natural (NT) and PGD adversarial training (AT), recording every test
example's predicted probabilities at every record point, with exact resume.

NT and AT differ only in the batch transform (AT replaces each batch by its PGD adversarial
examples). The loop is the only place in atlib that mutates a model.

CLI: ``python -m atlib.train --dataset cifar10 --model resnet18 --method at --epsilon-255 8 --seed 0``
(every :class:`~atlib.config.TrainConfig` field is an option; ``--preset demo|paper`` sets defaults).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import datetime as dt
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

import atlib
from atlib import data as atdata
from atlib.attacks import pgd, predict_proba, robust_accuracy
from atlib.checkpoint import load_checkpoint, save_checkpoint, set_rng_states
from atlib.config import PRESETS, TrainConfig, learning_rate
from atlib.distributed import Distributed, init_distributed
from atlib.io import read_json, save_npy, write_json
from atlib.models import build_model
from atlib.records import RecordStore
from atlib.runs import CHECKPOINT, CONFIG, META, METRICS, PROGRESS, RECORDS, Run, load_run
from atlib.subsets import balanced_subset


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    return device


@dataclasses.dataclass
class _Data:
    train: atdata.ImageSet
    test: atdata.ImageSet
    test_index: np.ndarray  # rows of the full test set that ``test`` holds
    neg: atdata.ImageSet | None
    synthetic: atdata.ImageSet | None
    num_classes: int


def _load_data(config: TrainConfig) -> _Data:
    train = atdata.load_cifar(config.dataset, "train", root=config.data_root)
    test = atdata.load_cifar(config.dataset, "test", root=config.data_root)
    if config.train_subset is not None:
        train = _subset(train, balanced_subset(train.labels, config.train_subset))
    test_index = np.arange(len(test.labels))
    if config.test_subset is not None:
        test_index = balanced_subset(test.labels, config.test_subset)
        test = _subset(test, test_index)
    num_classes = atdata.NUM_CLASSES[config.dataset]
    neg = None
    if config.dataset == "cifar10":
        neg_path = config.neg_path
        if neg_path is None and config.data_root is not None and (Path(config.data_root) / "CIFAR10_neg.npz").exists():
            neg_path = str(Path(config.data_root) / "CIFAR10_neg.npz")  # beside the CIFAR data given explicitly
        try:
            neg = atdata.load_cifar10_neg(neg_path)
        except FileNotFoundError as err:
            if config.neg_path is not None:
                raise
            tqdm.write(f"[atlib] CIFAR-10-NEG not found, not recording it ({err})")
    synthetic = atdata.load_synthetic(config.synthetic, num_classes=num_classes) if config.uses_synthetic else None
    return _Data(train, test, test_index, neg, synthetic, num_classes)


def _subset(images: atdata.ImageSet, index: np.ndarray) -> atdata.ImageSet:
    return atdata.ImageSet(np.ascontiguousarray(images.images[index]), images.labels[index], images.classes)


def _record_batches(n_batches: int, per_epoch: int) -> list[int]:
    """Batch indices (within an epoch) after which a record point is taken, evenly spaced."""
    if per_epoch > n_batches:
        raise ValueError(f"record_per_epoch={per_epoch} exceeds the {n_batches} batches of an epoch")
    return [round((k + 1) * n_batches / per_epoch) - 1 for k in range(per_epoch)]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(atlib.__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _prepare_run_dir(config: TrainConfig, force: bool) -> Path:
    """Create or reuse the run folder; refuse a config that contradicts the stored one."""
    run_dir = Path(config.out_dir) / config.run_name
    if (run_dir / CONFIG).exists() and not force:
        conflicts = config.conflicts_with(read_json(run_dir / CONFIG))
        if conflicts:
            lines = "\n".join(f"  {k}: stored {old!r}, given {new!r}" for k, (old, new) in sorted(conflicts.items()))
            raise ValueError(
                f"{run_dir} holds a run with a different config:\n{lines}\n"
                "Use another --name/--out-dir, or --force to discard the stored run and start again."
            )
    if force and run_dir.exists():
        for item in (CHECKPOINT, METRICS, PROGRESS, META):
            (run_dir / item).unlink(missing_ok=True)
        shutil.rmtree(run_dir / RECORDS, ignore_errors=True)
    if force or not (run_dir / CONFIG).exists():
        write_json(run_dir / CONFIG, config.to_dict())
    return run_dir


class _Evaluator:
    """Test (and CIFAR-10-NEG) images resident on the device as uint8, evaluated in batches."""

    def __init__(self, sets: dict[str, atdata.ImageSet], device: torch.device, batch_size: int, autocast: bool) -> None:
        self.images = {k: torch.from_numpy(np.array(s.images)).to(device) for k, s in sets.items()}  # copy: may be a read-only memmap
        self.labels = {k: torch.from_numpy(np.asarray(s.labels)) for k, s in sets.items()}  # compared on the CPU
        self.device, self.batch_size = device, batch_size
        self.autocast_dtype = torch.bfloat16 if autocast else None

    def __call__(self, model: torch.nn.Module) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        probs, accs = {}, {}
        for name, images in self.images.items():
            p = predict_proba(model, images, batch_size=self.batch_size, device=self.device, autocast_dtype=self.autocast_dtype)
            accs[name] = float((p.argmax(1) == self.labels[name]).float().mean())
            probs[name] = p.to(torch.float16).cpu().numpy()
        return probs, accs


def train(config: TrainConfig, *, force: bool = False) -> Run:
    """Train (or resume, or return the stored result of) the run ``config`` describes.

    Under ``torchrun`` every rank calls this; rank 0 alone writes the run folder.
    """
    config.validate()
    device = resolve_device(config.device)
    ddp = init_distributed(device.type)
    if ddp.enabled and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
    run_dir = Path(config.out_dir) / config.run_name
    if ddp.is_main:
        _prepare_run_dir(config, force)
    ddp.barrier()
    if (run_dir / METRICS).exists():
        tqdm.write(f"[atlib] {run_dir} is complete; returning it as stored (use --force to retrain)")
        return load_run(run_dir)
    _Trainer(config, run_dir, device, ddp).fit()
    return load_run(run_dir)


class _Trainer:
    """State of one training session: data, model, optimizer, records and the position in training."""

    def __init__(self, config: TrainConfig, run_dir: Path, device: torch.device, ddp: Distributed) -> None:
        self.config, self.run_dir, self.device, self.ddp = config, run_dir, device, ddp
        cuda = device.type == "cuda"
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = cuda and not config.deterministic
        self.autocast = config.amp and cuda
        self.memory_format = torch.channels_last if (config.channels_last and cuda) else torch.contiguous_format

        self.data = _load_data(config)
        self.loader = atdata.DeviceLoader(
            self.data.train, config.batch_size, device, train=True, seed=config.seed,
            synthetic=self.data.synthetic, synthetic_fraction=config.synthetic_fraction,
        )
        self.record_after = _record_batches(len(self.loader), config.record_per_epoch)
        self.eval_sets = {"test": self.data.test} | ({"neg": self.data.neg} if self.data.neg is not None else {})
        self.evaluate = _Evaluator(self.eval_sets, device, config.eval_batch_size, self.autocast) if ddp.is_main else None

        torch.manual_seed(config.seed)
        self.model = build_model(config.model, self.data.num_classes, config.dataset).to(device, memory_format=self.memory_format)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.records = self._open_records() if ddp.is_main else None
        self.position = self._restore()
        compiled = torch.compile(self.model) if config.compile else self.model
        self.attack_model = compiled  # PGD runs on the local replica: no gradient all-reduce for input gradients
        self.step_model = DistributedDataParallel(compiled, device_ids=[device.index] if device.type == "cuda" else None) if ddp.enabled else compiled

    def _open_records(self) -> RecordStore:
        records_dir = self.run_dir / RECORDS
        if (records_dir / "index.json").exists():
            return RecordStore(records_dir)
        save_npy(records_dir / "test_index.npy", self.data.test_index)  # before the index that marks the store as created
        labels = {k: s.labels for k, s in self.eval_sets.items()}
        return RecordStore.create(records_dir, self.config.epochs * self.config.record_per_epoch, labels, self.data.num_classes)

    def _restore(self) -> dict[str, int]:
        """Load the last checkpoint (if any) and drop records newer than it."""
        position = {"epoch": 0, "batch": 0, "points": 0}
        if (self.run_dir / CHECKPOINT).exists():
            state = load_checkpoint(self.run_dir / CHECKPOINT, map_location=self.device)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            set_rng_states(state["rng"])
            position = dict(state["position"])
            if self.ddp.is_main:
                tqdm.write(f"[atlib] resuming {self.run_dir.name} at epoch {position['epoch']}, batch {position['batch']}")
        if self.ddp.enabled:  # decorrelate the ranks' PGD random starts
            torch.manual_seed(self.config.seed + 1_000_003 * self.ddp.rank + position["points"])
        if self.records is not None:
            self.records.truncate(position["points"])
        return position

    def fit(self) -> None:
        config, main = self.config, self.ddp.is_main
        meta = self._start_meta() if main else {}
        session_start = time.time()
        for epoch in range(self.position["epoch"], config.epochs):
            lr = learning_rate(config, epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            start_batch = self.position["batch"] if epoch == self.position["epoch"] else 0
            window = torch.zeros(3, device=self.device)  # loss sum, correct, count since the last record point
            epoch_start, epoch_images = time.time(), 0
            bar = tqdm(self.loader.epoch(epoch, start_batch), total=len(self.loader), initial=start_batch, leave=False,
                       desc=f"epoch {epoch + 1}/{config.epochs}", disable=not (config.progress and main), unit="batch")
            for b, batch in enumerate(bar, start=start_batch):
                window += self._step(self.ddp.shard(batch.x), self.ddp.shard(batch.y))
                epoch_images += len(batch.y)
                if b in self.record_after:
                    self._record(epoch, b, lr, self.ddp.sum(window).tolist(), bar)
                    window.zero_()
            seconds = time.time() - epoch_start
            if config.progress and main:
                p = self.records.points[-1]
                neg = f"  neg {p['neg_acc']:.3f}" if p.get("neg_acc") is not None else ""
                tqdm.write(
                    f"epoch {epoch + 1:>3}/{config.epochs}  loss {p['train_loss']:.4f}  train {p['train_acc']:.3f}  "
                    f"test {p['test_acc']:.3f}{neg}  lr {lr:.4g}  {seconds:.1f}s  {epoch_images / max(seconds, 1e-9):.0f} img/s"
                )
        if main:
            metrics = _final_metrics(config, self.model, self.data, self.records, self.device, self.autocast)
            meta.update(ended=dt.datetime.now().isoformat(timespec="seconds"),
                        wall_time_s=meta["wall_time_s"] + time.time() - session_start)
            write_json(self.run_dir / META, meta)
            write_json(self.run_dir / METRICS, metrics)  # written last: its presence marks the run complete
            (self.run_dir / PROGRESS).unlink(missing_ok=True)
        self.ddp.barrier()

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One SGD step (on PGD adversarial examples for AT); returns (loss sum, correct, count)."""
        config = self.config
        x = x.contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if config.method == "at":
                alpha = None if config.pgd_alpha_255 is None else config.pgd_alpha_255 / 255
                x = pgd(self.attack_model, x, y, config.epsilon, alpha=alpha, steps=config.pgd_steps,
                        random_start=True, bn_mode=config.attack_bn_mode)
            self.step_model.train()
            logits = self.step_model(x)
            loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum()
            return torch.stack([loss.detach() * len(y), correct.float(), torch.full((), float(len(y)), device=self.device)])

    def _record(self, epoch: int, b: int, lr: float, window: list[float], bar: Any) -> None:
        """Record every test (and NEG) example's probabilities, then checkpoint: rank 0 only."""
        if self.ddp.is_main:
            config = self.config
            loss_sum, correct, count = window
            probs, accs = self.evaluate(self.model)
            k = self.record_after.index(b)
            point = {
                "epoch": epoch + (k + 1) / config.record_per_epoch, "step": epoch * len(self.loader) + b + 1, "lr": lr,
                "train_loss": loss_sum / count, "train_acc": correct / count,
                "test_acc": accs["test"], "neg_acc": accs.get("neg"), "time": time.time(),
            }
            self.records.append(point, probs)
            last = b == len(self.loader) - 1
            position = {"epoch": epoch + 1 if last else epoch, "batch": 0 if last else b + 1,
                        "points": epoch * config.record_per_epoch + k + 1}
            save_checkpoint(self.run_dir / CHECKPOINT, model=self.model, optimizer=self.optimizer, position=position)
            write_json(self.run_dir / PROGRESS, {**position, "total_points": config.epochs * config.record_per_epoch,
                                                 "updated": time.time(), "test_acc": accs["test"]})
            bar.set_postfix(loss=f"{point['train_loss']:.3f}", test=f"{accs['test']:.3f}")
        self.ddp.barrier()

    def _start_meta(self) -> dict[str, Any]:
        meta = read_json(self.run_dir / META) if (self.run_dir / META).exists() else {}
        cuda = self.device.type == "cuda"
        meta.update(
            atlib_version=atlib.__version__, torch_version=torch.__version__, python=platform.python_version(),
            device=torch.cuda.get_device_name(self.device) if cuda else platform.processor() or "cpu",
            world_size=self.ddp.world_size, git_commit=_git_commit(),
            started=meta.get("started", dt.datetime.now().isoformat(timespec="seconds")),
            wall_time_s=meta.get("wall_time_s", 0.0), resumed=meta.get("resumed", -1) + 1,
        )
        write_json(self.run_dir / META, meta)
        return meta


def _final_metrics(config: TrainConfig, model: torch.nn.Module, data: _Data, records: RecordStore,
                   device: torch.device, autocast: bool) -> dict[str, Any]:
    """Clean, NEG and robust accuracy of the final model (and CIFAR-C when a root is given)."""
    last = records.points[-1]
    metrics: dict[str, Any] = {"clean_acc": last["test_acc"], "neg_acc": last.get("neg_acc"), "robust_acc": {}}
    n = min(config.robust_eval_n, len(data.test.labels))
    budgets = sorted(set(config.robust_eval_eps_255) | ({config.epsilon_255} if config.method == "at" else set()))
    if n > 0:
        metrics["robust_eval"] = {"n": n, "steps": config.robust_eval_steps, "attack": "PGD (L-inf, random start)"}
        for eps_255 in budgets:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                acc = robust_accuracy(model, data.test.images[:n], data.test.labels[:n], eps_255 / 255,
                                      steps=config.robust_eval_steps, batch_size=config.eval_batch_size, device=device)
            metrics["robust_acc"][f"{eps_255:g}"] = acc
    if config.cifar_c_root is not None:
        from atlib.evaluate import evaluate_corruptions

        metrics["cifar_c"] = evaluate_corruptions(model, config.dataset, root=config.cifar_c_root, device=device,
                                                  batch_size=config.eval_batch_size)
    return metrics


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """An option per TrainConfig field (``--epsilon-255``, ``--no-amp``, ...), plus --preset and --force."""
    parser = argparse.ArgumentParser(prog="python -m atlib.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset's defaults")
    parser.add_argument("--force", action="store_true", help="discard a stored run of the same name and retrain")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"(default {default})")
        elif isinstance(default, tuple):
            kind = int if f.name == "lr_milestones" else float
            parser.add_argument(flag, type=kind, nargs="+", default=None, help=f"(default {' '.join(map(str, default))})")
        else:
            kind = {int: int, float: float}.get(type(default), str)
            if f.name in ("train_subset", "test_subset", "pgd_alpha_255"):
                kind = int if "subset" in f.name else float
            parser.add_argument(flag, type=kind, default=None, help=f"(default {default})")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> tuple[TrainConfig, bool]:
    args = vars(build_parser().parse_args(argv))
    preset, force = args.pop("preset"), args.pop("force")
    values = dict(PRESETS[preset]) if preset else {}
    values.update({k: v for k, v in args.items() if v is not None})
    return TrainConfig(**values), force


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, force = config_from_args(argv)
        run = train(config, force=force)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(f"run: {run.path}")
        print(f"metrics: {json.dumps(run.metrics, indent=1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
