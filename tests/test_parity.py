"""Each method's training step against a direct transcription of its reference implementation's step, down to
the batch-norm running statistics that every eval-mode record and test accuracy uses.

Every ``reference_*`` function below is written from the reference's published equations and control flow
(named in its docstring), not copied. atlib's side is the training loop's own step (``Trainer._step``) with the
loss, AWP and EMA built from a ``TrainConfig`` as a run builds them (``method_parts``). Both sides start from the
same weights and draw the same random numbers; where a reference draws its random start in another layout
(``delta.uniform_`` per channel), the start is the one atlib draws, passed to the reference explicitly: only its
distribution is the reference's.
"""

from __future__ import annotations

import copy
import types
from typing import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atlib.config import TrainConfig
from atlib.data.loader import Batch
from atlib.train.loop import Trainer, method_parts

EPS, ALPHA = 8 / 255, 2 / 255
LR, MOMENTUM, WD = 0.1, 0.9, 5e-4
ATOL = 2e-6  # float32 reductions summed in another order
# With AWP: the reference's direction is the proxy's weight difference (w + lr g) - w, which rounds; atlib's is g.
# The weights then agree to about 1e-6, and the sign of a few near-zero input gradients of the next attack flips.
AWP_ATOL, AWP_FLIPPED = 2e-5, 0.01



@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Both sides of every comparison compute with one thread: with several, torch splits float32 reductions
    by thread and the two code paths' batches split differently, and PGD's sign() turns those last-bit
    differences into whole steps of x_adv (seen: the TRADES loss 4.6e-5 apart after 3 steps on 2 threads).
    Parity is of the method's arithmetic, not of the thread scheduling."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def _batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    # Pixels away from the box's edges: the references do not clip TRADES/MART's 0.001 N(0, 1) start to it (a deviation
    # documented in atlib.methods: it changes the first gradient only at pixels at 0 or 1).
    return 0.05 + 0.9 * torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)


def _bn(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _config(method: str, **fields) -> TrainConfig:
    alpha = None if method == "fgsm_rs" else 2  # FGSM-RS: its own step, 1.25 eps
    return TrainConfig(method=method, epsilon_255=8, pgd_steps=3, pgd_alpha_255=alpha, trades_beta=6.0, mart_beta=5.0,
                       lr=LR, momentum=MOMENTUM, weight_decay=WD, **fields)


def _stored_before(config: TrainConfig) -> dict:
    """``config`` as a config.json written before the parity options existed (attack_bn_mode then "eval")."""
    data = {k: v for k, v in config.to_dict().items() if k not in ("ema_warmup", "reference_step", "source")}
    return {**data, "attack_bn_mode": "eval"}


class _Ours:
    """atlib's side: the loop's step on ``model`` with the parts ``config`` builds."""

    def __init__(self, config: TrainConfig, model: nn.Module, steps_per_epoch: int = 10) -> None:
        trainer = object.__new__(Trainer)
        trainer.config, trainer.device, trainer.autocast = config, torch.device("cpu"), False
        trainer.ddp = types.SimpleNamespace(shard=lambda t: t)
        trainer.memory_format = torch.contiguous_format
        trainer.model = trainer.attack_model = trainer.step_model = model
        trainer.optimizer = _sgd(model)
        trainer.loss, trainer.awp, trainer.ema = method_parts(config, model, steps_per_epoch)
        trainer.recorder = None
        self.trainer, self.step_count = trainer, 0

    def step(self, x: torch.Tensor, y: torch.Tensor, epoch: int = 0) -> float:
        self.step_count += 1
        batch = Batch(x, y, torch.zeros(len(y), dtype=torch.bool), torch.arange(len(y)), len(y))
        loss_sum, _, count = self.trainer._step(batch, epoch, self.step_count).tolist()
        return loss_sum / count


def _compare(ours: nn.Module, ref: nn.Module, loss: tuple[float, float], x_adv: tuple[torch.Tensor, torch.Tensor],
             atol: float = ATOL, flipped: float = 0.0) -> None:
    assert loss[0] == pytest.approx(loss[1], abs=atol, rel=1e-6)
    assert float(((x_adv[0] - x_adv[1]).abs() > 1e-6).float().mean()) <= flipped
    assert float((x_adv[0] - x_adv[1]).abs().max()) <= (1e-6 if flipped == 0 else 2 * ALPHA + 1e-6)
    mine, theirs = _bn(ours), _bn(ref)
    for name in theirs:
        torch.testing.assert_close(mine[name], theirs[name], atol=atol, rtol=1e-5, msg=name)
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-5, msg=name)


