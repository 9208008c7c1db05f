"""Training losses of the AT variants against direct implementations of the papers' reference algorithms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atlib.attacks import pgd
from atlib.methods import METHODS
from atlib.train.losses import CODE, MethodLoss, mart_loss, trades_loss

EPS = 8 / 255
B, C = 8, 10  # B a power of two: a mean's 1/B scales gradients exactly, so sum and mean give the same signs


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, C))


def _batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 0.1 + 0.8 * torch.rand(B, 3, 8, 8, generator=g)  # away from 0 and 1: the reference does not clip its start
    return x, torch.randint(0, C, (B,), generator=g)


def _bn_buffers(model: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for b in model.buffers()]


# ----------------------------------------------------------------------------- direct implementations


def reference_trades_attack(model: nn.Module, x: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """Zhang et al.'s inner maximisation: BN in eval mode, start x + 0.001 N(0, 1), sign steps on the summed
    KL(p(x) || p(x_adv)), projection on the eps-ball then [0, 1]."""
    model.eval()
    x_adv = x + 0.001 * torch.randn(x.shape)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1), reduction="sum")
        (grad,) = torch.autograd.grad(kl, [x_adv])
        x_adv = x_adv.detach() + alpha * torch.sign(grad)
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    model.train()
    return x_adv


def reference_mart_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                          steps: int) -> torch.Tensor:
    """Wang et al.'s inner maximisation: as TRADES's but on the (batch-mean) cross-entropy."""
    model.eval()
    x_adv = x + 0.001 * torch.randn(x.shape)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, [x_adv])
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * torch.sign(grad), x - eps), x + eps).clamp(0.0, 1.0)
    model.train()
    return x_adv


def reference_trades_objective(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                               beta: float) -> torch.Tensor:
    """CE + beta * (1/B) * sum over batch and classes of p (log p - log q), written out."""
    p = logits_nat.softmax(1)
    kl_sum = (p * (p.log() - logits_adv.log_softmax(1))).sum()
    return F.cross_entropy(logits_nat, y) + beta * kl_sum / len(y)


def reference_mart_objective(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                             beta: float) -> torch.Tensor:
    """Wang et al.'s loss as their code writes it (argsort for the best wrong class, +1e-12 inside the logs)."""
    adv_probs = logits_adv.softmax(1)
    top2 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = logits_nat.softmax(1)
    true_probs = torch.gather(nat_probs, 1, y.unsqueeze(1)).squeeze()
    kl = nat_probs * (torch.log(nat_probs + 1e-12) - torch.log(adv_probs + 1e-12))
    loss_robust = (1.0 / len(y)) * torch.sum(kl.sum(1) * (1.0000001 - true_probs))
    return loss_adv + beta * loss_robust


# ----------------------------------------------------------------------------- formulas


def _logits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    nat = (3 * torch.randn(B, C, generator=g)).requires_grad_(True)
    adv = (3 * torch.randn(B, C, generator=g)).requires_grad_(True)
    return nat, adv, torch.randint(0, C, (B,), generator=g)


@pytest.mark.parametrize("beta", [0.0, 1.0, 6.0])
def test_trades_loss_equals_the_formula_with_gradients_through_both_distributions(beta: float) -> None:
    nat, adv, y = _logits(0)
    ours, ref = trades_loss(nat, adv, y, beta), reference_trades_objective(nat, adv, y, beta)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    grads = torch.autograd.grad(ours, [nat, adv])
    ref_grads = torch.autograd.grad(ref, [nat, adv])
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


def test_trades_kl_is_averaged_over_the_batch_not_over_batch_times_classes() -> None:
    nat, adv, y = _logits(1)
    p, log_q = nat.softmax(1), adv.log_softmax(1)
    kl_sum = float((p * (p.log() - log_q)).sum().detach())
    kl_term = float((trades_loss(nat, adv, y, 1.0) - F.cross_entropy(nat, y)).detach())
    assert kl_term == pytest.approx(kl_sum / B, rel=1e-5)
    assert kl_term != pytest.approx(kl_sum / (B * C), rel=1e-2)  # what reduction="mean" would give


