"""Batched, on-device augmentation: random crop with zero padding and horizontal flip.

One advanced-indexing gather does both for the whole batch, so there is no per-sample Python
and the result is bit-exact on every device (pure integer indexing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Crop each image of ``x`` (B, C, H, W) from its ``pad``-zero-padded copy and mirror some.

    ``offsets`` (B, 2) are the (dy, dx) of the window's top-left corner in the padded image, in
    [0, 2*pad]; ``flips`` (B,) bool mirrors the cropped window left-right. Equals, per image,
    ``np.pad(img)[:, dy:dy+H, dx:dx+W]`` followed by ``[..., ::-1]`` where flipped.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    cols_forward = torch.arange(w, device=x.device).expand(b, w)
    cols = offsets[:, 1, None] + torch.where(flips[:, None], cols_forward.flip(1), cols_forward)  # (B, W)
    batch_index = torch.arange(b, device=x.device)[:, None, None, None]
    channel_index = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]