def _capture_attack(ours: _Ours) -> list[torch.Tensor]:
    """Record the x_adv the loop's step crafts (the loss's attack, unchanged)."""
    crafted: list[torch.Tensor] = []
    attack = ours.trainer.loss.attack

    def recording(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        crafted.append(attack(model, x, y))
        return crafted[-1]

    ours.trainer.loss = types.SimpleNamespace(attack=recording, objective=ours.trainer.loss.objective)
    return crafted


def _run(config: TrainConfig, reference: Callable, steps: int, epoch_of: Callable[[int], int] = lambda k: 0,
         seed_model: int = 0) -> None:
    """``steps`` steps of atlib and of ``reference(model, optimizer, x, y, k)`` (returning loss and x_adv), compared
    after the first and after the last."""
    ours_model, ref_model = _net(seed_model), _net(seed_model)
    ours = _Ours(config, ours_model)
    crafted = _capture_attack(ours)
    ref_opt = _sgd(ref_model)
    for k in range(steps):
        x, y = _batch(k)
        torch.manual_seed(50 + k)
        our_loss = ours.step(x, y, epoch_of(k))
        torch.manual_seed(50 + k)
        ref_loss, ref_adv = reference(ref_model, ref_opt, x, y, k)
        if k in (0, steps - 1):
            _compare(ours_model, ref_model, (our_loss, float(ref_loss)), (crafted[-1], ref_adv))


# ----------------------------------------------------------------------------- TRADES (Zhang et al. 2019)


def _trades_attack(model: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """TRADES's inner maximisation (trades.py, and perturb_input of AWP's train_trades_cifar.py): eval mode,
    start x + 0.001 N(0, 1), ``steps`` signed steps on the summed KL(p(x) || p(x_adv)), projected on the
    eps-ball and the [0, 1] box."""
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn(x.shape)
    for _ in range(steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1), reduction="sum")
        grad = torch.autograd.grad(kl, [x_adv])[0]
        x_adv = x_adv.detach() + ALPHA * torch.sign(grad.detach())
        x_adv = torch.clamp(torch.min(torch.max(x_adv, x - EPS), x + EPS), 0.0, 1.0)
    return torch.clamp(x_adv, 0.0, 1.0).detach()


def reference_trades_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                          k: int, beta: float = 6.0, steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """yaodongyu/TRADES trades.py ``trades_loss``: after the attack, train mode and three forwards: the clean
    batch (cross-entropy), the adversarial batch and the clean batch again (the KL's target),
    ``CE + beta * KL_sum / B``."""
    x_adv = _trades_attack(model, x, steps)
    model.train()
    optimizer.zero_grad()
    logits = model(x)
    loss_natural = F.cross_entropy(logits, y)
    loss_robust = (1.0 / len(x)) * F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1), reduction="sum")
    loss = loss_natural + beta * loss_robust
    loss.backward()
    optimizer.step()
    return loss.detach(), x_adv


def test_trades_matches_its_reference_loss_attack_and_bn_statistics_after_one_and_three_steps() -> None:
    _run(_config("trades"), reference_trades_step, steps=3)


def test_trades_without_reference_step_is_the_earlier_two_forward_step() -> None:
    """Stored runs keep atlib's earlier TRADES step: the same loss, but one BN update fewer per step."""
    model = _net()
    ours = _Ours(_config("trades", reference_step=False), model)
    x, y = _batch(0)
    torch.manual_seed(50)
    ours.step(x, y)
    assert int(_bn(model)["1.num_batches_tracked"]) == 2
    model = _net()
    ours = _Ours(_config("trades"), model)
    torch.manual_seed(50)
    ours.step(x, y)
    assert int(_bn(model)["1.num_batches_tracked"]) == 3


# ----------------------------------------------------------------------------- MART (Wang et al. 2020)


