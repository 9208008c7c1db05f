"""PGD/FGSM against independent references, model-state hygiene, and the accuracy helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atlib.attacks import check_epsilon, default_alpha, fgsm, pgd
from atlib.evaluate.accuracy import accuracy, predict_proba, robust_accuracy
from atlib.models import build_model

EPS = 8 / 255


def _batch(n: int = 8, seed: int = 0, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    x[0, 0, :4] = 0.0  # pixels on the box faces, where the [0, 1] projection binds
    x[0, 1, :4] = 1.0
    return x, torch.randint(0, classes, (n,), generator=g)


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", 10)


@pytest.fixture(scope="module")
def fitted() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN fitted to one batch for a few steps, so the clean loss is low and the attack has work to do."""
    model = _small_cnn()
    x, y = _batch(16, seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(15):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model.eval(), x, y


def test_pgd_stays_in_eps_ball_and_pixel_box() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    x_adv = pgd(model, x, y, EPS, steps=5)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > 0.9 * EPS  # it actually moved to the boundary somewhere


def test_pgd_raises_the_loss_more_than_random_noise(fitted) -> None:
    model, x, y = fitted
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y, reduction="none")
        noise = torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(1))) * EPS
        noisy = F.cross_entropy(model((x + noise).clamp(0, 1)), y, reduction="none")
        attacked = F.cross_entropy(model(pgd(model, x, y, EPS, steps=5)), y, reduction="none")
    assert (attacked > clean).all()
    assert (attacked > noisy).all()
    assert attacked.mean() - clean.mean() > 3 * (noisy.mean() - clean.mean())


def _reference_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int):
    """Madry et al. PGD without random start, written out step by step (mean loss, explicit projection)."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)  # mean: same sign as atlib's sum (batch of 8 = power of 2)
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * g.sign()
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)  # eps-ball
        x_adv = x_adv.clamp(0.0, 1.0)  # pixel box
    return x_adv.detach()


def test_pgd_without_random_start_is_deterministic_and_matches_reference() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    x_before = x.clone()
    a = pgd(model, x, y, EPS, steps=4, random_start=False)
    b = pgd(model, x, y, EPS, steps=4, random_start=False)
    assert torch.equal(a, b)
    assert torch.equal(x, x_before) and not x.requires_grad  # the input is never written to
    assert torch.equal(a, _reference_pgd(model, x, y, EPS, default_alpha(EPS, 4), 4))
    alpha = 1 / 255
    assert torch.equal(
        pgd(model, x, y, EPS, alpha=alpha, steps=3, random_start=False), _reference_pgd(model, x, y, EPS, alpha, 3)
    )


def test_random_start_uses_the_global_rng() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    torch.manual_seed(123)
    a = pgd(model, x, y, EPS, steps=1)
    torch.manual_seed(123)
    b = pgd(model, x, y, EPS, steps=1)
    c = pgd(model, x, y, EPS, steps=1)  # the global RNG has moved on
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, pgd(model, x, y, EPS, steps=1, random_start=False))


def test_pgd_leaves_no_grad_and_restores_model_state() -> None:
    model = _small_cnn().train()
    model.net.features[1].eval()  # a frozen BN inside a training model: a mixed state to restore
    model.net.features[0].weight.requires_grad_(False)  # a frozen conv
    modes = {name: m.training for name, m in model.named_modules()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    x, y = _batch()
    for bn_mode in ("eval", "train"):
        pgd(model, x, y, EPS, steps=2, bn_mode=bn_mode)
        assert all(p.grad is None for p in model.parameters())
        assert {name: m.training for name, m in model.named_modules()} == modes
        assert {name: p.requires_grad for name, p in model.named_parameters()} == flags


def test_pgd_restores_model_state_when_the_loss_raises() -> None:
    model = _small_cnn().train()
    x, y = _batch()

    def broken_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pgd(model, x, y, EPS, loss_fn=broken_loss)
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def _bn_stats(model: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for name, t in model.named_buffers() if "running" in name]


def test_bn_mode_eval_freezes_running_stats_and_train_updates_them() -> None:
    model = _small_cnn().train()
    x, y = _batch()
    before = _bn_stats(model)
    pgd(model, x, y, EPS, steps=3, bn_mode="eval")
    assert all(torch.equal(a, b) for a, b in zip(before, _bn_stats(model)))
    pgd(model, x, y, EPS, steps=3, bn_mode="train")
    assert not all(torch.equal(a, b) for a, b in zip(before, _bn_stats(model)))
    with pytest.raises(ValueError, match="bn_mode"):
        pgd(model, x, y, EPS, bn_mode="batch")


def test_default_alpha_is_2_over_255_for_8_over_255_and_10_steps() -> None:
    assert default_alpha(8 / 255, 10) == pytest.approx(2 / 255, rel=1e-12)
    model = _small_cnn().eval()
    x, y = _batch()
    assert torch.equal(
        pgd(model, x, y, EPS, steps=10, random_start=False),
        pgd(model, x, y, EPS, alpha=default_alpha(EPS, 10), steps=10, random_start=False),
    )


def test_epsilon_validation() -> None:
    assert check_epsilon(8 / 255) == pytest.approx(8 / 255)
    with pytest.raises(ValueError, match="8/255"):
        check_epsilon(8)
    with pytest.raises(ValueError, match=">= 0"):
        check_epsilon(-0.1)
    model = _small_cnn().eval()
    x, y = _batch()
    with pytest.raises(ValueError, match="8/255"):
        pgd(model, x, y, 8)


def test_eps_zero_returns_a_copy_of_x() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    out = pgd(model, x, y, 0.0)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_input_validation() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        pgd(model, x[0], y, EPS)
    with pytest.raises(ValueError, match="int64"):
        pgd(model, x, y.int(), EPS)
    with pytest.raises(ValueError, match="int64"):
        pgd(model, x, y[:-1], EPS)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pgd(model, x * 255, y, EPS)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, EPS, steps=0)


def test_fgsm_known_value_on_a_linear_model() -> None:
    """For a 2-class linear model and label 0, d CE / dx = p1 (w1 - w0), so FGSM adds eps * sign(w1 - w0)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = torch.rand(5, 3, 4, 4)
    x[0, 0, 0, :] = 0.0
    x[1, 0, 0, :] = 1.0
    y = torch.zeros(5, dtype=torch.int64)
    w = model[1].weight.detach()
    direction = torch.sign(w[1] - w[0]).view(1, 3, 4, 4)
    expected = (x + EPS * direction).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, EPS), expected, rtol=0, atol=1e-7)


