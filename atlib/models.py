"""Architectures for CIFAR-sized inputs, each taking images in [0, 1] and normalizing inside.

Normalizing inside the model (a buffer-holding first layer) keeps everything else in pixel
space: attacks, epsilons (8/255) and augmentations never need to know a dataset's mean/std.
All models are plain feed-forward graphs (no data-dependent Python control flow), so they
work with ``channels_last``, ``torch.autocast`` and ``torch.compile``.
"""

from __future__ import annotations

import functools
import importlib
import numbers
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atlib.config import MODEL_NAMES
from atlib.datasets import dataset_info



class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with mean/std as buffers so they follow ``.to(device)``
    and are saved in checkpoints (a checkpoint then records which normalization it was trained with)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Normalized(nn.Module):
    """A network preceded by its input normalization: ``net(normalize(x))``."""

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Conv2d | None:
    """1x1 shortcut convolution, needed only when the block changes shape."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Post-activation residual block (He et al. 2015): conv-BN-ReLU-conv-BN, add, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        proj = _projection(c_in, c_out, stride)
        self.shortcut = nn.Identity() if proj is None else nn.Sequential(proj, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016 "identity mappings"; also the WideResNet block):
    BN-ReLU-conv-BN-ReLU-[dropout]-conv, added to the identity or to a 1x1 projection of the
    pre-activated input when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv3x3(c_out, c_out)
        self.shortcut = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + skip


def _stages(
    block: Callable[[int, int, int], nn.Module],
    c_in: int,
    widths: Sequence[int],
    depths: Sequence[int],
    strides: Sequence[int],
) -> nn.Sequential:
    """Stack residual stages; only the first block of a stage strides or changes width."""
    layers: list[nn.Module] = []
    for width, depth, stride in zip(widths, depths, strides):
        for i in range(depth):
            layers.append(block(c_in, width, stride if i == 0 else 1))
            c_in = width
    return nn.Sequential(*layers)


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stride-1 stem, no max-pool, BasicBlock [2, 2, 2, 2], widths 64..512."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.depths = (2, 2, 2, 2)  # blocks per stage: how external checkpoints' layer<s>.<b> keys map to layers.<k>
        self.layers = _stages(BasicBlock, 64, (64, 128, 256, 512), self.depths, (1, 2, 2, 2))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class PreActNet(nn.Module):
    """Pre-activation residual network: 3x3 stem, PreActBlock stages, final BN-ReLU, pool, linear.

    Covers PreAct ResNet-18 and WideResNet-28-10 / 34-10, which differ only in widths and depths.
    """

    def __init__(
        self,
        num_classes: int,
        stem: int,
        widths: Sequence[int],
        depths: Sequence[int],
        strides: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, stem)
        self.depths = tuple(depths)  # blocks per stage (see ResNet18.depths)
        self.layers = _stages(functools.partial(PreActBlock, dropout=dropout), stem, widths, depths, strides)
        self.bn = nn.BatchNorm2d(widths[-1])
        self.linear = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.layers(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU-maxpool blocks (32, 64, 128 channels), then a linear layer.

    Sized for CPU demos and tests: seconds per epoch on a few thousand images, yet it learns
    CIFAR well above chance within an epoch.
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += [_conv3x3(c_in, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "resnet18": ResNet18,
    "preact_resnet18": lambda k: PreActNet(k, 64, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2)),
    "wrn28_10": lambda k: PreActNet(k, 16, (160, 320, 640), (4, 4, 4), (1, 2, 2)),
    # WRN-34-10, the model of the TRADES, MART and AWP papers: 5 blocks per stage ((34 - 4) / 6).
    "wrn34_10": lambda k: PreActNet(k, 16, (160, 320, 640), (5, 5, 5), (1, 2, 2)),
    "small_cnn": SmallCNN,
}


def register_model(name: str, builder: Callable[[int], nn.Module]) -> None:
    """Make ``name`` a model atlib trains, records and evaluates: ``builder(num_classes)`` returns the bare
    network, taking [0, 1]-range images normalised by the dataset's statistics (atlib adds that layer) of shape
    (B, 3, 32, 32) and returning (B, num_classes) logits.

    Register in a module of your own and name it with ``model_module`` (``--model-module mylab.models``): atlib
    imports it before it builds the model, and records it in the run's stored config, so a resume, a sweep worker
    or a Slurm job imports it too. Example, a torchvision ResNet-18 for 32x32 inputs::

        # mylab/models.py
        import torchvision
        from torch import nn
        from atlib.models import register_model

        def resnet18_tv(num_classes: int) -> nn.Module:
            net = torchvision.models.resnet18(num_classes=num_classes)
            net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # 32x32 inputs: no 7x7 stride-2 stem
            net.maxpool = nn.Identity()
            return net

        register_model("resnet18_tv", resnet18_tv)

    A built-in name cannot be replaced; registering the same builder again (a module imported twice) is allowed.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"a model name is letters, digits, '_', '.' or '-' (it becomes part of run names), got {name!r}")
    if not callable(builder):
        raise ValueError(f"builder must be callable as builder(num_classes) -> nn.Module, got {builder!r}")
    if name in MODEL_NAMES or (name in _BUILDERS and _BUILDERS[name] is not builder):
        raise ValueError(f"model {name!r} is already registered{' (built in)' if name in MODEL_NAMES else ''}: "
                         "choose another name")
    _BUILDERS[name] = builder


