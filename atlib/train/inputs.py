"""What a training run reads, resolved once when it starts and recorded in its meta data.

``atlib.data`` holds the one search rule; this module applies it to a config, records the result
(paths and the synthesized set's content hash), and loads the arrays the loop trains and records on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from atlib import data as atdata
from atlib.config import TrainConfig
from atlib.datasets import dataset_info
from atlib.subsets import balanced_subset


@dataclasses.dataclass
class RunData:
    """Everything a run reads, loaded: arrays for training and recording, and where they came from."""

    train: atdata.ImageSet
    test: atdata.ImageSet
    train_index: np.ndarray  # rows of the full training set that ``train`` holds
    test_index: np.ndarray  # rows of the full test set that ``test`` holds
    neg: atdata.ImageSet | None
    synthetic: atdata.ImageSet | None
    num_classes: int
    inputs: dict[str, Any]  # every input resolved once, as recorded in the run's meta data (see resolve_inputs)


def resolve_inputs(config: TrainConfig) -> dict[str, Any]:
    """Every input of a run, found once with ``atlib.data``'s search rule and recorded in its meta data:
    the dataset's root (``data_root``), its NEG file where the dataset has one (looked for beside the data;
    None when absent and not asked for), the synthetic file with its content hash (its identity when the
    file moves), the CIFAR-C folder (``cifar_c_root="auto"``: found with the search rule). Relative synthetic
    and CIFAR-C paths are also looked for under the data folders, so one ``$ATLIB_DATA`` serves every input.
    Analysis and the explorer read these (``Run.inputs``), never the environment of the process they run in."""
    from atlib.data.extra import locate_cifar10_neg, resolve_cifar_c
    from atlib.data.load import locate_dataset
    from atlib.data.npzmap import content_hash
    from atlib.data.sources import WHERE_TO_GET, find_path

    info = dataset_info(config.dataset)
    _, data_root = locate_dataset(config.dataset, "train", root=config.data_root)
    inputs: dict[str, Any] = {"data_root": str(data_root), "neg_path": None, "synthetic": None, "cifar_c_root": None}
    if info.has_neg:
        try:
            inputs["neg_path"] = str(locate_cifar10_neg(config.neg_path, root=data_root))
        except FileNotFoundError as err:
            if config.neg_path is not None:
                raise
            tqdm.write(f"[atlib] {info.title}-NEG not found, not recording it ({err})")
    elif config.neg_path is not None:
        raise ValueError(f"neg_path is set, but {info.title} has no NEG set (atlib.datasets); remove neg_path")
    if config.uses_synthetic:
        path = find_path(config.synthetic)
        if path is None or not path.is_file():
            raise FileNotFoundError(f"synthetic data file {config.synthetic} not found, as given or under a data folder "
                                    f"(TrainConfig.synthetic); {WHERE_TO_GET['synthetic'].format(dataset=config.dataset, where=config.synthetic)}")
        inputs["synthetic"] = {"path": str(path), "sha256": content_hash(path)}
    if config.cifar_c_root is not None:
        inputs["cifar_c_root"] = str(resolve_cifar_c(config.dataset, config.cifar_c_root))
    return inputs


def load_run_data(config: TrainConfig) -> RunData:
    """The run's inputs (:func:`resolve_inputs`) loaded as uint8 arrays, with the subsets the config asks for."""
    inputs = resolve_inputs(config)
    info = dataset_info(config.dataset)
    train = atdata.load_dataset(config.dataset, "train", root=inputs["data_root"])
    test = atdata.load_dataset(config.dataset, "test", root=inputs["data_root"])
    train_index = np.arange(len(train.labels))
    if config.train_subset is not None:
        train_index = balanced_subset(train.labels, config.train_subset)
        train = take_rows(train, train_index)
    test_index = np.arange(len(test.labels))
    if config.test_subset is not None:
        test_index = balanced_subset(test.labels, config.test_subset)
        test = take_rows(test, test_index)
    neg = atdata.load_cifar10_neg(inputs["neg_path"]) if inputs["neg_path"] else None
    synthetic = (atdata.load_synthetic(inputs["synthetic"]["path"], info.num_classes, info.image_size)
                 if inputs["synthetic"] else None)
    return RunData(train, test, train_index, test_index, neg, synthetic, info.num_classes, inputs)


def take_rows(images: atdata.ImageSet, index: np.ndarray) -> atdata.ImageSet:
    """The rows ``index`` of an image set, as a new in-memory set."""
    return atdata.ImageSet(np.ascontiguousarray(images.images[index]), images.labels[index], images.classes)
