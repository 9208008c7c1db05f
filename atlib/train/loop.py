"""The training loop itself: one session of a run, from its checkpoint (or the start) to its end,
recording and checkpointing at every record point. See :mod:`atlib.train` for the entry point."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

import atlib
from atlib import data as atdata
from atlib import progress
from atlib.errors import AtlibError
from atlib.train.awp import AWP
from atlib.store.checkpoint import DYNAMICS_STATE, Position, load_run_state, set_rng_states
from atlib.config import TrainConfig, learning_rate, read_as_before, READ_AS_BEFORE, switch_on
from atlib.methods import method as method_table
from atlib.train.distributed import Distributed, with_sync_batchnorm
from atlib.dynamics.recorder import PresentationRecorder
from atlib.train.ema import WARMUP_SHARE, ema_model
from atlib.evaluate.accuracy import predict_proba
from atlib.train.final import final_metrics
from atlib.train.inputs import load_run_data, take_rows
from atlib.store.io import RunFolderError
from atlib.train.tensorboard import Curves
from atlib.train.losses import MethodLoss
from atlib.models import build_model
from atlib.store.records import RecordStore
from atlib.store.writer import RunWriter
from atlib.subsets import balanced_subset

PROBE_DEFAULT_MAX = 5000


class TrainingDiverged(AtlibError):
    """The training loss became NaN or infinite: nothing of that record point was stored."""



class Evaluator:
    """The recorded sets (test, CIFAR-10-NEG, the training probe) resident on the device as uint8,
    evaluated in batches in fp32 (recorded probabilities must not carry bf16 jitter: see TrainConfig.precision)."""

    def __init__(self, sets: dict[str, atdata.ImageSet], device: torch.device, batch_size: int) -> None:
        self.images = {k: torch.from_numpy(np.array(s.images)).to(device) for k, s in sets.items()}  # copy: may be a read-only memmap
        self.labels = {k: torch.from_numpy(np.asarray(s.labels)) for k, s in sets.items()}  # compared on the CPU
        self.device, self.batch_size = device, batch_size

    def __call__(self, model: torch.nn.Module, sets: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Probabilities (float16, on the host) and accuracy of ``model`` on each set (``sets``: some of them)."""
        probs, accs = {}, {}
        for name, images in self.images.items():
            if sets is not None and name not in sets:
                continue
            p = predict_proba(model, images, batch_size=self.batch_size, device=self.device)
            accs[name] = float((p.argmax(1) == self.labels[name]).float().mean())
            probs[name] = p.to(torch.float16).cpu().numpy()
        return probs, accs