def reference_mart_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                        k: int, beta: float = 5.0, steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """YisenWang/MART mart.py ``mart_loss``: eval-mode PGD on CE from x + 0.001 N(0, 1); then train mode, clean
    and adversarial forwards; boosted CE (CE + NLL of log(1.0001 - p_adv + 1e-12) at the most probable wrong
    class) + beta * mean(KL(p(x) || p(x_adv)) summed over classes * (1.0000001 - p(x)_y))."""
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn(x.shape)
    for _ in range(steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_ce = F.cross_entropy(model(x_adv), y)
        grad = torch.autograd.grad(loss_ce, [x_adv])[0]
        x_adv = x_adv.detach() + ALPHA * torch.sign(grad.detach())
        x_adv = torch.clamp(torch.min(torch.max(x_adv, x - EPS), x + EPS), 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x)
    logits_adv = model(x_adv)
    adv_probs = F.softmax(logits_adv, dim=1)
    top2 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, y.unsqueeze(1)).squeeze()
    kl = nn.KLDivLoss(reduction="none")(torch.log(adv_probs + 1e-12), nat_probs)
    loss_robust = (1.0 / len(x)) * torch.sum(torch.sum(kl, dim=1) * (1.0000001 - true_probs))
    loss = loss_adv + beta * loss_robust
    loss.backward()
    optimizer.step()
    return loss.detach(), x_adv


def test_mart_matches_its_reference_loss_attack_and_bn_statistics_after_one_and_three_steps() -> None:
    _run(_config("mart"), reference_mart_step, steps=3)


# ----------------------------------------------------------------------------- AWP (Wu et al. 2020)


def _diff_in_weights(model: nn.Module, proxy: nn.Module) -> dict[str, torch.Tensor]:
    """AWP utils_awp.py: per weight of dimension > 1, ||w|| * d / (||d|| + 1e-20) with d = proxy - model."""
    out = {}
    for (name, old), new in zip(model.state_dict().items(), proxy.state_dict().values()):
        if old.dim() > 1 and "weight" in name:
            d = new - old
            out[name] = old.norm() / (d.norm() + 1e-20) * d
    return out


def _add_into_weights(model: nn.Module, diff: dict[str, torch.Tensor], coeff: float) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in diff:
                p.add_(coeff * diff[name])


class _ReferenceAWP:
    """AWP's adversary: a proxy loaded with the model's state, in train mode, one plain SGD step on the
    negated loss; the weight difference, rescaled per layer, perturbs the model by gamma and is removed after."""

    def __init__(self, model: nn.Module, gamma: float, proxy_lr: float) -> None:
        self.model, self.gamma = model, gamma
        self.proxy = copy.deepcopy(model)
        self.proxy_optim = torch.optim.SGD(self.proxy.parameters(), lr=proxy_lr)

    def calc(self, loss_of: Callable[[nn.Module], torch.Tensor]) -> dict[str, torch.Tensor]:
        self.proxy.load_state_dict(self.model.state_dict())
        self.proxy.train()
        loss = -1.0 * loss_of(self.proxy)
        self.proxy_optim.zero_grad()
        loss.backward()
        self.proxy_optim.step()
        return _diff_in_weights(self.model, self.proxy)


def reference_trades_awp_step(awp: _ReferenceAWP, warmup: int, first_epoch: Callable[[int], int], beta: float = 6.0):
    """csdongxian/AWP trades_AWP/train_trades_cifar.py ``train``: TRADES's attack; train mode; from
    ``epoch >= awp_warmup`` on (epochs numbered from 1) the TradesAWP perturbation (proxy loss
    CE(clean) + beta KL_batchmean(adv || clean)); then forwards in the order adversarial, clean (KL target),
    clean (CE); step; restore."""

    def step(model, optimizer, x, y, k):
        x_adv = _trades_attack(model, x, 3)
        model.train()
        epoch = first_epoch(k)
        if epoch >= warmup:
            diff = awp.calc(lambda p: F.cross_entropy(p(x), y) + beta * F.kl_div(
                F.log_softmax(p(x_adv), dim=1), F.softmax(p(x), dim=1), reduction="batchmean"))
            _add_into_weights(model, diff, awp.gamma)
        optimizer.zero_grad()
        logits_adv = model(x_adv)
        loss_robust = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(model(x), dim=1), reduction="batchmean")
        loss = F.cross_entropy(model(x), y) + beta * loss_robust
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch >= warmup:
            _add_into_weights(model, diff, -awp.gamma)
        return loss.detach(), x_adv

    return step


