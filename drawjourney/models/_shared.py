"""Checks the model files share (no model of their own, so the bench finds no family here)."""
from __future__ import annotations

import torch


def class_labels(labels, n_classes: int, batch: int, device, owner: str) -> torch.Tensor:
    """`labels` as an int64 (batch,) tensor on `device`, each in [0, n_classes), or a clear
    ValueError naming `owner` (e.g. "this VAE") for a model that takes none or for bad ones."""
    C = n_classes
    if C == 0:
        raise ValueError(f"{owner} is unconditional (n_classes = 0): call it without labels")
    try:
        labels = torch.as_tensor(labels, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"labels must be {batch} ints in [0, {C}), got "
                         f"{type(labels).__name__}") from None
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"labels must be ints in [0, {C}), got {labels.dtype}")
    if tuple(labels.shape) != (batch,):
        raise ValueError(f"labels must have shape ({batch},), one per image, got "
                         f"{tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= C:
        raise ValueError(f"labels must lie in [0, {C}), got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels.long()


def unit_images(x, size: int, like: torch.Tensor,
                hint: str = "binarized MNIST for the likelihoods") -> torch.Tensor:
    """x as (B, 1, size, size) pixels in [0, 1] on `like`'s device and dtype, or a clear
    TypeError / ValueError; `hint` says in the message what the pixels should be."""
    S = size
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be an image tensor (B, 1, {S}, {S}), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, S, S) or x.shape[0] == 0:
        raise ValueError(f"x must be images of shape (B, 1, {S}, {S}) with B >= 1, "
                         f"got {tuple(x.shape)}")
    x = x.to(like.device, like.dtype)
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"x must hold pixel values in [0, 1] ({hint})")
    return x
