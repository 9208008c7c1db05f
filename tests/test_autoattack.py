"""AutoAttack through pyautoattack: stronger than PGD on a model trained here, identical to the package's own
loop, resumable; and a clear error when the optional package is missing.

CPU cost: AutoAttack's FAB-T (9 targets x 100 iterations) and Square (5,000 queries) cost about 10 s each on
the CPU as soon as one image survives the APGD attacks, whatever n is; the comparisons here therefore run the
gradient-based pair APGD-CE + APGD-T (version "custom"), and the standard version is checked for its attack
list and bookkeeping on images that need no attack.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from atlib.evaluate.accuracy import correct_predictions, pgd_attack
from atlib.evaluate.autoattack import INSTALL, autoattack_class, run_autoattack
from atlib.store.io import read_json, write_json
from atlib.models import Normalize, Normalized, SmallCNN

EPS = 16 / 255
ATTACKS = ["apgd-ce", "apgd-t"]


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    with pytest.raises(ImportError, match=r"optional package pyautoattack: pip install -r requirements-autoattack\.txt"):
        run_autoattack(torch.nn.Linear(1, 1), torch.zeros(1, 3, 2, 2), torch.zeros(1, dtype=torch.int64), EPS)
    assert "pyautoattack==0.2.0" in INSTALL


def _toy(rng: np.random.Generator, palette: np.ndarray, per_class: int) -> tuple[torch.Tensor, np.ndarray]:
    """Float images in [0, 1]: noise plus a class tint."""
    images = np.concatenate([rng.integers(0, 120, size=(per_class, 3, 32, 32)) + palette[c, :, None, None] for c in range(10)])
    return torch.from_numpy(images / 255).float(), np.repeat(np.arange(10), per_class)


@pytest.fixture(scope="module")
def trained() -> tuple[torch.nn.Module, torch.Tensor, np.ndarray]:
    """A small CNN trained for about a second on tinted-noise images (class = tint), and 10 test images."""
    pytest.importorskip("pyautoattack", reason=f"the optional package pyautoattack is not installed: {INSTALL}")
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 136, size=(10, 3))
    train_x, train_y = _toy(rng, palette, 20)
    test_x, test_y = _toy(rng, palette, 1)
    torch.manual_seed(0)
    model = Normalized(Normalize((0.5,) * 3, (0.25,) * 3), SmallCNN(10, (8, 16, 32)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = train_x, torch.from_numpy(train_y)
    for _ in range(60):
        batch = torch.randint(0, len(x), (64,))
        loss = F.cross_entropy(model.train()(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad()  # no .grad left, so the test can see the attacks leave none
    return model.eval(), test_x, test_y


def test_autoattack_is_at_least_as_strong_as_pgd_on_the_same_rows(trained, tmp_path: Path) -> None:
    model, x, y = trained
    torch.manual_seed(0)
    clean = correct_predictions(model, x, y)
    pgd = correct_predictions(model, x, y, attack=pgd_attack(model, EPS, steps=20))
    rng_before = torch.get_rng_state()
    result = run_autoattack(model, x, y, EPS, version="custom", attacks=ATTACKS, batch_size=10, seed=0,
                            state_path=tmp_path / "state.json")
    assert torch.equal(torch.get_rng_state(), rng_before)  # the attacks reseed inside; the caller's RNG is restored
    robust = result["per_image"]["robust"]
    assert 0.2 <= pgd.mean() < clean.mean()  # a meaningful comparison: PGD breaks some images, not all
    assert result["robust_acc"] <= pgd.mean(), (result["robust_acc"], pgd.mean())
    assert result["clean_acc"] == clean.mean() and not (robust & ~clean).any()
    assert list(result["robust_acc_after"]) == ATTACKS
    after = list(result["robust_acc_after"].values())
    assert after == sorted(after, reverse=True) and after[-1] == result["robust_acc"]
    codes = result["per_image"]["broken_by"]
    assert set(codes.tolist()) <= {-1, 0, 1, 2} and np.array_equal(codes == -1, robust)
    assert not any(p.requires_grad is False for p in model.parameters())  # parameters unfrozen again
    assert all(p.grad is None for p in model.parameters())

    # The same rows through the package's own loop (same batches, same seed) give the same images robust.
    AutoAttack = autoattack_class()
    own = AutoAttack(model, attacks=ATTACKS, eps=EPS, seed=0, version="custom", device="cpu")
    with torch.random.fork_rng():
        _, y_adv = own.run_standard_evaluation(x, torch.from_numpy(y), batch_size=10)
    assert np.array_equal((y_adv == torch.from_numpy(y)).numpy(), robust)

    # Resume: rewind the stored state to "APGD-CE done, APGD-T not started"; the rerun gives the same result.
    state = read_json(tmp_path / "state.json")
    assert state["attack"] == 2 and state["broken_by"] == codes.tolist()
    state.update(attack=1, done=0, broken_by=[-1 if c == 2 else c for c in state["broken_by"]])
    write_json(tmp_path / "state.json", state)
    resumed = run_autoattack(model, x, y, EPS, version="custom", attacks=ATTACKS, batch_size=10, seed=0,
                             state_path=tmp_path / "state.json")
    assert np.array_equal(resumed["per_image"]["broken_by"], codes)
    with pytest.raises(ValueError, match="other settings \\(eps"):
        run_autoattack(model, x, y, 4 / 255, version="custom", attacks=ATTACKS, batch_size=10,
                       state_path=tmp_path / "state.json")


def test_standard_version_runs_the_four_attacks_in_order(trained) -> None:
    model, x, y = trained
    with torch.no_grad():
        wrong = (model(x).argmax(1).numpy() + 1) % 10  # labels the model gets wrong: AutoAttack has nothing to attack
    result = run_autoattack(model, x, wrong, 8 / 255)
    assert result["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"] and result["version"] == "standard"
    assert result["clean_acc"] == result["robust_acc"] == 0.0
    assert (result["per_image"]["broken_by"] == 0).all()
    assert result["package"] == "pyautoattack 0.2.0" and result["eps_255"] == pytest.approx(8.0)


def test_bad_arguments(trained) -> None:
    model, x, y = trained
    with pytest.raises(ValueError, match="version 'custom' needs attacks"):
        run_autoattack(model, x, y, EPS, version="custom")
    with pytest.raises(ValueError, match="attacks are chosen by version 'standard'"):
        run_autoattack(model, x, y, EPS, attacks=["apgd-ce"])
    with pytest.raises(ValueError, match="version must be one of"):
        run_autoattack(model, x, y, EPS, version="plus-plus")
    with pytest.raises(ValueError, match="larger than the whole"):
        run_autoattack(model, x, y, 8)