class Trainer:
    """State of one training session: data, model, optimizer, records and the position in training. ``writer``
    (the main rank's; None on the others) writes the run folder ``run_dir``."""

    def __init__(self, config: TrainConfig, run_dir: Path, device: torch.device, ddp: Distributed,
                 writer: RunWriter | None, plan: Mapping[str, Any] | None = None) -> None:
        self.config, self.run_dir, self.device, self.ddp, self.writer = config, run_dir, device, ddp, writer
        self.plan = plan  # a sweep's promise to this run (grid, seeds), for its meta data
        self.state = load_run_state(run_dir)  # every rank resumes from it
        if writer is not None and self.state is not None:
            writer.check_checkpoint(self.state, synthetic=config.uses_synthetic)
        self.position = Position(**self.state["position"]) if self.state is not None else Position()
        cuda = device.type == "cuda"
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = cuda and not config.deterministic
        self.autocast = switch_on(config.amp, device.type)
        self.memory_format = torch.channels_last if switch_on(config.channels_last, device.type) else torch.contiguous_format

        self.data = load_run_data(config)
        self.loader = atdata.DeviceLoader(
            self.data.train, config.batch_size, device, train=True, seed=config.seed,
            synthetic=self.data.synthetic, synthetic_fraction=config.synthetic_fraction,
        )
        if self.loader.synthetic_placement and ddp.is_main:
            progress.line(f"[atlib] synthetic data: {self.loader.synthetic_placement}")
        self.record_after = _record_batches(len(self.loader), config.record_per_epoch)
        self.probe_index = _probe_rows(self.data.train.labels, config.train_probe_size)
        self.eval_sets = {"test": self.data.test} | ({"neg": self.data.neg} if self.data.neg is not None else {})
        if len(self.probe_index):
            self.eval_sets["probe"] = take_rows(self.data.train, self.probe_index)
        self.records = self._open_records() if writer is not None else None
        if self.records is not None:  # a stored run keeps the sets it started with (runs from before the probe have none)
            self.eval_sets = {k: v for k, v in self.eval_sets.items() if k in self.records.sets}
        self.evaluate = Evaluator(self.eval_sets, device, config.eval_batch_size) if ddp.is_main else None

        torch.manual_seed(config.seed)
        model = build_model(config.model, self.data.num_classes, config.dataset)
        self.sync_bn = config.sync_bn and ddp.enabled
        if self.sync_bn:
            model = with_sync_batchnorm(model)
        self.model = model.to(device, memory_format=self.memory_format)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.loss, self.awp, self.ema = method_parts(config, self.model, len(self.loader))
        self.recorder = self._open_dynamics()
        if writer is not None:  # every check passed: drop what lies past the checkpoint
            writer.cut_back(self.records, self.position.points, self.recorder.store if self.recorder else None,
                            self.position.epoch, self._synthetic_per_epoch())
        # --tensorboard: the curves, reopened after the record points the records keep once cut back to the checkpoint's
        # (opened before the cut, a point written just before a kill would be shown twice)
        self.curves = Curves(writer.tensorboard_dir, self.records.points) if config.tensorboard and writer else None
        self.position = self._restore()
        compiled = torch.compile(self.model) if config.compile else self.model
        self.attack_model = compiled  # PGD runs on the local replica: no gradient all-reduce for input gradients
        self.step_model = DistributedDataParallel(compiled, device_ids=[device.index] if device.type == "cuda" else None) if ddp.enabled else compiled

    def _open_records(self) -> RecordStore:
        """The records, new or checked against the checkpoint (a point past it is dropped)."""
        rows = {"test": self.data.test_index}
        if len(self.probe_index):  # the probe's rows of the run's training set, and its rows of the full one
            rows |= {"probe": self.probe_index, "train": self.data.train_index}
        sets = list(self.eval_sets) + ([f"{k}_ema" for k in self.eval_sets] if self.config.ema_decay is not None else [])
        labels = {k: self.eval_sets[k.removesuffix("_ema")].labels for k in sets}
        return self.writer.records(self.config.epochs * self.config.record_per_epoch, labels, self.data.num_classes,
                                   rows, self.position.points)

    def _open_dynamics(self) -> PresentationRecorder | None:
        """The per-example training statistics (rank 0 of a single-process run; a run stored before they
        existed goes on without them)."""
        config = self.config
        if not config.record_train or self.writer is None:
            return None
        if self.ddp.enabled:
            progress.line("[atlib] record_train: per-example training statistics are not recorded under DDP")
            return None
        create = dict(epochs=config.epochs, train_index=self.data.train_index, labels=self.data.train.labels,
                      clean=config.record_train_clean, synthetic_capacity=config.epochs * self._synthetic_per_epoch(),
                      meta={"input": "clean" if config.method == "nt" else "adversarial", "method": config.method,
                            "precision": config.precision(self.device.type)["training"]})
        store = self.writer.dynamics(self.position.epoch, self._synthetic_per_epoch(),
                                     self.state is not None and DYNAMICS_STATE in self.state, create)
        if store is None:
            return None
        return PresentationRecorder(store, len(self.data.train.labels), self._synthetic_per_epoch(), self.device)

    def _synthetic_per_epoch(self) -> int:
        return len(self.loader) * self.loader.synthetic_per_batch

    def _restore(self) -> Position:
        """Load the last checkpoint (if any; records and dynamics were already cut back to it)."""
        position, state = self.position, self.state
        if state is not None:
            # On the CPU: RNG states must stay CPU byte tensors (torch.set_rng_state and
            # torch.cuda.set_rng_state_all take no others); load_state_dict moves model and optimizer
            # state to the parameters' device.
            try:
                self.model.load_state_dict(state["model"])
                self.optimizer.load_state_dict(state["optimizer"])
                if self.ema is not None:
                    self.ema.load_state_dict(state["ema"])
                if self.recorder is not None and DYNAMICS_STATE in state:
                    self.recorder.load_state_dict(state[DYNAMICS_STATE])
                set_rng_states(state["rng"])
            except (RuntimeError, KeyError, ValueError, TypeError) as e:
                raise RunFolderError(f"damaged: {self.run_dir} checkpoint does not fit this run "
                                     f"({type(e).__name__}: {str(e)[:200]}); use --force to start again (or restore it)") from e
            if self.ddp.is_main:
                progress.line(f"[atlib] resuming {self.run_dir.name} at epoch {position.epoch}, batch {position.batch}")
        if self.ddp.enabled:  # decorrelate the ranks' PGD random starts
            torch.manual_seed(self.config.seed + 1_000_003 * self.ddp.rank + position.points)
        self.state = None  # not needed any more: free its memory
        return position

    def fit(self) -> None:
        """Train from ``self.position`` to the last epoch, recording and checkpointing at every record point."""
        config, main = self.config, self.ddp.is_main
        meta = self._start_meta() if main else {}
        session_start, first_epoch = time.time(), self.position.epoch
        for epoch in range(self.position.epoch, config.epochs):
            lr = self._set_learning_rate(epoch)
            start_batch = self.position.batch if epoch == self.position.epoch else 0
            window = torch.zeros(3, device=self.device)  # loss sum, correct, count since the last record point
            epoch_start, epoch_images = time.time(), 0
            bar = progress.bar(self.loader.epoch(epoch, start_batch), show=config.progress and main, total=len(self.loader),
                               initial=start_batch, leave=False, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch")
            for b, batch in enumerate(bar, start=start_batch):
                window += self._step(batch, epoch, epoch * len(self.loader) + b + 1)
                epoch_images += len(batch.y)
                if b in self.record_after:
                    points = epoch * config.record_per_epoch + self.record_after.index(b) + 1
                    self.position = Position.after_point(epoch, b, len(self.loader), points)
                    totals = self.ddp.sum(window).tolist()  # one host sync per record point, on every rank
                    _check_finite_loss(totals, points, epoch, self.run_dir)
                    if self.recorder is not None and b == len(self.loader) - 1:
                        self.recorder.flush(epoch)  # before the checkpoint that moves to the next epoch
                    if main:
                        point = self._record_point(epoch, b, lr, totals)
                        self._checkpoint(point["test_acc"])
                        bar.set_postfix(loss=f"{point['train_loss']:.3f}", test=f"{point['test_acc']:.3f}")
                    self.ddp.barrier()
                    window.zero_()
            if main:
                seconds = time.time() - epoch_start
                left = (config.epochs - epoch - 1) * (time.time() - session_start) / (epoch + 1 - first_epoch)
                progress.line(epoch_line(self.records.points[-1], epoch, config.epochs, lr, epoch_images / max(seconds, 1e-9), left))
        if main:
            last = self.records.points[-1]
            metrics = final_metrics(config, self.model, self.data, last["test_acc"], last.get("neg_acc"), self.device)
            if self.ema is not None:
                metrics["ema"] = final_metrics(config, self.ema.module, self.data, last["test_acc_ema"],
                                                last.get("neg_acc_ema"), self.device)
            self.writer.finish(metrics, ended=dt.datetime.now().isoformat(timespec="seconds"),
                               wall_time_s=meta["wall_time_s"] + time.time() - session_start)
            if self.curves is not None:
                self.curves.close()
        self.ddp.barrier()

    def _set_learning_rate(self, epoch: int) -> float:
        lr = learning_rate(self.config, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _step(self, batch: atdata.Batch, epoch: int, step: int) -> torch.Tensor:
        """One SGD step on the method's loss (AWP-perturbed weights when on; the EMA updated after it, the
        per-example statistics recorded from its forward); returns (loss sum, correct, count) on the
        device: nothing is read back to the host."""
        x, y = self.ddp.shard(batch.x), self.ddp.shard(batch.y)
        x = x.contiguous(memory_format=self.memory_format)
        with self._autocast():
            x_train = self.loss.attack(self.attack_model, x, y)  # x itself for NT; no [0, 1] check (a host sync)
        self.step_model.train()
        with self._awp(epoch, x, x_train, y):
            with self._autocast():
                out = self.loss.objective(self.step_model, x, x_train, y)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        if self.recorder is not None:
            self.recorder.observe(out.logits, y, batch.index, batch.num_original, step,
                                  clean_logits=self._clean_logits(x) if self.recorder.store.clean else None)
        with torch.no_grad():
            correct = (out.logits.argmax(1) == y).sum()
            return torch.stack([out.loss.detach() * len(y), correct.float(), torch.full((), float(len(y)), device=self.device)])

    @torch.no_grad()
    def _clean_logits(self, x: torch.Tensor) -> torch.Tensor:
        """An eval-mode forward of the clean batch at the training precision (``record_train_clean``)."""
        self.model.eval()
        try:
            with self._autocast():
                return self.attack_model(x)
        finally:
            self.model.train()

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _awp(self, epoch: int, x: torch.Tensor, x_train: torch.Tensor, y: torch.Tensor) -> contextlib.AbstractContextManager:
        """AWP's perturbed weights for the training forward and step (restored after it), when on."""
        if self.awp is None:
            return contextlib.nullcontext()

        def loss_of(proxy: torch.nn.Module) -> torch.Tensor:
            with self._autocast():
                return self.loss.objective(proxy, x, x_train, y, proxy=True).loss

        return self.awp.perturbed(epoch, loss_of)

    def _record_point(self, epoch: int, b: int, lr: float, window: list[float]) -> dict[str, Any]:
        """Every test (and NEG) example's probabilities at this point, appended to the records (rank 0)."""
        loss_sum, correct, count = window
        probs, accs = self.evaluate(self.model)
        point = {
            "epoch": epoch + (self.record_after.index(b) + 1) / self.config.record_per_epoch,
            "step": epoch * len(self.loader) + b + 1, "lr": lr, "train_loss": loss_sum / count, "train_acc": correct / count,
            "test_acc": accs["test"], "neg_acc": accs.get("neg"), "time": time.time(),
        }
        if self.ema is not None:  # the EMA model's records beside the raw model's: splits test_ema, neg_ema
            ema_probs, ema_accs = self.evaluate(self.ema.module)
            probs |= {f"{k}_ema": v for k, v in ema_probs.items()}
            point |= {"test_acc_ema": ema_accs["test"], "neg_acc_ema": ema_accs.get("neg")}
        self.records.append(point, probs)
        self.writer.log_point(point)
        if self.curves is not None:
            self.curves.add(point)
        return point

    def _checkpoint(self, test_acc: float) -> None:
        """Save the state at ``self.position``, and the progress file the sweep status reads (rank 0)."""
        extra = {"ema": self.ema.state_dict()} if self.ema is not None else {}
        if self.recorder is not None:
            extra[DYNAMICS_STATE] = self.recorder.state_dict()
        self.writer.save_checkpoint(model=self.model, optimizer=self.optimizer, position=self.position, extra=extra,
                                    progress={**dataclasses.asdict(self.position), "test_acc": test_acc,
                                              "total_points": self.config.epochs * self.config.record_per_epoch})

    def _start_meta(self) -> dict[str, Any]:
        meta = self.writer.meta
        cuda = self.device.type == "cuda"
        return self.writer.write_meta(
            self.data.inputs, plan=self.plan, atlib_version=atlib.__version__, torch_version=torch.__version__, python=platform.python_version(),
            device=torch.cuda.get_device_name(self.device) if cuda else platform.processor() or "cpu",
            world_size=self.ddp.world_size, git_commit=_git_commit(), precision=self.config.precision(self.device.type),
            memory_format="channels_last" if self.memory_format == torch.channels_last else "contiguous",
            compile=self.config.compile, sync_batchnorm=self.sync_bn,
            started=meta.get("started", dt.datetime.now().isoformat(timespec="seconds")),
            wall_time_s=meta.get("wall_time_s", 0.0), resumed=meta.get("resumed", -1) + 1,
            **self._read_as_before(),
        )

    def _read_as_before(self) -> dict[str, Any]:
        """A run stored before some options existed keeps the behaviour it was trained with (said in its meta data)."""
        before = {k: v for k, v in read_as_before(self.writer.stored_config).items()
                  if k in READ_AS_BEFORE and k not in self.config.inert_fields()}
        if not before:
            return {}
        progress.line(f"[atlib] {self.run_dir.name} was stored before these options existed and keeps its behaviour: "
                   + ", ".join(f"{k} {v}" for k, v in before.items()))
        return {"read_as_before": {"fields": before, "note": "stored before these options existed: the run keeps "
                                   "the behaviour it was trained with, not today's defaults (docs/methods.md)"}}


def method_parts(config: TrainConfig, model: torch.nn.Module,
                 steps_per_epoch: int) -> tuple[MethodLoss, AWP | None, AveragedModel | None]:
    """The run's loss, AWP and EMA of ``model``, as ``config`` sets them (the parity tests build them here too)."""
    alpha = None if config.pgd_alpha_255 is None else config.pgd_alpha_255 / 255
    beta = next((getattr(config, name) for name, _ in method_table(config.method).defaults), None)
    awp = config.awp_gamma is not None
    loss = MethodLoss(config.method, eps=config.epsilon, steps=config.pgd_steps, alpha=alpha, beta=beta,
                      bn_mode=config.attack_bn_mode, reference_step=config.reference_step, awp=awp)
    # Without reference_step, AWP numbers epochs from 0 for every method (atlib's earlier rule).
    perturbation = AWP(model, config.method, config.awp_gamma, config.awp_warmup,
                       first_epoch=None if config.reference_step else 0) if awp else None
    warmup = WARMUP_SHARE * config.epochs * steps_per_epoch if config.ema_warmup else None
    ema = ema_model(model, config.ema_decay, warmup) if config.ema_decay is not None else None
    return loss, perturbation, ema


def _record_batches(n_batches: int, per_epoch: int) -> list[int]:
    """Batch indices (within an epoch) after which a record point is taken, evenly spaced."""
    if per_epoch > n_batches:
        raise ValueError(f"record_per_epoch={per_epoch} exceeds the {n_batches} batches of an epoch")
    return [round((k + 1) * n_batches / per_epoch) - 1 for k in range(per_epoch)]


def _probe_rows(labels: np.ndarray, size: int | None) -> np.ndarray:
    """The training probe: ``size`` class-balanced rows of the run's training set (None: min(5000, N/2))."""
    n = len(labels)
    size = min(PROBE_DEFAULT_MAX, n // 2) if size is None else size
    if size > n:
        raise ValueError(f"train_probe_size={size} exceeds the {n} training examples of this run; use at most {n} (0: no probe)")
    return balanced_subset(labels, size) if size else np.zeros(0, dtype=np.int64)


def epoch_line(point: dict[str, Any], epoch: int, epochs: int, lr: float, images_per_s: float, seconds_left: float) -> str:
    """The line printed after every epoch (its last record point): what a Slurm log shows of a run."""
    neg = f"  neg {point['neg_acc']:.3f}" if point.get("neg_acc") is not None else ""
    return (f"epoch {epoch + 1:>3}/{epochs}  lr {lr:.4g}  loss {point['train_loss']:.4f}  train {point['train_acc']:.3f}  "
            f"test {point['test_acc']:.3f}{neg}  {images_per_s:.0f} img/s  ETA {progress.duration(seconds_left)}")


def _check_finite_loss(totals: list[float], points: int, epoch: int, run_dir: Path) -> None:
    """Stop at the first record point whose mean training loss is NaN or infinite, before it is recorded or
    checkpointed, so the run keeps its last good checkpoint. (Checked here, where the loss is read anyway,
    not at every step, which would add a host sync to every step.)"""
    loss = totals[0] / totals[2]
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"{run_dir}: the training loss is {loss} at record point {points} (epoch {epoch + 1}); training stopped "
            f"before recording it, and the run keeps its last checkpoint (record point {points - 1}). Train it again "
            "with a lower --lr (with --force, or another --name), or check the inputs")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(atlib.__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