def import_model_module(module: str | None) -> None:
    """Import ``module`` (a config's ``model_module``), whose import registers models with :func:`register_model`."""
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"model_module {module!r} cannot be imported ({err}): make it importable (install it, or add "
                         "its folder to PYTHONPATH) where the run trains or is evaluated") from err


def model_names() -> tuple[str, ...]:
    """The built-in models, then those registered so far."""
    return (*MODEL_NAMES, *(name for name in _BUILDERS if name not in MODEL_NAMES))


def build_model(name: str, num_classes: int, dataset: str = "cifar10") -> nn.Module:
    """Build ``name`` for ``num_classes`` classes, normalizing [0, 1] inputs with ``dataset``'s statistics
    (``atlib.datasets``).

    The result is a :class:`Normalized` module: ``model.net`` is the bare network.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(model_names())}, or register it with "
                         "atlib.models.register_model in a module named by model_module (--model-module)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    mean, std = dataset_info(dataset).normalization
    return Normalized(Normalize(mean, std), _BUILDERS[name](int(num_classes)))


# ----------------------------------------------------------------------------- checkpoints trained elsewhere

EXTERNAL_ARCHS = ("resnet18", "preact_resnet18", "wrn28_10", "wrn34_10")
STATE_DICT_KEYS = ("state_dict", "model", "net")  # where training scripts commonly store the weights
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # left by DataParallel/DistributedDataParallel and torch.compile
_STAGE_KEY = re.compile(r"^(?:layer(\d+)\.(\d+)|block(\d+)\.layer\.(\d+))\.(.+)$")
_LAYOUTS = (
    "atlib's own (normalize./net.), the kuangliu-style ResNet-18 (conv1, bn1, layer1-4, linear; also MART's), "
    "PreAct ResNet-18 (conv1, layer1-4, bn, linear; robust_overfitting, AWP) and WideResNet "
    "(conv1, block1-3.layer, bn1, fc; TRADES, MART, AWP), each with or without module. prefixes"
)


def load_external(
    path: str | Path,
    arch: str,
    normalize: tuple[Sequence[float], Sequence[float]] | None = None,
    num_classes: int = 10,
) -> Normalized:
    """A model trained by other code, from a plain ``state_dict`` file, in eval mode on the CPU.

    ``arch`` is one of :data:`EXTERNAL_ARCHS` (atlib's own checkpoints of any architecture load too).
    ``normalize`` is the ``(mean, std)`` the checkpoint's network expects its input normalised with,
    or None for networks that take [0, 1] pixels directly (TRADES, MART and AWP models do); the
    returned model takes [0, 1] pixels either way, like every atlib model. The file is read with
    ``weights_only=True``; the weights may be the whole file or stored under ``state_dict``, ``model``
    or ``net``. Key layouts of the public CIFAR robust-training code are translated to atlib's (see
    :data:`_LAYOUTS`); keys that still do not fit are named in the error.
    """
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(EXTERNAL_ARCHS)}, or a name "
                         "registered with atlib.models.register_model")
    mean, std = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) if normalize is None else normalize
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"normalize must be (mean, std) with 3 values each and std > 0, got {normalize!r}")
    model = Normalized(Normalize(mean, std), build_model(arch, num_classes).net)
    state = _read_state_dict(Path(path))
    _load_net(model, _atlib_layout(state, model, Path(path)), Path(path), arch, num_classes)
    return model.eval()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} cannot be read with weights_only=True: it stores Python objects besides tensors "
            f"({str(err).splitlines()[-1].strip()[:200]}). If you trust it, re-save its weights alone: "
            "torch.save(torch.load(PATH, weights_only=False)['state_dict'], NEW_PATH)"
        ) from None
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if _is_state_dict(obj.get(key)):
                return obj[key]
    found = f"a mapping with keys {sorted(map(str, obj))[:12]}" if isinstance(obj, Mapping) else type(obj).__name__
    raise ValueError(f"{path} holds no state_dict: expected a mapping of names to tensors, alone or under "
                     f"{', '.join(repr(k) for k in STATE_DICT_KEYS)}; found {found}")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip_wrappers(key: str) -> str:
    while key.startswith(_WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def _atlib_layout(state: Mapping[str, torch.Tensor], model: Normalized, path: Path) -> dict[str, tuple[str, torch.Tensor]]:
    """``{atlib net key: (checkpoint key, tensor)}``; checks a stored normalization against the requested one."""
    stripped = {_strip_wrappers(k): (k, v) for k, v in state.items()}
    if any(k.startswith(("net.", "normalize.")) for k in stripped):  # atlib's own layout
        for name in ("mean", "std"):
            stored = stripped.pop(f"normalize.{name}", (None, None))[1]
            wanted = getattr(model.normalize, name)
            if stored is not None and not torch.allclose(stored.float().flatten(), wanted.flatten(), atol=1e-6):
                raise ValueError(
                    f"{path} was trained with input normalization {name}={stored.flatten().tolist()}, "
                    f"not {wanted.flatten().tolist()}: pass that normalization (or None where it is 0 and 1)"
                )
        return {(k[4:] if k.startswith("net.") else k): kv for k, kv in stripped.items()}
    out = {}
    for key, kv in stripped.items():
        if key.startswith("sub_block1."):  # TRADES's WRN defines a copy of block1 that its forward never uses
            continue
        out[_translate(key, model.net)] = kv
    return out


def _translate(key: str, net: nn.Module) -> str:
    """One external key in atlib's layout: ``layer<s>.<b>.`` / ``block<s>.layer.<b>.`` -> ``layers.<k>.``."""
    preact = isinstance(net, PreActNet)
    match = _STAGE_KEY.match(key)
    if match is None:
        if key.startswith("fc."):
            return "linear." + key[3:]
        if preact and key.startswith("bn1."):  # WRN's final BN; ResNet-18's bn1 is its stem BN and stays
            return "bn." + key[4:]
        return key
    depths = getattr(net, "depths", ())
    stage, block, rest = int(match[1] or match[3]), int(match[2] or match[4]), match[5]
    if not 1 <= stage <= len(depths) or block >= depths[stage - 1]:
        return key  # a block this architecture does not have: reported as unexpected
    if rest.startswith("convShortcut."):
        rest = "shortcut." + rest[len("convShortcut."):]
    if preact and rest.startswith("shortcut.0."):  # a Sequential(conv) shortcut; atlib's PreActBlock holds the conv
        rest = "shortcut." + rest[len("shortcut.0."):]
    return f"layers.{sum(depths[:stage - 1]) + block}.{rest}"


def _load_net(model: Normalized, state: Mapping[str, tuple[str, torch.Tensor]], path: Path, arch: str,
              num_classes: int) -> None:
    expected = model.net.state_dict()
    # BN's num_batches_tracked is absent from checkpoints older than PyTorch 0.4.1 and unused in eval mode.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [f"{orig} (as {k})" if orig != k else orig for k, (orig, _) in state.items() if k not in expected]
    shapes = [f"{orig}{f' (as {k})' if orig != k else ''}: {tuple(v.shape)} in the file, {tuple(expected[k].shape)} in {arch}"
              for k, (orig, v) in state.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing key(s): {_few(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected key(s): {_few(unexpected)}" if unexpected else "",
                 f"{len(shapes)} shape mismatch(es): {_few(shapes)}" if shapes else ""]
        raise ValueError(
            f"{path} does not fit {arch} with num_classes={num_classes}: " + "; ".join(p for p in parts if p)
            + f". Check the architecture and num_classes; accepted key layouts: {_LAYOUTS}."
        )
    model.net.load_state_dict({**expected, **{k: v for k, (_, v) in state.items()}})


def _few(items: Sequence[str], limit: int = 8) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