def test_trades_awp_matches_its_reference_and_starts_in_the_warmup_th_epoch() -> None:
    """Three steps, one per epoch, with awp_warmup 2: the reference (epochs numbered from 1) perturbs from its
    2nd epoch, the loop's epoch 1; atlib's earlier rule (epochs from 0) started one epoch later."""
    ref_model = _net()
    awp = _ReferenceAWP(ref_model, 0.005, proxy_lr=LR)
    ours_model = _net()
    ours = _Ours(_config("trades", awp_gamma=0.005, awp_warmup=2), ours_model)
    crafted = _capture_attack(ours)
    reference = reference_trades_awp_step(awp, warmup=2, first_epoch=lambda k: k + 1)
    ref_opt = _sgd(ref_model)
    for k in range(3):
        x, y = _batch(k)
        torch.manual_seed(50 + k)
        our_loss = ours.step(x, y, epoch=k)
        torch.manual_seed(50 + k)
        ref_loss, ref_adv = reference(ref_model, ref_opt, x, y, k)
        if k in (0, 2):
            _compare(ours_model, ref_model, (our_loss, float(ref_loss)), (crafted[-1], ref_adv), AWP_ATOL, AWP_FLIPPED)
    assert [ours.trainer.awp.active(e) for e in range(3)] == [False, True, True]


def _uniform_start(x: torch.Tensor) -> torch.Tensor:
    """The uniform random start, drawn as atlib draws it (see the module docstring)."""
    return (2 * torch.rand(x.shape) - 1) * EPS


def reference_at_awp_step(awp: _ReferenceAWP, warmup: int, steps: int = 3):
    """csdongxian/AWP AT_AWP/train_cifar10.py: ``attack_pgd`` (uniform start in the box, ``steps`` signed steps on
    CE, clamped to the eps-ball and the box); train mode; from ``epoch >= awp_warmup`` on (epochs numbered from 0)
    the AdvWeightPerturb perturbation (proxy loss CE(adv), proxy SGD lr 0.01); robust forward, step, restore.

    Documented deviation (docs/methods.md): the reference crafts with the model in train mode and runs a clean
    train-mode forward for logging after the step; atlib's AT crafts in eval mode (its ``attack_bn_mode``) and
    makes no logging forward. This transcription follows atlib there, and the reference everywhere else."""

    def step(model, optimizer, x, y, k):
        model.eval()
        delta = torch.max(torch.min(_uniform_start(x), 1 - x), -x)
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(x + delta), y)
            grad = torch.autograd.grad(loss, [delta])[0]
            d = torch.clamp(delta.detach() + ALPHA * torch.sign(grad), -EPS, EPS)
            delta = torch.max(torch.min(d, 1 - x), -x)
        x_adv = torch.clamp(x + delta.detach(), 0, 1)
        model.train()
        if k >= warmup:
            diff = awp.calc(lambda p: F.cross_entropy(p(x_adv), y))
            _add_into_weights(model, diff, awp.gamma)
        robust_loss = F.cross_entropy(model(x_adv), y)
        optimizer.zero_grad()
        robust_loss.backward()
        optimizer.step()
        if k >= warmup:
            _add_into_weights(model, diff, -awp.gamma)
        return robust_loss.detach(), x_adv

    return step


def test_at_awp_matches_its_reference_and_starts_at_its_warmup_counted_from_zero() -> None:
    ref_model = _net()
    awp = _ReferenceAWP(ref_model, 0.01, proxy_lr=0.01)
    _run_awp = reference_at_awp_step(awp, warmup=1)
    ours_model = _net()
    ours = _Ours(_config("at", awp_gamma=0.01, awp_warmup=1), ours_model)
    crafted = _capture_attack(ours)
    ref_opt = _sgd(ref_model)
    for k in range(3):
        x, y = _batch(k)
        torch.manual_seed(50 + k)
        our_loss = ours.step(x, y, epoch=k)
        torch.manual_seed(50 + k)
        ref_loss, ref_adv = _run_awp(ref_model, ref_opt, x, y, k)
        if k in (0, 2):
            _compare(ours_model, ref_model, (our_loss, float(ref_loss)), (crafted[-1], ref_adv), AWP_ATOL, AWP_FLIPPED)
    assert [ours.trainer.awp.active(e) for e in range(3)] == [False, True, True]


def test_stored_trades_awp_runs_keep_starting_awp_where_they_did() -> None:
    """A TRADES-AWP run stored before the epoch numbering was fixed (no reference_step in its config): warm-up N
    still means N epochs without AWP (AWP from the loop's epoch N), and the default 10 its 11th epoch."""
    stored = _stored_before(_config("trades", awp_gamma=0.005, awp_warmup=1))
    config = TrainConfig.from_dict(stored)
    _, awp, _ = method_parts(config, _net(), 10)
    assert [awp.active(e) for e in range(3)] == [False, True, True]
    stored["awp_warmup"] = None
    _, awp, _ = method_parts(TrainConfig.from_dict(stored), _net(), 10)
    assert not awp.active(9) and awp.active(10)
    _, awp, _ = method_parts(_config("trades", awp_gamma=0.005), _net(), 10)
    assert not awp.active(8) and awp.active(9)  # today's default: the reference's 10th epoch


