"""GPU acceptance check and benchmark: atlib's real training step on real CIFAR-10, in one command.

On one H100/H200 it finishes in about 5 minutes and needs only torch, torchvision, numpy and atlib. It
1. times the training loop's own step (``atlib.train``: device-resident uint8 data, on-device
   augmentation, bf16 autocast, channels_last) for NT and PGD-10 AT at 8/255, eager and compiled;
2. times recording the test and CIFAR-10-NEG probabilities (fp32) and gives its share of an AT epoch
   at 4 record points per epoch;
3. times a plain eager fp32 PGD-AT loop in the style of Rice et al.'s ``train_cifar.py`` (a DataLoader
   with per-sample transforms, the attack's full backward), same model and batch, for the speed-up;
4. reports the largest difference between the recorded fp32 probabilities and a bf16 forward;
5. runs K = 1, 2, 4 AT processes sharing the GPU and reports their total images/s;
6. kills a training run with SIGKILL in the middle of an epoch, resumes it, and checks that it completes.
Everything goes to one JSON file (default ``outputs/benchmarks/gpu_check.json``) and a printed table
with each target and the gap to it.

    python benchmarks/gpu_check.py --data DIR        # DIR holds CIFAR-10 (e.g. cifar10-jpeg.tar.xz)
    python benchmarks/gpu_check.py --device cpu --model small_cnn --steps 2 --train-size 160 --no-compile  # CPU-sized
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atlib.store.io import write_json
from atlib.models import build_model
from atlib.store.records import RecordStore
from atlib.config import resolve_device
from atlib.train import Trainer
from training_timing import make_trainer, sync, time_recording, time_steps

TARGETS = {"at_img_s": 12_000, "nt_img_s": 40_000, "record_pct_of_at_epoch": 3.0, "speedup_vs_reference": 3.0}
PAPER_TRAIN_SIZE, RECORDS_PER_EPOCH = 50_000, 4
REPO = Path(__file__).resolve().parents[1]


def bf16_record_difference(trainer: Trainer) -> float:
    """Largest |p_fp32 - p_bf16| over the recorded test probabilities: what fp32 recording avoids."""
    probs, _ = trainer.evaluate(trainer.model)
    images = trainer.evaluate.images["test"]
    model = trainer.model.eval()
    out = []
    with torch.no_grad(), torch.autocast(trainer.device.type, dtype=torch.bfloat16):
        for start in range(0, len(images), 1000):
            x = images[start : start + 1000].permute(0, 3, 1, 2).float().div(255)
            out.append(model(x.contiguous(memory_format=trainer.memory_format)).float().softmax(-1))
    bf16 = torch.cat(out).cpu().numpy()
    return float(np.abs(bf16 - probs["test"].astype(np.float32)).max())


class _PerSampleCifar(torch.utils.data.Dataset):
    """Per-sample crop and flip in Python, as torchvision's transforms do in Rice et al.'s loader."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = F.pad(torch.from_numpy(np.array(self.images[i])).permute(2, 0, 1), (4, 4, 4, 4))
        top, left = np.random.randint(0, 9, size=2)
        img = img[:, top : top + 32, left : left + 32]
        if np.random.rand() < 0.5:
            img = img.flip(2)
        return img.float().div(255), int(self.labels[i])


