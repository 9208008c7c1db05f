"""AutoAttack (Croce & Hein 2020), the field's standard robustness evaluation, through PyPI ``pyautoattack``.

``pyautoattack`` (pinned in ``requirements-autoattack.txt``, imported only here and only when used)
packages fra31/auto-attack with a different API: it is imported as ``pyautoattack``, a custom list is
``AutoAttack(model, attacks=[...], version="custom")`` (keyword-only), and ``run_standard_evaluation``
returns ``(x_adv, y_adv)``, not just the adversarial images. Its own ``state_path`` resume fails in
0.2.0 once a state is restored (``y_adv`` is then never defined), so resuming is done here.

AutoAttack runs its attacks in sequence, each only on the images that every earlier attack failed to
break; an image counts as robust when it is classified correctly clean and under every attack (the
per-image worst case). :func:`run_autoattack` does exactly that, one attack and one batch of still-robust
images at a time, with the same batches and seeds as the package's own loop, so it gives the same
result while recording which attack broke each image and saving its position after every batch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from atlib import progress
from atlib.attacks import _frozen, check_epsilon
from atlib.evaluate import ATTACKS, VERSIONS
from atlib.evaluate.accuracy import _to_images, correct_predictions
from atlib.evaluate.robust import robust_rows
from atlib.store.io import read_json, write_json

PACKAGE = "pyautoattack"
PINNED = "0.2.0"
INSTALL = f"pip install -r requirements-autoattack.txt  (or: pip install {PACKAGE}=={PINNED})"
CLEAN_WRONG, ROBUST = 0, -1  # codes in ``broken_by`` besides 1 + the index of the attack that broke the image


def autoattack_class() -> type:
    """``pyautoattack.AutoAttack``, or an ImportError that says how to install it."""
    try:
        from pyautoattack import AutoAttack
    except ImportError as err:
        raise ImportError(f"AutoAttack needs the optional package {PACKAGE}: {INSTALL}") from err
    return AutoAttack


def run_autoattack(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    *,
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    batch_size: int = 500,
    seed: int = 0,
    state_path: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """L-infinity AutoAttack of budget ``eps`` (pixel units) on images ``x`` with labels ``y``.

    ``x`` is uint8 (N, H, W, 3) or float (N, C, H, W) in [0, 1]; ``model`` (already on ``device``) takes
    [0, 1] pixels and runs in eval mode and fp32. ``version`` is AutoAttack's ``"standard"`` (APGD-CE,
    APGD-T, FAB-T, Square) or ``"rand"`` (APGD-CE, APGD-DLR with EOT, for randomized defenses), or
    ``"custom"`` with ``attacks`` a list from :data:`ATTACKS`. Attack randomness is seeded with ``seed``;
    the caller's RNG state is left as it was. With ``state_path`` the position is saved (JSON) after
    every batch, and a later call with the same settings and images continues from it.

    Returns a JSON-ready dict: ``clean_acc``, ``robust_acc`` (worst case over the attacks),
    ``robust_acc_after`` (robust accuracy after each attack in turn), the settings, and ``per_image``:
    bool (N,) arrays ``clean`` and ``robust``, and int8 ``broken_by`` (-1 robust, 0 wrong when clean,
    k >= 1 broken by ``attacks[k - 1]``).
    """
    AutoAttack = autoattack_class()
    eps = check_epsilon(eps)
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    if version == "custom":
        unknown = sorted(set(attacks or ()) - set(ATTACKS))
        if not attacks or unknown:
            raise ValueError(f"version 'custom' needs attacks, a list from {ATTACKS}; got {attacks!r}")
        attacks = list(attacks)
    elif attacks is not None:
        raise ValueError(f"attacks are chosen by version {version!r}; pass version='custom' to give your own list")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = _to_images(x, "cpu").contiguous()  # the package views gradients as (B, -1)
    y = torch.as_tensor(np.asarray(y) if isinstance(y, np.ndarray) else y).to("cpu", torch.int64)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"need as many labels as images (and at least one), got {len(x)} images and {len(y)} labels")
    device = torch.device(device)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), \
            _frozen(model, train=False), torch.autocast(device.type, enabled=False):
        adversary = AutoAttack(model, attacks=attacks, device=device, eps=eps, norm="Linf", seed=seed, version=version)
        order = list(adversary.attacks_to_run)
        settings = {"eps": eps, "version": version, "attacks": order, "seed": seed, "batch_size": batch_size,
                    "n": len(y), "images_sha1": _fingerprint(x, y), "package": f"{PACKAGE} {_package_version()}"}
        state = _State.open(state_path, settings)
        if state.broken_by is None:
            clean = correct_predictions(model, x, y, batch_size, device)
            state.broken_by = np.where(clean, ROBUST, CLEAN_WRONG).astype(np.int8)
            state.save()
        for k in range(state.attack, len(order)):
            # Candidates: the images robust before attack k (those it already broke included, for a resume).
            candidates = np.flatnonzero((state.broken_by == ROBUST) | (state.broken_by == k + 1))
            for start in range(state.done, len(candidates), batch_size):
                rows = candidates[start : start + batch_size]
                adversary.attacks_to_run = [order[k]]
                _, y_adv = adversary.run_standard_evaluation(x[rows], y[rows], batch_size=len(rows))
                state.broken_by[rows[(y_adv.cpu() != y[rows]).numpy()]] = k + 1
                state.done = start + len(rows)
                state.save()
            state.attack, state.done = k + 1, 0
            state.save()

    broken_by = state.broken_by
    robust = broken_by == ROBUST
    return {
        "attack": "AutoAttack (L-inf)",
        **{key: settings[key] for key in ("version", "attacks", "seed", "n", "package")},
        "eps": eps,
        "eps_255": eps * 255,
        "precision": "fp32",
        "clean_acc": float((broken_by != CLEAN_WRONG).mean()),
        "robust_acc": float(robust.mean()),
        "robust_acc_after": {a: float(((broken_by == ROBUST) | (broken_by > k + 1)).mean()) for k, a in enumerate(order)},
        "per_image": {"clean": broken_by != CLEAN_WRONG, "robust": robust, "broken_by": broken_by.copy()},
    }


def autoattack_evaluation(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    eps_255: Sequence[float],
    n: int,
    *,
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
    seed: int = 0,
    state_dir: str | Path | None = None,
) -> dict[str, Any]:
    """AutoAttack at each budget in ``eps_255`` (1/255 units) on the same class-balanced rows as PGD
    (:func:`atlib.evaluate.robust.robust_rows`), as stored in a run's final metrics.

    Returns ``rows`` (indices into ``images``), the settings, ``clean_acc``, and per budget (keys like
    ``"8"``) ``robust_acc``, ``robust_acc_after`` and ``per_image`` lists ``robust`` (bool) and
    ``broken_by`` (see :func:`run_autoattack`). ``state_dir`` keeps one resumable state file per budget.
    """
    rows = robust_rows(labels, n)
    x, y = images[rows], np.asarray(labels)[rows]
    out: dict[str, Any] = {"rows": rows.tolist(), "n": int(len(rows)), "robust_acc": {}, "robust_acc_after": {},
                           "per_image": {}}
    for eps in eps_255:
        key = f"{eps:g}"
        state_path = None if state_dir is None else Path(state_dir) / f"autoattack_{key}.json"
        result = run_autoattack(model, x, y, eps / 255, version=version, attacks=attacks, batch_size=batch_size,
                                seed=seed, state_path=state_path, device=device)
        per_image = result.pop("per_image")
        out["robust_acc"][key] = result.pop("robust_acc")
        out["robust_acc_after"][key] = result.pop("robust_acc_after")
        out["per_image"][key] = {"robust": per_image["robust"].tolist(), "broken_by": per_image["broken_by"].tolist()}
        progress.line(f"AutoAttack ({version}) eps {key}/255: robust accuracy {out['robust_acc'][key]:.4f} on {len(rows)} "
                      "test images")
        out.update({k: v for k, v in result.items() if k not in ("eps", "eps_255")})
    return out


def _fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """Identifies the images and labels a saved state belongs to."""
    digest = hashlib.sha1(x.numpy().tobytes())
    digest.update(y.numpy().tobytes())
    return digest.hexdigest()


def _package_version() -> str:
    import pyautoattack

    return str(getattr(pyautoattack, "__version__", "unknown"))


class _State:
    """Where an evaluation stands: per-image ``broken_by`` codes, the attack in progress and how many of
    its candidates are done; saved atomically to ``path`` (None: kept in memory only)."""

    def __init__(self, path: Path | None, settings: dict[str, Any]) -> None:
        self.path, self.settings = path, settings
        self.broken_by: np.ndarray | None = None
        self.attack, self.done = 0, 0

    @classmethod
    def open(cls, path: str | Path | None, settings: dict[str, Any]) -> "_State":
        state = cls(None if path is None else Path(path), settings)
        if state.path is not None and state.path.exists():
            stored = read_json(state.path)
            if stored.get("settings") != settings:
                differ = sorted(k for k in settings if stored.get("settings", {}).get(k) != settings[k])
                raise ValueError(f"{state.path} holds an AutoAttack evaluation with other settings ({', '.join(differ)}): "
                                 "delete it or choose another state_path")
            state.broken_by = None if stored["broken_by"] is None else np.asarray(stored["broken_by"], dtype=np.int8)
            state.attack, state.done = int(stored["attack"]), int(stored["done"])
        return state

    def save(self) -> None:
        if self.path is not None:
            broken_by = None if self.broken_by is None else self.broken_by.tolist()
            write_json(self.path, {"settings": self.settings, "broken_by": broken_by, "attack": self.attack, "done": self.done})
