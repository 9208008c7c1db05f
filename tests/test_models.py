"""Architectures: shapes, in-model normalization, known parameter counts, autocast/channels_last/compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atlib.datasets import DATASET_INFO
from atlib.models import MODEL_NAMES, build_model

# The training sets' per-channel statistics as published.
STANDARD_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

LIGHT_MODELS = ("resnet18", "preact_resnet18", "small_cnn")


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape(name: str) -> None:
    num_classes = 7
    model = build_model(name, num_classes).eval()
    with torch.no_grad():
        out = model(_images(2))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dataset", sorted(STANDARD_STATS))
def test_model_normalizes_its_input(dataset: str) -> None:
    mean, std = STANDARD_STATS[dataset]
    model = build_model("small_cnn", 10, dataset=dataset).eval()
    x = _images(4)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.net((x - m) / s))
        # The normalization really matters: feeding raw pixels to the inner net gives other logits.
        assert not torch.allclose(model(x), model.net(x))


def test_normalization_constants_are_the_standard_values() -> None:
    for name, (mean, std) in STANDARD_STATS.items():
        assert DATASET_INFO[name].mean == pytest.approx(mean, abs=1e-4)
        assert DATASET_INFO[name].std == pytest.approx(std, abs=1e-3)


def test_normalization_buffers_are_saved_not_trained() -> None:
    model = build_model("small_cnn", 10, dataset="cifar100")
    state = model.state_dict()
    assert torch.equal(state["normalize.mean"].flatten(), torch.tensor(DATASET_INFO["cifar100"].mean))
    assert not any(p is model.normalize.mean or p is model.normalize.std for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "count"),
    [("resnet18", 11_173_962), ("wrn28_10", 36_479_194)],  # kuangliu ResNet18; Zagoruyko & Komodakis WRN-28-10
)
def test_known_parameter_counts(name: str, count: int) -> None:
    assert sum(p.numel() for p in build_model(name, 10).parameters()) == count


def test_resnet18_has_cifar_stem_without_maxpool() -> None:
    net = build_model("resnet18", 10).net
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="resnet18, preact_resnet18, wrn28_10, small_cnn"):
        build_model("resnet50", 10)
    for bad in (1, 0, -3, 2.5):
        with pytest.raises(ValueError, match="num_classes"):
            build_model("small_cnn", bad)
    assert build_model("small_cnn", np.int64(3)).net.linear.out_features == 3  # numpy ints are fine
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        build_model("small_cnn", 10, dataset="imagenet")


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_channels_last_and_bf16_autocast(name: str) -> None:
    model = build_model(name, 10).eval()
    x = _images(2, seed=1)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out_cl = model_cl(x.contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out_bf16 = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out_cl, ref, rtol=1e-4, atol=1e-4)
    assert out_bf16.dtype == torch.bfloat16
    # bf16 keeps ~3 significant digits; the logits must still agree to that order.
    torch.testing.assert_close(out_bf16.float(), ref, rtol=0.1, atol=0.1 * ref.abs().max().item())


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_traceable_by_torch_compile_without_graph_breaks(name: str) -> None:
    model = build_model(name, 10)
    x = _images(2, seed=2)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    compiled(x).sum().backward()  # training mode, with autograd, traced as one graph
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
