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
