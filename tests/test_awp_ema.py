"""AWP against a hand-written perturb-step-restore (the reference algorithm), and weight EMA against a
hand-computed average, with exact resume."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atlib.train.awp import AWP
from atlib.train.ema import ema_model
from atlib.train.losses import MethodLoss

EPS = 8 / 255
# Stated tolerance for AWP: the reference forms the direction from the proxy's weight difference
# (w - lr * g) - w, which loses about log2(|w| / (lr |g|)) bits to cancellation in float32; atlib uses g itself.
AWP_ATOL = 1e-6


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10))


def _batch(seed: int = 1, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def reference_awp_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective, gamma: float) -> None:
    """Wu et al.'s AdvWeightPerturb, written out: proxy <- model; one SGD step (lr 0.01) on the proxy ascending
    the loss; per weight of dimension > 1, v = ||w|| / (||w' - w|| + 1e-20) * (w' - w); w += gamma v; the
    training step; w -= gamma v."""
    proxy = copy.deepcopy(model)
    proxy.load_state_dict(model.state_dict())
    proxy.train()
    proxy_optimizer = torch.optim.SGD(proxy.parameters(), lr=0.01)
    _step(proxy, proxy_optimizer, -objective(proxy))
    old, new = model.state_dict(), proxy.state_dict()
    diff = {k: old[k].norm() / ((new[k] - old[k]).norm() + 1e-20) * (new[k] - old[k])
            for k in old if old[k].dim() > 1 and "weight" in k}
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, v in diff.items():
            params[k].add_(gamma * v)
    _step(model, optimizer, objective(model))
    with torch.no_grad():
        for k, v in diff.items():
            params[k].add_(-gamma * v)


@pytest.mark.parametrize("method", ["at", "trades"])
def test_awp_step_equals_the_reference_perturb_step_restore(method: str) -> None:
    gamma = 0.05
    x, y = _batch()
    model = _model().train()
    loss = MethodLoss(method, eps=EPS, steps=2)
    torch.manual_seed(5)
    x_adv = loss.attack(model, x, y)

    def objective(m: nn.Module) -> torch.Tensor:
        return loss.objective(m, x, x_adv, y).loss

    reference = copy.deepcopy(model)
    reference_awp_step(reference, _sgd(reference), objective, gamma)
    plain = copy.deepcopy(model)
    optimizer = _sgd(plain)
    _step(plain, optimizer, objective(plain))

    optimizer = _sgd(model)
    awp = AWP(model, method, gamma=gamma, warmup=0)
    with awp.perturbed(0, objective):
        assert not torch.equal(model[0].weight, plain[0].weight)  # perturbed during the step
        _step(model, optimizer, objective(model))
    for (name, ours), theirs, unperturbed in zip(model.state_dict().items(), reference.state_dict().values(),
                                                 plain.state_dict().values()):
        torch.testing.assert_close(ours, theirs, atol=AWP_ATOL, rtol=0, msg=name)
        if name.endswith(".weight") and ours.dim() > 1:  # AWP really changed the step
            assert (ours - unperturbed).abs().max() > 100 * AWP_ATOL, name


def test_awp_with_gamma_zero_or_during_warmup_is_a_plain_step() -> None:
    x, y = _batch()
    loss = MethodLoss("at", eps=EPS, steps=2)
    plain = _model().train()
    x_adv = loss.attack(plain, x, y)
    _step(plain, _sgd(plain), loss.objective(plain, x, x_adv, y).loss)
    for gamma, warmup, epoch in [(0.0, 0, 3), (0.01, 10, 9)]:
        model = _model().train()
        optimizer = _sgd(model)
        with AWP(model, "at", gamma=gamma, warmup=warmup).perturbed(epoch, lambda m: loss.objective(m, x, x_adv, y).loss):
            _step(model, optimizer, loss.objective(model, x, x_adv, y).loss)
        for a, b in zip(model.state_dict().values(), plain.state_dict().values()):
            assert torch.equal(a, b)


def test_awp_direction_leaves_the_model_alone_and_skips_bn_and_biases() -> None:
    x, y = _batch()
    model = _model().train()
    state = copy.deepcopy(model.state_dict())
    awp = AWP(model, "trades")
    direction = awp.direction(lambda m: MethodLoss("trades", eps=EPS).objective(m, x, x, y).loss)
    assert sorted(direction) == ["0.weight", "5.weight"]  # conv and linear weights; no BN, no bias
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # weights and BN statistics untouched (the proxy ran the forward)
    params = dict(model.named_parameters())
    for name, v in direction.items():  # layer-wise scale: ||v|| = ||w||
        assert float(v.norm()) == pytest.approx(float(params[name].detach().norm()), rel=1e-5)


def test_awp_defaults_and_bad_input() -> None:
    model = _model()
    assert (AWP(model, "at").gamma, AWP(model, "at").warmup, AWP(model, "at").first_epoch) == (0.01, 0, 0)
    assert (AWP(model, "trades").gamma, AWP(model, "trades").warmup, AWP(model, "trades").first_epoch) == (0.005, 10, 1)
    for method in ("nt", "mart", "fgsm_rs"):
        with pytest.raises(ValueError, match=f"applies to methods at and trades, not '{method}'"):
            AWP(model, method)
    with pytest.raises(ValueError, match="awp_gamma must be >= 0"):
        AWP(model, "at", gamma=-0.01)
    with pytest.raises(ValueError, match="awp_warmup"):
        AWP(model, "at", warmup=-1)


# ----------------------------------------------------------------------------- EMA


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, ema=None, seed: int = 0) -> None:
    for k in range(steps):
        x, y = _batch(seed * 100 + k)
        _step(model, optimizer, F.cross_entropy(model.train()(x), y))
        if ema is not None:
            ema.update_parameters(model)


def test_ema_matches_a_hand_computed_average_of_weights_and_bn_statistics() -> None:
    decay, steps = 0.9, 5
    model = _model()
    optimizer = _sgd(model)
    ema = ema_model(model, decay)
    snapshots = []
    for k in range(steps):
        _train(model, optimizer, 1, ema, seed=k)
        snapshots.append({n: t.detach().double().clone() for n, t in model.state_dict().items()})
    expected = dict(snapshots[0])  # the first update copies the model
    for snap in snapshots[1:]:
        expected = {n: decay * expected[n] + (1 - decay) * snap[n] for n in expected}
    averaged = ema.module.state_dict()
    floats = [n for n, t in averaged.items() if t.is_floating_point()]
    assert any("running_mean" in n for n in floats)  # buffers are averaged too
    for name in floats:
        torch.testing.assert_close(averaged[name].double(), expected[name], atol=1e-6, rtol=1e-6, msg=name)
        if "running" in name or name.endswith("weight"):
            assert not torch.allclose(averaged[name].double(), snapshots[-1][name], atol=1e-4)  # really an average
    assert int(ema.n_averaged) == steps


@pytest.mark.parametrize("warmup", [None, 2.0])
def test_ema_resumes_bitwise_from_a_checkpoint(warmup: float | None) -> None:
    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        m = _model()
        return m, _sgd(m)

    model, optimizer = fresh()
    ema = ema_model(model, 0.99, warmup)
    _train(model, optimizer, 6, ema)  # uninterrupted

    model2, optimizer2 = fresh()
    ema2 = ema_model(model2, 0.99, warmup)
    _train(model2, optimizer2, 3, ema2)
    buffer = io.BytesIO()
    torch.save({"model": model2.state_dict(), "optimizer": optimizer2.state_dict(), "ema": ema2.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    model3, optimizer3 = fresh()
    model3.load_state_dict(state["model"])
    optimizer3.load_state_dict(state["optimizer"])
    ema3 = ema_model(model3, 0.99, warmup)
    ema3.load_state_dict(state["ema"])
    for k in range(3, 6):  # the same batches as the uninterrupted run's last three steps
        x, y = _batch(k)
        _step(model3, optimizer3, F.cross_entropy(model3.train()(x), y))
        ema3.update_parameters(model3)
    for (name, a), b in zip(ema.state_dict().items(), ema3.state_dict().values()):
        assert torch.equal(a, b), name


def test_ema_leaves_the_raw_training_bitwise_unchanged() -> None:
    with_ema, without = _model(), _model()
    torch.manual_seed(1)
    _train(with_ema, _sgd(with_ema), 4, ema_model(with_ema, 0.999, 1.0))
    rng_after_ema = torch.get_rng_state()
    torch.manual_seed(1)
    _train(without, _sgd(without), 4)
    assert torch.equal(rng_after_ema, torch.get_rng_state())
    for a, b in zip(with_ema.state_dict().values(), without.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_ema_decay_outside_the_open_unit_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
        ema_model(_model(), decay)