# ----------------------------------------------------------------------------- FGSM-RS (Wong et al. 2020)


def reference_fgsm_rs_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """locuslab/fast_adversarial CIFAR10/train_fgsm.py: the model stays in train mode for the whole epoch;
    delta uniform in the eps-ball, clamped to the box; one forward-backward (train mode, so BN uses and updates
    batch statistics) for delta's gradient; delta + 1.25 eps sign(grad), clamped to the ball and the box; then
    the training forward, zero_grad, backward, step."""
    model.train()
    delta = torch.max(torch.min(_uniform_start(x), 1 - x), -x)
    delta.requires_grad = True
    F.cross_entropy(model(x + delta), y).backward()
    grad = delta.grad.detach()
    delta = torch.clamp(delta + 1.25 * EPS * torch.sign(grad), -EPS, EPS)
    delta = torch.max(torch.min(delta, 1 - x), -x).detach()
    loss = F.cross_entropy(model(x + delta), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach(), x + delta


def test_fgsm_rs_crafts_in_train_mode_as_its_reference() -> None:
    _run(_config("fgsm_rs"), reference_fgsm_rs_step, steps=3)


# ----------------------------------------------------------------------------- EMA (DM-Improves-AT)


def reference_ema_update(ema: nn.Module, model: nn.Module, global_step: int, decay_rate: float, warmup_steps: float) -> None:
    """wzekai99/DM-Improves-AT ``ema_update`` (dynamic_decay): decay 0 before ``warmup_steps``, then
    min(decay_rate, (1 + s) / (10 + s)) with s = global_step - warmup_steps; ema = decay ema + (1 - decay) w."""
    factor = int(global_step >= warmup_steps)
    delta = global_step - warmup_steps
    decay = min(decay_rate, (1.0 + delta) / (10.0 + delta)) if 10.0 + delta != 0 else decay_rate
    decay *= factor
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.data *= decay
            p_ema.data += p.data * (1 - decay)


def reference_update_bn(ema: nn.Module, model: nn.Module) -> None:
    """DM-Improves-AT ``update_bn`` at the end of every epoch: the average takes the model's BN tensors."""
    for m_ema, m in zip(ema.modules(), model.modules()):
        if isinstance(m_ema, nn.modules.batchnorm._BatchNorm):
            m_ema.running_mean = m.running_mean
            m_ema.running_var = m.running_var
            m_ema.num_batches_tracked = m.num_batches_tracked


def test_ema_follows_dm_improves_at_over_50_steps() -> None:
    """5 epochs of 10 steps, decay 0.99: the warm-up (2.5 % of the steps: the average copies the model for the
    first), the dynamic decay and the BN statistics, compared at every epoch's end (where the reference sets them)."""
    epochs, per_epoch, decay = 5, 10, 0.99
    model = _net()
    ours = _Ours(_config("nt", ema_decay=decay, epochs=epochs), model, steps_per_epoch=per_epoch)
    ref_model = _net()
    ref_ema = copy.deepcopy(ref_model)
    ref_opt = _sgd(ref_model)
    warmup = 0.025 * epochs * per_epoch
    for epoch in range(epochs):
        for b in range(per_epoch):
            x, y = _batch(epoch * per_epoch + b)
            ours.step(x, y, epoch)
            ref_opt.zero_grad()
            F.cross_entropy(ref_model.train()(x), y).backward()
            ref_opt.step()
            reference_ema_update(ref_ema, ref_model, epoch * per_epoch + b + 1, decay, warmup)
        reference_update_bn(ref_ema, ref_model)
        averaged = ours.trainer.ema.module.state_dict()
        for name, want in ref_ema.state_dict().items():
            torch.testing.assert_close(averaged[name], want, atol=1e-6, rtol=1e-5, msg=f"epoch {epoch + 1}: {name}")
    assert ours.trainer.ema.module is not model and not torch.equal(averaged["0.weight"], model.state_dict()["0.weight"])


def test_stored_ema_runs_keep_the_constant_decay() -> None:
    """A run stored before ema_warmup existed keeps the constant decay with averaged BN statistics."""
    stored = _stored_before(_config("nt", ema_decay=0.99))
    config = TrainConfig.from_dict(stored)
    assert config.ema_warmup is False
    _, _, ema = method_parts(config, _net(), 10)
    assert ema.use_buffers and not hasattr(ema, "warmup_steps")