def reference_at_img_s(trainer: Trainer, steps: int, warmup: int, workers: int) -> float:
    """A plain eager fp32 PGD-10 AT loop in the style of Rice et al.'s train_cifar.py: host data loader,
    delta updated through ``loss.backward()`` (weight gradients included), fp32, NCHW."""
    device, data = trainer.device, trainer.data.train
    model = build_model(trainer.config.model, trainer.data.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(_PerSampleCifar(data.images, data.labels), batch_size=trainer.config.batch_size,
                                         shuffle=True, num_workers=workers, pin_memory=device.type == "cuda", drop_last=True)
    eps, alpha = 8 / 255, 2 / 255
    images, start, it = 0, 0.0, 0
    while it < warmup + steps:
        for x, y in loader:
            if it == warmup:
                sync(device)
                start, images = time.perf_counter(), 0
            if it == warmup + steps:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            delta = torch.zeros_like(x).uniform_(-eps, eps)
            delta = (torch.clamp(x + delta, 0, 1) - x).requires_grad_(True)
            for _ in range(10):
                loss = F.cross_entropy(model(x + delta), y)
                loss.backward()
                d = torch.clamp(delta + alpha * delta.grad.sign(), -eps, eps)
                delta.data = torch.clamp(x + d, 0, 1) - x
                delta.grad.zero_()
            loss = F.cross_entropy(model(x + delta.detach()), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(y)
            it += 1
    sync(device)
    return images / (time.perf_counter() - start)


def shared_device_img_s(args: argparse.Namespace, k: int) -> float:
    """Total AT images/s of ``k`` processes training at once on the one device (--worker mode below)."""
    cmd = [sys.executable, __file__, "--worker", *_forwarded(args)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(k)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return float(sum(r["img_s"] for r in results))


def _forwarded(args: argparse.Namespace) -> list[str]:
    out = ["--device", args.device, "--model", args.model, "--batch-size", str(args.batch_size), "--steps", str(args.steps),
           "--train-size", str(args.train_size), "--test-size", str(args.test_size), "--warmup", str(args.warmup)]
    return out + (["--data", args.data] if args.data else []) + ([] if args.bf16 else ["--fp32"])


def kill_and_resume(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """Train a short AT run, SIGKILL it after its first record point (mid-epoch), resume it to the end."""
    cmd = [sys.executable, "-m", "atlib.train", "--model", args.model, "--method", "at", "--epsilon-255", "8",
           "--epochs", "2", "--lr-milestones", "1", "--batch-size", str(args.batch_size), "--record-per-epoch", "2",
           "--train-subset", str(args.train_size), "--test-subset", str(args.test_size), "--robust-eval-n", "100",
           "--device", args.device, "--amp", "on" if args.bf16 else "off", "--out-dir", str(out_dir), "--no-progress"]
    cmd += ["--data-root", args.data] if args.data else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    index = out_dir / f"cifar10_{args.model}_at8_s0" / "records" / "index.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if index.exists() and json.loads(index.read_text())["count"] >= 1:
            break
        time.sleep(0.01)
    killed_at = RecordStore(index.parent).count if index.exists() else 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    meta_path = index.parents[1] / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    complete = resumed.returncode == 0 and (index.parents[1] / "metrics.json").exists()
    return {"ok": bool(complete and meta.get("resumed") == 1 and 1 <= killed_at < 4 and RecordStore(index.parent).count == 4),
            "killed_after_points": killed_at, "resumed": meta.get("resumed"), "returncode": resumed.returncode,
            "stderr_tail": resumed.stderr[-1500:] if resumed.returncode else ""}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", default=None, help="CIFAR-10 root (folder with the archive or a layout); default $ATLIB_DATA, ./data")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per measurement (AT: a fifth, at least 2)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=PAPER_TRAIN_SIZE)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--share", type=int, nargs="*", default=[1, 2, 4], help="processes sharing the device (K)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile variants")
    parser.add_argument("--fp32", dest="bf16", action="store_false", help="train without bf16 autocast/channels_last")
    parser.add_argument("--out", default="outputs/benchmarks/gpu_check.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    at_steps = max(args.steps // 5, 2)
    with tempfile.TemporaryDirectory(prefix="atlib-gpu-check-") as tmp:
        if args.worker:  # one of K processes sharing the device
            print(json.dumps(time_steps(make_trainer(args, Path(tmp), "at", False), at_steps, args.warmup)))
            return 0
        device = resolve_device(args.device)
        results: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                                   "torch": torch.__version__, "model": args.model, "batch_size": args.batch_size,
                                   "precision": "bf16 autocast + channels_last" if args.bf16 else "fp32", "targets": TARGETS}
        start = time.time()
        for compile in (False, True) if args.compile else (False,):
            variant = "compiled" if compile else "eager"
            for method in ("nt", "at"):
                trainer = make_trainer(args, Path(tmp) / variant, method, compile)
                timing = time_steps(trainer, args.steps if method == "nt" else at_steps, args.warmup)
                results[f"{method}_img_s_{variant}"], results[f"{method}_warmup_s_{variant}"] = timing["img_s"], timing["warmup_s"]
                print(f"{method.upper()} {variant}: {timing['img_s']:.0f} img/s (warm-up {timing['warmup_s']:.1f} s)", flush=True)
        best = "compiled" if args.compile and results["at_img_s_compiled"] > results["at_img_s_eager"] else "eager"
        results["best_variant"] = best
        results["nt_img_s"], results["at_img_s"] = results[f"nt_img_s_{best}"], results[f"at_img_s_{best}"]
        per_set = time_recording(trainer)
        results["record_s_per_set"] = per_set
        results["record_s"] = per_set["test"] + per_set.get("neg", 0.0)  # the target's sets; the probe is reported apart
        results["record_sets"] = sorted(s for s in per_set if s in ("test", "neg"))
        at_epoch_s = PAPER_TRAIN_SIZE / results["at_img_s"]
        results["record_pct_of_at_epoch"] = 100 * RECORDS_PER_EPOCH * results["record_s"] / at_epoch_s
        if "probe" in per_set:
            results["probe_record_pct_of_at_epoch"] = 100 * RECORDS_PER_EPOCH * per_set["probe"] / at_epoch_s
        results["bf16_vs_fp32_record_max_abs_diff"] = bf16_record_difference(trainer)
        del trainer
        reference = make_trainer(args, Path(tmp) / "reference", "at", False)
        results["reference_at_img_s"] = reference_at_img_s(reference, at_steps, 2, workers=min(8, os.cpu_count() or 1))
        results["speedup_vs_reference"] = results["at_img_s"] / results["reference_at_img_s"]
        del reference
        results["shared_device_at_img_s"] = {str(k): shared_device_img_s(args, k) for k in args.share}
        results["kill_resume"] = kill_and_resume(args, Path(tmp) / "kill")
        results["wall_s"] = time.time() - start
    write_json(Path(args.out), results)
    print(format_table(results))
    print(f"wrote {args.out}")
    return 0 if results["kill_resume"]["ok"] else 1


def format_table(results: dict[str, Any]) -> str:
    rows = [("AT img/s (PGD-10)", results["at_img_s"], TARGETS["at_img_s"], ">="),
            ("NT img/s", results["nt_img_s"], TARGETS["nt_img_s"], ">="),
            (f"recording % of an AT epoch ({RECORDS_PER_EPOCH}/epoch)", results["record_pct_of_at_epoch"], TARGETS["record_pct_of_at_epoch"], "<="),
            ("speed-up vs eager fp32 reference", results["speedup_vs_reference"], TARGETS["speedup_vs_reference"], ">=")]
    lines = [f"{results['device']}  {results['model']}  batch {results['batch_size']}  {results['precision']}  "
             f"best variant: {results['best_variant']}", f"{'measure':<44}{'value':>12}{'target':>10}  met"]
    for name, value, target, sense in rows:
        met = value >= target if sense == ">=" else value <= target
        lines.append(f"{name:<44}{value:>12.2f}{target:>10}  {'yes' if met else 'NO'}")
    lines.append(f"reference loop AT img/s: {results['reference_at_img_s']:.0f}; record point {results['record_s']:.3f} s "
                 f"({', '.join(results['record_sets'])}); bf16-vs-fp32 record max |dp| {results['bf16_vs_fp32_record_max_abs_diff']:.4f}")
    if "probe_record_pct_of_at_epoch" in results:
        lines.append(f"training probe ({results['record_s_per_set']['probe']:.3f} s a point): "
                     f"{results['probe_record_pct_of_at_epoch']:.2f}% of an AT epoch, beside the target's sets")
    lines.append("AT img/s with K runs sharing the device: " + ", ".join(f"K={k}: {v:.0f}" for k, v in results["shared_device_at_img_s"].items()))
    kr = results["kill_resume"]
    lines.append(f"SIGKILL mid-epoch + resume: {'ok' if kr['ok'] else 'FAILED'} (killed after {kr['killed_after_points']} point(s))"
                 + (f"\n{kr['stderr_tail']}" if kr["stderr_tail"] else ""))
    lines.append(f"wall time {results['wall_s']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