def test_iterate_stays_float32_under_bf16_autocast() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_adv = pgd(model, x, y, EPS, steps=3)
    assert x_adv.dtype == torch.float32
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    # A bf16 iterate could only hold bf16-representable values; a float32 one holds many others.
    assert (x_adv.bfloat16().float() != x_adv).float().mean() > 0.5


def test_half_precision_input_keeps_its_dtype() -> None:
    model = _small_cnn().eval()
    x, y = _batch()
    x_adv = pgd(model, x.half(), y, EPS, steps=2)
    assert x_adv.dtype == torch.float16
    assert (x_adv.float() - x.half().float()).abs().max() <= EPS + 1e-3


def test_accuracy_helpers_on_uint8_nhwc_and_float_inputs() -> None:
    model = _small_cnn().train()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=20)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    model.eval()
    with torch.no_grad():
        logits = model(x)
    model.train()
    expected = (logits.argmax(1).numpy() == labels).mean()

    assert accuracy(model, images, labels, batch_size=8) == pytest.approx(expected)
    assert accuracy(model, x, torch.from_numpy(labels), batch_size=7) == pytest.approx(expected)
    probs = predict_proba(model, images, batch_size=8)
    assert probs.shape == (20, 10) and probs.dtype == torch.float32
    torch.testing.assert_close(probs, logits.softmax(1))
    torch.testing.assert_close(probs.sum(1), torch.ones(20))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # evaluation stays fp32 inside a caller's autocast region
        inside = predict_proba(model, images, batch_size=8)
        assert accuracy(model, images, labels, batch_size=8) == pytest.approx(expected)
    torch.testing.assert_close(inside, probs, rtol=0, atol=0)

    assert robust_accuracy(model, images, labels, eps=0.0, batch_size=8) == pytest.approx(expected)
    assert all(m.training for m in model.modules())  # every helper restored the training mode


def test_robust_accuracy_drops_below_clean_accuracy(fitted) -> None:
    model, x, y = fitted
    clean = accuracy(model, x, y, batch_size=8)
    robust = robust_accuracy(model, x, y, eps=EPS, steps=5, batch_size=8)
    assert clean >= 0.5  # memorised the batch
    assert 0.0 <= robust < clean
    with pytest.raises(ValueError, match="8/255"):
        robust_accuracy(model, x, y, eps=8)
    with pytest.raises(ValueError, match="labels"):
        accuracy(model, x, y[:-1])


@pytest.mark.slow
def test_pgd_on_a_compiled_model_matches_eager() -> None:
    """The training engine attacks a torch.compile'd model; freezing parameters must not break tracing."""
    model = _small_cnn().train()
    compiled = torch.compile(model, backend="aot_eager")
    x, y = _batch(4)
    eager = pgd(model, x, y, EPS, steps=2, random_start=False)
    traced = pgd(compiled, x, y, EPS, steps=2, random_start=False)
    torch.testing.assert_close(traced, eager, rtol=0, atol=1e-6)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules())
