"""Models trained by other code, evaluated and recorded like atlib's runs; AutoAttack for stored runs.

- :func:`evaluate_checkpoint`: one checkpoint file's clean, PGD, AutoAttack, CIFAR-10-NEG and CIFAR-C
  results (``python -m atlib.evaluate --checkpoint PATH --arch resnet18 --no-normalize``);
- :func:`record_checkpoints`: a *series* of checkpoints of one training run (``epoch_*.pt``) becomes a
  recorded run with ``method="external"``: its test and NEG probabilities at each checkpoint are the
  record points, at the epochs the file names give, so every analysis and the explorer work on it;
- :func:`add_autoattack_metrics`: AutoAttack added to a finished run's final metrics.
"""

from __future__ import annotations

import glob
import platform
import re
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import atlib
from atlib import data as atdata
from atlib.config import TrainConfig
from atlib.datasets import dataset_info
from atlib.methods import EXTERNAL
from atlib.evaluate.accuracy import accuracy, check_finite_weights, predict_proba
from atlib.evaluate.autoattack import autoattack_evaluation
from atlib.evaluate.corruptions import evaluate_corruptions
from atlib.evaluate.robust import pgd_evaluation
from atlib.evaluate.trained import load_trained_model
from atlib.models import import_model_module, load_external
from atlib.progress import bar, line
from atlib.store.runs import Run, load_run
from atlib.store.writer import RunWriter
from atlib.subsets import balanced_subset

Normalization = tuple[Sequence[float], Sequence[float]] | None
_NUMBER = re.compile(r"\d+")


def load_test_set(dataset: str, data_root: str | None = None, test_subset: int | None = None) -> tuple[atdata.ImageSet, np.ndarray]:
    """The test set, or its class-balanced subset of ``test_subset`` images as training takes it, and
    its rows in the full test set."""
    test = atdata.load_dataset(dataset, "test", root=data_root)
    if test_subset is None:
        return test, np.arange(len(test.labels))
    index = balanced_subset(test.labels, test_subset)
    return atdata.ImageSet(np.ascontiguousarray(test.images[index]), test.labels[index], test.classes), index


def load_neg_set(dataset: str, data_root: str | None = None, neg_path: str | None = None) -> atdata.ImageSet | None:
    """The dataset's NEG set, found as training finds it (``neg_path``, else beside ``data_root``, else
    searched); None for a dataset without one (``atlib.datasets``), or when it is not found and no
    ``neg_path`` was given."""
    if not dataset_info(dataset).has_neg:
        return None
    try:
        return atdata.load_cifar10_neg(neg_path, root=data_root)
    except FileNotFoundError:
        if neg_path is not None:
            raise
        return None