def test_mart_loss_equals_the_reference_code_including_its_undetached_weight() -> None:
    nat, adv, y = _logits(2)
    beta = 6.0
    ours, ref = mart_loss(nat, adv, y, beta), reference_mart_objective(nat, adv, y, beta)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    g_nat, g_adv = torch.autograd.grad(ours, [nat, adv])
    r_nat, r_adv = torch.autograd.grad(ref, [nat, adv])
    torch.testing.assert_close(g_nat, r_nat, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g_adv, r_adv, rtol=1e-4, atol=1e-6)
    # The weight (1.0000001 - p(x)_y) carries gradient: detaching it changes the clean logits' gradient.
    p_nat = nat.softmax(1)
    kl = F.kl_div(adv.log_softmax(1), p_nat, reduction="none").sum(1)
    detached = (kl * (1.0000001 - p_nat.gather(1, y[:, None]).squeeze(1).detach())).mean()
    (g_detached,) = torch.autograd.grad(beta * detached, [nat])
    assert not torch.allclose(g_detached, g_nat, atol=1e-4)


def test_mart_best_wrong_class_is_never_the_label() -> None:
    """When the label is the adversarial top-1, y_hat is the runner-up; the NLL term then uses it."""
    logits_adv = torch.tensor([[5.0, 1.0, 3.0], [0.0, 4.0, 2.0]])
    y = torch.tensor([0, 2])  # row 0: label is top-1 -> y_hat = 2; row 1: top-1 (1) is wrong -> y_hat = 1
    p = logits_adv.softmax(1)
    expected_nll = -(torch.log(1.0001 - p[0, 2]) + torch.log(1.0001 - p[1, 1])) / 2
    loss = mart_loss(logits_adv, logits_adv, y, beta=0.0)  # KL(p || p) = 0 and beta = 0: CE + NLL only
    torch.testing.assert_close(loss, F.cross_entropy(logits_adv, y) + expected_nll)


# ----------------------------------------------------------------------------- whole steps


def test_trades_step_equals_the_reference_algorithm() -> None:
    model, (x, y) = _model(), _batch()
    alpha, steps, beta = 2 / 255, 5, 6.0
    model.train()
    torch.manual_seed(7)
    x_ref = reference_trades_attack(model, x, EPS, alpha, steps)
    ref = reference_trades_objective(model(x), model(x_ref), y, beta)
    model = _model()  # fresh BN statistics: the reference's forwards above updated them
    model.train()
    loss = MethodLoss("trades", eps=EPS, steps=steps, alpha=alpha, beta=beta)
    torch.manual_seed(7)
    buffers = _bn_buffers(model)
    x_ours = loss.attack(model, x, y)
    for before, after in zip(buffers, model.buffers()):
        assert torch.equal(before, after)  # the eval-mode attack leaves BN statistics alone
    assert model.training
    assert torch.equal(x_ours, x_ref)
    out = loss.objective(model, x, x_ours, y)
    torch.testing.assert_close(out.loss, ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.logits, model(x_ours))
    assert (x_ours - x).abs().max() <= EPS + 1e-7 and (x_ours != x).any()


def test_mart_step_equals_the_reference_algorithm() -> None:
    model, (x, y) = _model(3), _batch(4)
    alpha, steps, beta = 2 / 255, 4, 5.0
    model.train()
    torch.manual_seed(11)
    x_ref = reference_mart_attack(model, x, y, EPS, alpha, steps)
    ref = reference_mart_objective(model(x), model(x_ref), y, beta)
    model = _model(3).train()
    torch.manual_seed(11)
    out = MethodLoss("mart", eps=EPS, steps=steps, alpha=alpha, beta=beta)(model, x, y)
    torch.testing.assert_close(out.loss, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.logits, model(x_ref))


def test_fgsm_rs_is_one_step_of_1_25_eps_from_a_uniform_start() -> None:
    model, (x, y) = _model(5), _batch(6)
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0])  # pixels at the box's edges
    model.train()
    torch.manual_seed(3)
    # Wong et al. 2020: delta ~ U(-eps, eps) kept in the image box, one signed step of 1.25 eps on the
    # CE (eval-mode BN here, atlib's attack_bn_mode default), projected back on the ball and the box.
    lower, upper = (x - EPS).clamp(min=0), (x + EPS).clamp(max=1)
    start = torch.clamp(x + (2 * torch.rand(x.shape) - 1) * EPS, lower, upper).requires_grad_(True)
    model.eval()
    (grad,) = torch.autograd.grad(F.cross_entropy(model(start), y, reduction="sum"), [start])
    expected = torch.clamp(start.detach() + 1.25 * EPS * grad.sign(), lower, upper)
    model.train()
    torch.manual_seed(3)
    loss = MethodLoss("fgsm_rs", eps=EPS, steps=10, bn_mode="eval")  # steps is PGD's: FGSM-RS takes one step regardless
    x_adv = loss.attack(model, x, y)
    assert torch.equal(x_adv, expected)
    torch.testing.assert_close(loss.objective(model, x, x_adv, y).loss, F.cross_entropy(model(expected), y))


