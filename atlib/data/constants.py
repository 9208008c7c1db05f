"""Named constants for the datasets atlib reads: names, class lists, CIFAR-C corruptions.

Kept free of I/O so that analysis code can import them without touching files or torch.
"""

from __future__ import annotations

DATASETS: tuple[str, ...] = ("cifar10", "cifar100")
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100}

# Official class orders (batches.meta ``label_names`` and meta ``fine_label_names``). Both are
# alphabetical, so an ImageFolder whose class folders are sorted gets the official label indices.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "cifar10": (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ),
    "cifar100": (
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


def check_dataset(name: str) -> str:
    """Return ``name`` if it is a known dataset, else raise a ValueError listing the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return name