def evaluate_model(
    model: torch.nn.Module,
    dataset: str,
    test: atdata.ImageSet,
    test_index: np.ndarray,
    neg: atdata.ImageSet | None,
    *,
    n: int = 1000,
    eps_255: Sequence[float] = (8.0,),
    pgd_steps: int = 20,
    autoattack: dict[str, Any] | None = None,
    cifar_c_root: str | Path | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Clean, NEG, PGD (and AutoAttack with ``autoattack``'s options, e.g. ``{"version": "standard"}``;
    and CIFAR-C under ``cifar_c_root``) results of ``model``, in the layout of a run's final metrics (``Run.metrics``).

    PGD and AutoAttack attack the same ``n`` class-balanced test rows; ``robust_eval`` and
    ``autoattack`` hold them as ``test_index`` (rows of the full test set).
    """
    metrics: dict[str, Any] = {
        "clean_acc": accuracy(model, test.images, test.labels, batch_size, device),
        "neg_acc": None if neg is None else accuracy(model, neg.images, neg.labels, batch_size, device),
        "robust_acc": {},
    }
    if n > 0:
        result = pgd_evaluation(model, test.images, test.labels, eps_255, n, steps=pgd_steps, batch_size=batch_size,
                                device=device, seed=seed)
        result.pop("per_image")
        result["test_index"] = test_index[result["rows"]].tolist()
        metrics["robust_acc"] = result.pop("robust_acc")
        metrics["robust_eval"] = result
        if autoattack is not None:
            aa = autoattack_evaluation(model, test.images, test.labels, eps_255, n, device=device, seed=seed,
                                       **{"batch_size": min(batch_size, 500), **autoattack})
            aa["test_index"] = test_index[aa["rows"]].tolist()
            metrics["autoattack"] = aa
    if cifar_c_root is not None:
        metrics["cifar_c"] = evaluate_corruptions(model, dataset, cifar_c_root, device, batch_size)
    return metrics


def evaluate_checkpoint(
    path: str | Path,
    arch: str,
    normalize: Normalization = None,
    dataset: str = "cifar10",
    *,
    data_root: str | None = None,
    test_subset: int | None = None,
    neg_path: str | None = None,
    device: torch.device | str = "cpu",
    **options: Any,
) -> dict[str, Any]:
    """Every result of one checkpoint file (see :func:`evaluate_model` for ``options``), with its source."""
    model = _load(path, arch, normalize, dataset_info(dataset).num_classes, device)
    (test, index), neg = load_test_set(dataset, data_root, test_subset), load_neg_set(dataset, data_root, neg_path)
    source = {"checkpoint": str(path), "arch": arch, "normalize": _normalization(normalize), "dataset": dataset}
    return {**source, **evaluate_model(model, dataset, test, index, neg, device=device, **options)}


def _load(path: str | Path, arch: str, normalize: Normalization, num_classes: int, device: torch.device | str) -> torch.nn.Module:
    """An external checkpoint's model on ``device``, refused if its weights are not finite."""
    model = load_external(path, arch, normalize, num_classes)
    check_finite_weights(model, path)
    return model.to(device)


def checkpoint_series(pattern: str) -> list[tuple[int, Path]]:
    """The files matching ``pattern``, as ``(epoch, path)`` ordered by the last number in each file name."""
    paths = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if not paths:
        raise FileNotFoundError(f"no checkpoint files match {pattern!r}")
    series: dict[int, Path] = {}
    for path in paths:
        numbers = _NUMBER.findall(path.stem)
        if not numbers:
            raise ValueError(f"{path.name} has no number in its name: each file of a series needs its epoch "
                             "in its name (e.g. epoch_12.pt); narrow the pattern to leave other files out")
        epoch = int(numbers[-1])
        if epoch in series:
            raise ValueError(f"{series[epoch].name} and {path.name} both give epoch {epoch}: narrow the pattern")
        series[epoch] = path
    return sorted(series.items())


def record_checkpoints(
    pattern: str,
    arch: str,
    normalize: Normalization = None,
    dataset: str = "cifar10",
    *,
    name: str | None = None,
    out_dir: str | Path = "outputs/runs",
    data_root: str | None = None,
    test_subset: int | None = None,
    neg_path: str | None = None,
    n: int = 1000,
    eps_255: Sequence[float] = (8.0,),
    pgd_steps: int = 20,
    autoattack: dict[str, Any] | None = None,
    cifar_c_root: str | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 1000,
    progress: bool = True,
    model_module: str | None = None,
) -> Run:
    """Record a series of checkpoints (``pattern``, e.g. ``'ckpts/epoch_*.pt'``) as a run in ``out_dir``.

    Each checkpoint becomes one record point (test and NEG probabilities, accuracies, its epoch from
    the file name), written exactly as training writes them; the last one is evaluated as training
    evaluates its final model (its final metrics) and saved as the run's checkpoint (weights only),
    so ``python -m atlib.evaluate RUN ...`` works on it too. A second call continues where the first
    stopped and returns a complete run as stored. ``model_module`` (registering ``arch``, see
    :func:`atlib.models.register_model`) is imported and recorded in the run's config.
    """
    import_model_module(model_module)
    series = checkpoint_series(pattern)
    config = TrainConfig(
        dataset=dataset, model=arch, method=EXTERNAL, source=EXTERNAL, epochs=max(1, series[-1][0]), record_per_epoch=1,
        test_subset=test_subset, robust_eval_eps_255=tuple(eps_255), robust_eval_n=n, robust_eval_steps=pgd_steps,
        eval_batch_size=batch_size, data_root=data_root, neg_path=neg_path, cifar_c_root=cifar_c_root,
        out_dir=str(out_dir), name=name or f"{dataset}_{arch}_external_{_slug(series[-1][1].parent.name)}",
        device=str(device), progress=progress, model_module=model_module,
    )
    source = {"pattern": pattern, "files": [p.name for _, p in series], "epochs": [e for e, _ in series],
              "arch": arch, "normalize": _normalization(normalize)}
    with RunWriter.open(config, source=source) as writer:
        if not writer.complete:
            _record(writer, config, series, source, normalize, autoattack)
    return load_run(writer.path)


def _record(writer: RunWriter, config: TrainConfig, series: list[tuple[int, Path]], source: dict[str, Any],
            normalize: Normalization, autoattack: dict[str, Any] | None) -> None:
    """Record the series (from where a previous call stopped), evaluate its last model, finish the run."""
    dataset, arch, device, batch_size = config.dataset, config.model, config.device, config.eval_batch_size
    num_classes = dataset_info(dataset).num_classes
    inputs = _inputs(config)
    fields = dict(atlib_version=atlib.__version__, torch_version=torch.__version__, python=platform.python_version(),
                  started=time.strftime("%Y-%m-%dT%H:%M:%S"), wall_time_s=0.0, source=source)
    stored = writer.meta
    writer.write_meta(inputs, **{k: v for k, v in fields.items() if k not in stored})
    (test, index), neg = (load_test_set(dataset, inputs["data_root"], config.test_subset),
                          load_neg_set(dataset, inputs["data_root"], inputs["neg_path"]))
    sets = {"test": test} | ({"neg": neg} if neg is not None else {})
    store = writer.records(len(series), {k: s.labels for k, s in sets.items()}, num_classes, {"test": index}, points=None)
    writer.cut_back(store, None)
    start = time.time()
    model = None
    for epoch, path in bar(series[store.count:], show=config.progress, desc=config.run_name, unit="checkpoint"):
        model = _load(path, arch, normalize, num_classes, device)
        probs, accs = {}, {}
        for split, images in sets.items():
            p = predict_proba(model, images.images, batch_size, device)
            accs[split] = float((p.argmax(1).numpy() == images.labels).mean())
            probs[split] = p.to(torch.float16).numpy()
        point = {"epoch": float(epoch), "step": None, "lr": None, "train_loss": None, "train_acc": None,
                 "test_acc": accs["test"], "neg_acc": accs.get("neg"), "time": time.time(), "checkpoint": path.name}
        store.append(point, probs)
        writer.log_point(point)
        neg_text = f"  neg {accs['neg']:.4f}" if "neg" in accs else ""
        line(f"checkpoint {store.count}/{len(series)} ({path.name}, epoch {epoch}): test {accs['test']:.4f}{neg_text}")
    if model is None:
        model = _load(series[-1][1], arch, normalize, num_classes, device)
    metrics = evaluate_model(model, dataset, test, index, neg, n=config.robust_eval_n, eps_255=config.robust_eval_eps_255,
                             pgd_steps=config.robust_eval_steps, autoattack=autoattack, cifar_c_root=config.cifar_c_root,
                             device=device, batch_size=batch_size)
    writer.save_weights(model.state_dict())
    writer.finish(metrics, ended=time.strftime("%Y-%m-%dT%H:%M:%S"),
                  wall_time_s=writer.meta.get("wall_time_s", 0.0) + time.time() - start)


def add_autoattack_metrics(run_path: str | Path, n: int | None = None, eps_255: Sequence[float] | None = None, *,
                           version: str = "standard", attacks: Sequence[str] | None = None,
                           device: torch.device | str = "cpu", batch_size: int = 500) -> dict[str, Any]:
    """Run AutoAttack on a finished run's final model and store it in its final metrics as ``autoattack``.

    By default it attacks the rows and budgets of the run's PGD evaluation (``n`` = ``robust_eval_n``),
    so ``robust_acc`` and ``autoattack.robust_acc`` compare image for image; a run without PGD results attacks
    the config's ``robust_eval_eps_255``. The test images are those the run was trained with (:attr:`Run.inputs`).
    Progress is kept in the run folder (:meth:`RunWriter.scratch`) until the result is stored, so an interrupted
    evaluation resumes.
    """
    run_path = Path(run_path)
    with RunWriter.reopen(run_path) as writer:
        run = load_run(run_path)
        config = run.config
        if eps_255 is None:
            measured = run.robust_acc
            eps_255 = sorted(map(float, measured)) if measured else list(config.robust_eval_eps_255)
        n = config.robust_eval_n if n is None else n
        if n < 1:
            raise ValueError(f"{run_path.name} made no PGD evaluation (robust_eval_n {config.robust_eval_n}): give n, "
                             "the number of test images AutoAttack attacks (e.g. --n 1000)")
        test, index = load_test_set(config.dataset, run.inputs["data_root"], config.test_subset)
        state_dir = writer.scratch()
        result = autoattack_evaluation(load_trained_model(run_path, device), test.images, test.labels, eps_255,
                                       n, version=version, attacks=attacks, batch_size=batch_size,
                                       device=device, seed=config.seed, state_dir=state_dir)
        result["test_index"] = index[result["rows"]].tolist()
        writer.update_metrics(autoattack=result)
        shutil.rmtree(state_dir, ignore_errors=True)
    return result


def _inputs(config: TrainConfig) -> dict[str, Any]:
    """The inputs a recording reads, resolved once and stored in its meta data as training stores them."""
    from atlib.data.extra import locate_cifar10_neg
    from atlib.data.load import locate_dataset

    _, root = locate_dataset(config.dataset, "test", root=config.data_root)
    neg = None
    if dataset_info(config.dataset).has_neg:
        try:
            neg = str(locate_cifar10_neg(config.neg_path, root=root))
        except FileNotFoundError:
            if config.neg_path is not None:
                raise
    return {"data_root": str(root), "neg_path": neg, "synthetic": None, "cifar_c_root": config.cifar_c_root}


def _normalization(normalize: Normalization) -> list[list[float]] | None:
    return None if normalize is None else [list(map(float, normalize[0])), list(map(float, normalize[1]))]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "checkpoints"
