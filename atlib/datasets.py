"""The dataset table: every per-dataset fact atlib uses, in one place (like RobustBench's dataset enum).

Torch-free and free of I/O, so configuration, analysis and charts read it without loading data. Adding a
dataset is one :class:`DatasetInfo` entry here and, for a new on-disk format, one reader module in
``atlib.data`` (see docs/data.md, "Adding a dataset").
"""

from __future__ import annotations

from dataclasses import dataclass

Stats = tuple[float, float, float]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: what it is, how it is normalised, how it is read and what comes with it."""

    name: str  # the key of DATASET_INFO and TrainConfig.dataset
    title: str  # as charts and reports print it
    classes: tuple[str, ...]  # label k is classes[k]
    image_size: int  # square RGB images of image_size x image_size pixels
    mean: Stats  # per-channel normalisation inside the model, in [0, 1] pixel units
    std: Stats
    reader: str  # the atlib.data module that finds, reads and downloads it (see atlib.data.load.Reader)
    train_size: int  # rows of the standard training split
    test_size: int  # rows of the standard test split
    source: str  # where to get it, for messages that name it missing
    neg_file: str | None = None  # the NEG file (Kaplun et al. 2022) looked for beside the data; None: none exists
    corrupted: str | None = None  # folder of its corrupted version (Hendrycks & Dietterich 2019); None: none exists
    corrupted_url: str | None = None  # where that corrupted version is released

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """HWC shape of one image as atlib holds it (uint8 RGB)."""
        return (self.image_size, self.image_size, 3)

    @property
    def normalization(self) -> tuple[Stats, Stats]:
        """(mean, std), as ``atlib.models.Normalize`` takes them."""
        return (self.mean, self.std)

    @property
    def has_neg(self) -> bool:
        return self.neg_file is not None

    @property
    def has_corrupted(self) -> bool:
        return self.corrupted is not None


# Official class orders (batches.meta ``label_names`` and meta ``fine_label_names``). Both are
# alphabetical, so an ImageFolder whose class folders are sorted gets the official label indices.
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

_CIFAR_SOURCE = ("{title} (Krizhevsky 2009): torchvision downloads it at the first run when online; offline, put the "
                 "official python release (https://www.cs.toronto.edu/~kriz/cifar.html) in a data folder")

DATASET_INFO: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10", _CIFAR10_CLASSES, 32,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),  # of the training set
        reader="atlib.data.cifar", train_size=50_000, test_size=10_000,
        source=_CIFAR_SOURCE.format(title="CIFAR-10"),
        neg_file="CIFAR10_neg.npz", corrupted="CIFAR-10-C", corrupted_url="https://zenodo.org/records/2535967",
    ),
    "cifar100": DatasetInfo(
        "cifar100", "CIFAR-100", _CIFAR100_CLASSES, 32,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),  # of the training set
        reader="atlib.data.cifar", train_size=50_000, test_size=10_000,
        source=_CIFAR_SOURCE.format(title="CIFAR-100"),
        corrupted="CIFAR-100-C", corrupted_url="https://zenodo.org/records/3555552",
    ),
    "svhn": DatasetInfo(
        "svhn", "SVHN", tuple(str(d) for d in range(10)), 32,  # label k is digit k (the files store 0 as 10)
        # as Rice et al. 2020 normalise it (train_svhn.py, github.com/locuslab/robust_overfitting)
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
        reader="atlib.data.svhn", train_size=73_257, test_size=26_032,  # the standard split, without "extra"
        source="SVHN (Netzer et al. 2011): torchvision downloads train_32x32.mat and test_32x32.mat at the first run "
               "when online; offline, put them (http://ufldl.stanford.edu/housenumbers/) in a data folder",
    ),
}

# The 19 released CIFAR-10-C / CIFAR-100-C files, in the order of Hendrycks & Dietterich's tables.
CIFAR_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
# The 15 "common" corruptions that benchmark averages use; the last four are the extra ones.
CIFAR_C_COMMON: tuple[str, ...] = CIFAR_C_CORRUPTIONS[:15]
CIFAR_C_SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def dataset_info(name: str) -> DatasetInfo:
    """The table's entry for ``name``, or a ValueError listing the known datasets."""
    try:
        return DATASET_INFO[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_INFO)}") from None


def title(name: str) -> str:
    """The printed name of ``name`` (the name itself for a dataset the table does not know)."""
    info = DATASET_INFO.get(name)
    return info.title if info is not None else name