def test_at_and_nt_losses() -> None:
    model, (x, y) = _model(8), _batch(9)
    model.train()
    torch.manual_seed(0)
    x_pgd = pgd(model, x, y, EPS, steps=3)
    torch.manual_seed(0)
    out = MethodLoss("at", eps=EPS, steps=3)(model, x, y)
    torch.testing.assert_close(out.loss, F.cross_entropy(model(x_pgd), y))
    nt = MethodLoss("nt")(model, x, y)
    torch.testing.assert_close(nt.loss, F.cross_entropy(model(x), y))
    torch.testing.assert_close(nt.logits, model(x))


def test_attack_model_crafts_and_model_trains() -> None:
    """The loop attacks on its local (compiled) replica and trains through DDP: two module handles."""
    model, (x, y) = _model(), _batch()
    calls = []
    attack_model = _Counting(model, calls, "attack")
    step_model = _Counting(model, calls, "step")
    MethodLoss("trades", eps=EPS, steps=2)(step_model.train(), x, y, attack_model=attack_model)
    assert calls == ["attack"] * 3 + ["step"] * 3  # clean target + 2 PGD steps; then clean, adversarial, clean forwards


class _Counting(nn.Module):
    def __init__(self, inner: nn.Module, calls: list[str], tag: str) -> None:
        super().__init__()
        self.inner, self.calls, self.tag = inner, calls, tag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(self.tag)
        return self.inner(x)


def test_bn_mode_train_attacks_with_batch_statistics() -> None:
    model, (x, y) = _model(), _batch()
    model.train()
    buffers = _bn_buffers(model)
    MethodLoss("trades", eps=EPS, steps=2, bn_mode="train").attack(model, x, y)
    assert not torch.equal(buffers[0], next(model.buffers()))  # running mean moved by the attack's forwards
    assert model.training


def test_losses_are_float32_under_bf16_autocast() -> None:
    model, (x, y) = _model(), _batch()
    model.train()
    for method in ("trades", "mart", "at", "fgsm_rs"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = MethodLoss(method, eps=EPS, steps=2)
            x_adv = loss.attack(model, x, y)
            out = loss.objective(model, x, x_adv, y)
        assert x_adv.dtype == torch.float32 and out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
        assert (x_adv - x).abs().max() <= EPS + 1e-6


def test_defaults_and_bad_input() -> None:
    assert tuple(CODE) == tuple(METHODS) == ("nt", "at", "trades", "mart", "fgsm_rs")  # losses keyed by the table's names
    assert MethodLoss("trades", eps=EPS).beta == dict(METHODS["trades"].defaults)["trades_beta"] == 6.0
    assert MethodLoss("fgsm_rs", eps=EPS).bn_mode == "train" and MethodLoss("at", eps=EPS).bn_mode == "eval"
    assert MethodLoss("mart", eps=EPS).beta == 6.0 and MethodLoss("mart", eps=EPS, beta=5).beta == 5.0
    with pytest.raises(ValueError, match="unknown training method 'pgd'.*nt, at, trades, mart, fgsm_rs"):
        MethodLoss("pgd", eps=EPS)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        MethodLoss("trades", eps=EPS, beta=-1)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        MethodLoss("mart", eps=EPS, beta=float("nan"))
    with pytest.raises(ValueError, match="method 'at' has none"):
        MethodLoss("at", eps=EPS, beta=6)
    with pytest.raises(ValueError, match="needs eps > 0"):
        MethodLoss("trades", eps=0)
    with pytest.raises(ValueError, match="eps=8 is larger than the whole"):
        MethodLoss("at", eps=8)
    with pytest.raises(ValueError, match="eps must be 0"):
        MethodLoss("nt", eps=EPS)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        MethodLoss("at", eps=EPS, steps=0)
    with pytest.raises(ValueError, match="bn_mode"):
        MethodLoss("at", eps=EPS, bn_mode="batch")
