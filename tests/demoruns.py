"""Fake runs laid out where ``make demo`` writes them (``outputs/demo/runs`` under a repository-like root), with
the demo's eight settings and seeds, its plan in ``meta.json``, CIFAR-C, robust accuracy, NEG records,
training dynamics and a training probe, over a tiny CIFAR-10 ImageFolder. Built from :mod:`fakeruns` in about
a second: the chart-spec test and the browser test read them as the demo's notebooks would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from atlib.config import TrainConfig
from atlib.datasets import CIFAR_C_CORRUPTIONS, DATASET_INFO
from atlib.store.writer import RunWriter
from fakeruns import make_dynamics, make_run, random_probs

PER_CLASS = {"train": 8, "test": 4}  # tiny ImageFolder splits
RECORD_POINTS, EPOCHS = 8, 4
# (method, ε, synthetic, seeds): the demo grid (atlib.demo PLANS["demo"]); the stand-in runs have one seed
DEMO_SETTINGS = (("nt", 0.0, False, (0, 1, 2)), ("at", 2.0, False, (0, 1, 2)), ("at", 8.0, False, (0, 1, 2)),
                 ("nt", 0.0, True, (0,)), ("at", 8.0, True, (0,)))
DEMO_RUNS = "outputs/demo/runs"


def write_tiny_cifar(root: Path) -> dict[str, np.ndarray]:
    """A CIFAR-10 ImageFolder (class c has a bright column at 3c) and a NEG file; returns each split's labels."""
    rng = np.random.default_rng(0)
    labels = {}
    for split, per_class in PER_CLASS.items():
        for c, name in enumerate(DATASET_INFO["cifar10"].classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = rng.integers(0, 120, size=(32, 32, 3), dtype=np.uint8)
                img[:, 3 * c: 3 * c + 3, :] = 255
                Image.fromarray(img).save(folder / f"{i:04d}.png")
        labels[split] = np.repeat(np.arange(10), per_class)
    np.savez(root / "CIFAR10_neg.npz", data=rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(20) % 10)
    return labels


def cifar_c_metrics(accuracy: float) -> dict:
    pooled = {c: accuracy - 0.01 * k for k, c in enumerate(CIFAR_C_CORRUPTIONS)}
    return {"source": {"kind": "generated", "root": "data/CIFAR-10-C"}, "accuracy": {c: [a] * 5 for c, a in pooled.items()},
            "pooled": pooled, "seed_paper_mean": float(np.mean(list(pooled.values()))),
            "robustbench_mean": float(np.mean(list(pooled.values())[:15])), "missing": []}


def make_demo_runs(root: Path) -> Path:
    """The demo's runs under ``root/outputs/demo/runs`` (data under ``root/data``); returns the runs folder."""
    data = root / "data"
    labels = write_tiny_cifar(data)
    runs = root / DEMO_RUNS
    rng = np.random.default_rng(1)
    probe = np.arange(0, len(labels["train"]), 4)
    neg_labels = np.arange(20) % 10
    for k, (method, eps, synthetic, seeds) in enumerate(DEMO_SETTINGS):
        for seed in seeds:
            config = TrainConfig(model="small_cnn", method=method, epsilon_255=eps or 8, seed=seed, epochs=EPOCHS,
                                 record_per_epoch=RECORD_POINTS // EPOCHS, train_subset=80, data_root=str(data),
                                 neg_path=str(data / "CIFAR10_neg.npz"),
                                 synthetic=str(root / "outputs/demo/standin.npz") if synthetic else None,
                                 synthetic_tag="standin")
            acc = 0.45 + 0.03 * k + 0.01 * seed
            metrics = {"clean_acc": acc, "neg_acc": acc - 0.2, "robust_acc": {"8": 0.05 + 0.04 * k + 0.02 * seed},
                       "cifar_c": cifar_c_metrics(acc - 0.1 + 0.02 * seed)}
            run_dir = make_run(runs, config, random_probs(rng, RECORD_POINTS, len(labels["test"]), 10, sharpen=0.4),
                               labels["test"], random_probs(rng, RECORD_POINTS, 20, 10), neg_labels, metrics=metrics,
                               probe_probs=random_probs(rng, RECORD_POINTS, len(probe), 10, sharpen=0.4),
                               probe_labels=labels["train"][probe], probe_index=probe,
                               train_index=np.arange(len(labels["train"])))
            with RunWriter.reopen(run_dir) as writer:
                writer.write_meta(plan={"grid": "demo", "seeds": list(seeds)})
            correct = (rng.random((EPOCHS, len(labels["train"]))) < 0.4 + 0.1 * np.arange(EPOCHS)[:, None]).astype(float)
            p_true = 0.1 + 0.8 * rng.random(correct.shape)
            clean = {"correct": correct, "p_true": p_true, "margin": 2 * p_true - 1, "loss": 1 - p_true} \
                if method == "at" and not synthetic else None
            draws = {"step": np.arange(30), "index": rng.integers(0, 12, 30), "label": np.zeros(30, dtype=int),
                     "loss": rng.random(30), "margin": rng.normal(size=30), "correct": rng.integers(0, 2, 30)} if synthetic else None
            make_dynamics(run_dir, labels["train"], correct, p_true=p_true, clean=clean, synthetic=draws)
    return runs
