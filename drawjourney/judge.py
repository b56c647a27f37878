"""The judge: a small MNIST classifier that scores generated digits.

The package trains it (`train_judge`) and ships its weights as
``drawjourney/assets/judge.pt``; `judge()` loads them. `drawjourney.metrics` builds
FID-MNIST, label accuracy and the class histogram on it, and re-exports every name here.

Images everywhere are float tensors (N, 1, H, W) in [0, 1] with H = W = 28 or 16, on any
device (`check_images`); the judge moves them to its own device in batches.
"""
from __future__ import annotations

import functools
import hashlib
import math
import numbers
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import runtime

ASSET_PATH = Path(__file__).resolve().parent / "assets" / "judge.pt"
"""Where the shipped judge's weights live."""

IMAGE_SIZES = (16, 28)
"""Image sizes the judge accepts; 16x16 images are upsampled to 28x28 inside."""

RANGE_TOLERANCE = 1e-3
"""Pixels may stray this far outside [0, 1] (rounding in a sampler); they are clipped."""

N_CLASSES = 10

JUDGE_EPOCHS = 5
"""Training budget of the shipped judge when no minutes are given (469 steps an epoch)."""


class JudgeNotFoundError(FileNotFoundError):
    """The shipped judge weights are missing."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class JudgeConfig:
    """A LeNet-sized conv net: three conv blocks (conv, batch norm, ReLU, 2x2 max-pool),
    then a hidden layer of `feature_dim` units (the FID features), then `n_classes` logits."""

    channels: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 64
    n_classes: int = N_CLASSES

    def __post_init__(self):
        if (not isinstance(self.channels, tuple) or len(self.channels) != 3
                or not all(_is_int(c) and c > 0 for c in self.channels)):
            raise ValueError(f"channels must be a tuple of three positive ints (one per conv "
                             f"block), got {self.channels!r}")
        for name in ("feature_dim", "n_classes"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


class Judge(nn.Module):
    """An MNIST classifier used to score generated digits.

    `forward(x)` takes (B, 1, 28, 28) or (B, 1, 16, 16) images in [0, 1] on the judge's
    device and returns logits (B, n_classes); it is differentiable and does no checks.
    `logits`, `features` and `predict` are the checked, batched, no-grad versions that
    accept images on any device. logits = head(features).
    """

    def __init__(self, config: JudgeConfig = JudgeConfig()):
        super().__init__()
        if not isinstance(config, JudgeConfig):
            raise TypeError(f"config must be a JudgeConfig, got {type(config).__name__}")
        self.config = config
        c1, c2, c3 = config.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
            nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(c2, c3, 3, padding=1), nn.BatchNorm2d(c3), nn.ReLU(), nn.MaxPool2d(2),  # 3x3
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(c3 * 3 * 3, config.feature_dim), nn.ReLU())
        self.head = nn.Linear(config.feature_dim, config.n_classes)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 28:
            # The net sees 28x28 only; 16x16 digits are upsampled (bilinear) to that size.
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self.hidden(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(x))

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate-layer activations (N, feature_dim), float32 on the judge's device."""
        return self._batched(self._features, x, batch_size)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Class logits (N, n_classes), float32 on the judge's device."""
        return self._batched(self.forward, x, batch_size)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted digit (N,), int64 on the judge's device."""
        return self.logits(x, batch_size).argmax(dim=1)

    def _batched(self, fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        x = check_images(x)
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        dev = self.device
        # Batches bound memory and let samples live on another device than the judge.
        return torch.cat([fn(x[i:i + batch_size].to(dev, torch.float32))
                          for i in range(0, x.shape[0], batch_size)])


def check_images(x, name: str = "images") -> torch.Tensor:
    """`x` as float (N, 1, H, W) in [0, 1], H = W in `IMAGE_SIZES`; else a ValueError.

    Values within `RANGE_TOLERANCE` outside [0, 1] are clipped; bool tensors become 0/1.
    The tensor stays on its device.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, 1, H, W), got {type(x).__name__}")
    if x.dtype == torch.bool:
        x = x.float()
    if not x.is_floating_point():
        raise ValueError(f"{name} must be float images in [0, 1], got dtype {x.dtype} "
                         f"(for uint8 pixels use x.float() / 255)")
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3] or x.shape[2] not in IMAGE_SIZES:
        raise ValueError(f"{name} must have shape (N, 1, H, H) with H in {IMAGE_SIZES}, got "
                         f"{tuple(x.shape)} (flat vectors: x.view(-1, 1, 28, 28))")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contain NaN or infinite values")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                         f"(images in [-1, 1]? use (x + 1) / 2)")
    return x.clamp(0.0, 1.0)


_HOW_TO_MAKE = ("Train it (a few minutes on a CPU) with\n"
                "  python -m drawjourney train judge\n"
                "or, in Python, drawjourney.judge.train_and_save_judge(path=drawjourney.judge.ASSET_PATH)")


def judge(device=None) -> Judge:
    """The shipped judge on `device` (default `runtime.device()`), in eval mode, frozen.

    Loaded once per device and cached. Raises `JudgeNotFoundError` if the weights file
    is missing and `checkpoint.CheckpointError` if it is unreadable, each saying how to
    make it.
    """
    return _load_judge(str(runtime.device(device)))


@functools.lru_cache(maxsize=4)
def _load_judge(device: str) -> Judge:
    from drawjourney import checkpoint

    if not ASSET_PATH.is_file():
        raise JudgeNotFoundError(f"the judge's weights are missing: {ASSET_PATH}\n{_HOW_TO_MAKE}")
    try:
        model = checkpoint.load(ASSET_PATH, device=device, expect=Judge)
    except checkpoint.CheckpointError as err:
        raise checkpoint.CheckpointError(f"the shipped judge cannot be loaded: {err}\n"
                                         f"{_HOW_TO_MAKE}") from None
    model.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=1)
def asset_digest() -> str:
    """A short sha256 of the shipped judge's weights file, to key caches of what it computed."""
    try:
        return hashlib.sha256(ASSET_PATH.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        raise JudgeNotFoundError(f"the judge's weights are missing: {ASSET_PATH}\n{_HOW_TO_MAKE}") from None


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to ±2 px, then a quarter each of: as is, binarized,
    down-up-sampled through 16x16, and binarized at 16x16 then upsampled (what a
    statically binarized 16x16 digit looks like to the judge), so that the judge reads
    every kind of digit the course draws."""
    B, _, H, W = x.shape
    dev = x.device
    shift = torch.randint(0, 5, (2, B), generator=generator, device=dev)
    padded = F.pad(x, (2, 2, 2, 2))
    rows = (shift[0][:, None] + torch.arange(H, device=dev))[:, :, None]   # (B, H, 1)
    cols = (shift[1][:, None] + torch.arange(W, device=dev))[:, None, :]   # (B, 1, W)
    x = padded[torch.arange(B, device=dev)[:, None, None], 0, rows, cols].unsqueeze(1)
    kind = torch.randint(0, 4, (B, 1, 1, 1), generator=generator, device=dev)
    binary = torch.bernoulli(x, generator=generator)
    small = F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    blurred = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)
    small_binary = F.interpolate(torch.bernoulli(small, generator=generator), size=(H, W),
                                 mode="bilinear", align_corners=False)
    return torch.where(kind == 0, binary, torch.where(kind == 1, blurred,
                                                      torch.where(kind == 2, small_binary, x)))


def _check_budget(minutes, epochs) -> None:
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, numbers.Real):
            raise TypeError(f"minutes must be a number or None, got {type(minutes).__name__}")
        if not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"minutes must be a positive finite number, got {minutes!r}")
    if epochs is not None and (not _is_int(epochs) or epochs <= 0):
        raise ValueError(f"epochs must be a positive int or None, got {epochs!r}")


def train_judge(minutes: float | None = None, epochs: int | None = None, device=None, seed: int = 0,
                *, batch_size: int = 128, lr: float = 3e-3, progress: bool = True,
                config: JudgeConfig = JudgeConfig()) -> tuple[Judge, float]:
    """Train a judge on the MNIST train split; returns (judge in eval mode, test accuracy).

    Budget: `epochs` (`JUDGE_EPOCHS` when no `minutes` are given) or `minutes`; with
    both, whichever ends first, the learning-rate schedule following epochs. Adam with a
    cosine learning-rate decay over the budget, on augmented 28x28 digits (see
    `_augment`). Test accuracy is the fraction in [0, 1] on all 10k MNIST test images at
    28x28. With an epoch budget, the same seed on the same device gives the same judge.
    """
    from drawjourney import data, train

    _check_budget(minutes, epochs)
    if not _is_int(batch_size) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not isinstance(config, JudgeConfig):
        raise TypeError(f"config must be a JudgeConfig, got {type(config).__name__}")
    if config.n_classes != N_CLASSES:
        raise ValueError(f"the judge learns MNIST's {N_CLASSES} digits, so config.n_classes "
                         f"must be {N_CLASSES}, got {config.n_classes}")
    if minutes is None and epochs is None:
        epochs = JUDGE_EPOCHS
    dev = runtime.device(device)
    runtime.seed(seed)
    model = Judge(config).to(dev)
    train_set = data.mnist("train", size=28, device=dev)
    loader = data.batches(train_set, batch_size, seed=seed)
    total_steps = epochs * len(loader) if epochs is not None else None
    gen = torch.Generator(device=dev).manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    state = {"step": 0}

    def progress_fraction() -> float:
        if total_steps is not None:
            return state["step"] / total_steps
        return (time.perf_counter() - start) / (60.0 * minutes)

    def step(batch):
        x, y = batch
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_fraction())))
        loss = F.cross_entropy(model(_augment(x, gen)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        return loss

    model.train()
    train.fit(step, loader, epochs=epochs, minutes=minutes, progress=progress, desc="judge")
    model.eval().requires_grad_(False)
    test = data.mnist("test", size=28, device=dev)
    accuracy = float((model.predict(test.images) == test.labels.to(dev)).float().mean())
    return model, accuracy


def _writable_file(path) -> Path:
    """`path` as a Path whose folder exists (created) and can be written; else a clear error."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
    if str(path).strip() == "":
        raise ValueError("path is empty; give a file such as runs/judge.pt")
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"path {path} is a folder; give a file such as {path / 'judge.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"path {path}: cannot create its folder ({err.strerror or err})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"path {path} is not writable")
    return path


def train_and_save_judge(path=Path("runs/judge.pt"), minutes: float | None = None,
                         epochs: int | None = None, device=None, seed: int = 0,
                         progress: bool = True) -> tuple[Path, float]:
    """Train a judge (`train_judge`), measure it on the MNIST test split, save it to `path`.

    path: where to write; by default ``runs/judge.pt`` under the working directory, so
        the shipped judge is never replaced by accident. Replacing it is explicit:
        ``path=ASSET_PATH`` (the judge and FID caches are then cleared). The path is
        checked before training starts.
    Returns (path, test accuracy in [0, 1]). The checkpoint's metrics hold test_accuracy
    (28x28), test_accuracy_16 (test images downsampled to 16x16), test_accuracy_16_binary
    (those, statically binarized), params, train_seconds and hardware; read them with
    `drawjourney.checkpoint.info(path)`.
    """
    from drawjourney import checkpoint, data

    path = _writable_file(path)
    dev = runtime.device(device)
    if minutes is None and epochs is None:
        epochs = JUDGE_EPOCHS
    start = time.perf_counter()
    model, accuracy = train_judge(minutes=minutes, epochs=epochs, device=dev, seed=seed,
                                  progress=progress)
    seconds = time.perf_counter() - start
    test16 = data.mnist("test", size=16, device=dev)
    accuracy16 = float((model.predict(test16.images) == test16.labels).float().mean())
    test16b = data.mnist("test", size=16, binarize="static", device=dev)
    accuracy16b = float((model.predict(test16b.images) == test16b.labels).float().mean())
    hardware = (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                else f"{dev.type}, {torch.get_num_threads()} threads")
    metrics = {"test_accuracy": accuracy, "test_accuracy_16": accuracy16,
               "test_accuracy_16_binary": accuracy16b,
               "params": sum(p.numel() for p in model.parameters()),
               "train_seconds": round(seconds, 1), "hardware": hardware,
               "epochs": epochs, "minutes": minutes, "seed": seed}
    path = checkpoint.save(model, path, metrics=metrics,
                           note="drawjourney.judge.train_judge: the MNIST classifier behind "
                                "FID-MNIST and label accuracy")
    if path.resolve() == ASSET_PATH.resolve():
        _load_judge.cache_clear()
        asset_digest.cache_clear()
    return path, accuracy
