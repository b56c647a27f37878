"""How good is a generator? The numbers every chapter reports, in one place.

- The judge: a small MNIST classifier trained by the package (`train_judge`), shipped as
  ``drawjourney/assets/judge.pt`` and loaded by `judge()`.
- FID-MNIST (`fid_mnist`): the Fréchet distance between Gaussians fitted to the judge's
  penultimate features of samples and of real MNIST. It is comparable only within this
  project (same judge weights, same reference split, same number of samples), never with
  Inception-based FID values from papers.
- `label_accuracy` and `class_histogram` for conditional and unconditional samples.
- Likelihood units: `nats_to_bits_per_dim`, `bits_per_dim_to_nats`, `bits_per_dim`.
- `iwae_nll`: the importance-weighted bound on -log p(x) for latent-variable models.
- `ais_log_partition`: annealed importance sampling of log Z for a binary RBM, with
  `rbm_free_energy` and `rbm_log_partition_exact` (enumeration) for tiny RBMs.

Images everywhere are float tensors (N, 1, H, W) in [0, 1] with H = W = 28 or 16, on any
device; the judge moves them to its own device in batches.
"""
from __future__ import annotations

import functools
import hashlib
import math
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


# ----------------------------------------------------------------------------- the judge


@dataclass(frozen=True)
class JudgeConfig:
    """A LeNet-sized conv net: three conv blocks (conv, batch norm, ReLU, 2x2 max-pool),
    then a hidden layer of `feature_dim` units (the FID features), then `n_classes` logits."""

    channels: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 64
    n_classes: int = N_CLASSES


class Judge(nn.Module):
    """An MNIST classifier used to score generated digits.

    `forward(x)` takes (B, 1, 28, 28) or (B, 1, 16, 16) images in [0, 1] on the judge's
    device and returns logits (B, n_classes); it is differentiable and does no checks.
    `logits`, `features` and `predict` are the checked, batched, no-grad versions that
    accept images on any device.
    """

    def __init__(self, config: JudgeConfig = JudgeConfig()):
        super().__init__()
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
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
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


def judge(device=None) -> Judge:
    """The shipped judge on `device` (default `runtime.device()`), in eval mode, frozen.

    Loaded once per device and cached. Raises `JudgeNotFoundError` if the weights file
    is missing, saying how to make it.
    """
    dev = runtime.device() if device is None else torch.device(device)
    return _load_judge(str(dev))


@functools.lru_cache(maxsize=4)
def _load_judge(device: str) -> Judge:
    from drawjourney import checkpoint

    if not ASSET_PATH.is_file():
        raise JudgeNotFoundError(
            f"the judge's weights are missing: {ASSET_PATH}\n"
            f"Train them (a few minutes on a CPU) with\n  python -m drawjourney train judge\n"
            f"or, in Python, drawjourney.metrics.train_and_save_judge()")
    model = checkpoint.load(ASSET_PATH, device=device, expect=Judge)
    model.requires_grad_(False)
    return model


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

    if minutes is None and epochs is None:
        epochs = JUDGE_EPOCHS
    dev = runtime.device() if device is None else torch.device(device)
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


def train_and_save_judge(path=ASSET_PATH, minutes: float | None = None, epochs: int | None = None,
                         device=None, seed: int = 0, progress: bool = True) -> tuple[Path, float]:
    """Train a judge (`train_judge`), measure it on the MNIST test split, save it to `path`.

    Returns (path, test accuracy in [0, 1]). The checkpoint's metrics hold test_accuracy
    (28x28), test_accuracy_16 (test images downsampled to 16x16), test_accuracy_16_binary
    (those, statically binarized), params, train_seconds and hardware; read them with `drawjourney.checkpoint.info(path)`.
    """
    from drawjourney import checkpoint, data

    dev = runtime.device() if device is None else torch.device(device)
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
                           note="drawjourney.metrics.train_judge: the MNIST classifier behind "
                                "FID-MNIST and label accuracy")
    if path.resolve() == ASSET_PATH:
        _load_judge.cache_clear()
        _judge_digest.cache_clear()
    return path, accuracy


# ----------------------------------------------------------------------------- FID-MNIST


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), float64 on the CPU."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (N, D) with N >= 2, got {tuple(features.shape)}")
    f = features.detach().to("cpu", torch.float64)
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = torch.linalg.eigh(_sym(matrix))
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor,
                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), in squared feature
    units, computed in float64 with symmetric eigendecompositions (no scipy).
    """
    mu1, mu2, sigma1, sigma2 = (t.to("cpu", torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; "
                         f"sigma {tuple(sigma1.shape)}, {tuple(sigma2.shape)}")
    root1 = _sqrt_psd(sigma1)
    cross = torch.linalg.eigvalsh(_sym(root1 @ sigma2 @ root1)).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * cross
    return max(float(value), 0.0)


def _sym(m: torch.Tensor) -> torch.Tensor:
    return (m + m.T) / 2


@functools.lru_cache(maxsize=1)
def _judge_digest() -> str:
    return hashlib.sha256(ASSET_PATH.read_bytes()).hexdigest()[:16]


_REFERENCE_STATS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def fid_reference_stats(split: str = "test", size: int = 28, device=None,
                        disk_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Judge-feature mean (D,) and covariance (D, D), float64, of a whole MNIST split.

    Computed once per (split, size, judge weights) and kept in memory; with `disk_cache`
    also stored in ``~/.cache/drawjourney/fid-mnist`` (skipped if that is not writable).
    """
    from drawjourney import data

    if split not in data.SPLITS or size not in IMAGE_SIZES:
        raise ValueError(f"reference split must be one of {data.SPLITS} and size one of "
                         f"{IMAGE_SIZES}, got {split!r}, {size}")
    key = (split, size, _judge_digest())
    if key in _REFERENCE_STATS:
        return _REFERENCE_STATS[key]
    folder = Path.home() / ".cache" / "drawjourney" / "fid-mnist"
    path = folder / f"mnist-{split}-{size}-judge-{key[2]}.pt"
    stats = None
    if disk_cache and path.is_file():
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            stats = (loaded["mu"], loaded["sigma"])
        except Exception:  # a corrupt or foreign cache file is recomputed, never trusted
            stats = None
    if stats is None:
        model = judge(device)
        images = data.mnist(split, size=size, device=model.device).images
        stats = feature_statistics(model.features(images))
        if disk_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                torch.save({"mu": stats[0], "sigma": stats[1]}, tmp)
                tmp.replace(path)
            except OSError:  # a read-only home is fine: the memory cache still holds it
                pass
    _REFERENCE_STATS[key] = stats
    return stats


def fid_mnist(samples: torch.Tensor, reference="test", *, device=None,
              disk_cache: bool = True) -> float:
    """FID-MNIST: Fréchet distance between judge features of `samples` and of `reference`.

    samples: (N, 1, H, W) in [0, 1], H = 28 or 16, any device, N >= 2 (use 10k to compare).
    reference: "test" (default) or "train": that whole MNIST split at the samples' size,
        grey (not binarized), with cached statistics (`fid_reference_stats`); or a tensor
        of images like `samples`. Real digits binarized with ``binarize="static"`` score
        about 4 (28x28) or 12 (16x16) against the grey split (10k each, the shipped
        judge); compare binary samples with ``data.mnist("test", binarize="static").images``.
    Returns a float >= 0 in squared judge-feature units; 0 for identical sets. The value
    depends on N (fewer samples, larger FID) and on the judge's weights: compare
    FID-MNIST only within this project, at the same N, never with Inception FID.
    """
    model = judge(device)
    samples = check_images(samples, "samples")
    mu1, sigma1 = feature_statistics(model.features(samples))
    if isinstance(reference, str):
        mu2, sigma2 = fid_reference_stats(reference, samples.shape[-1], model.device, disk_cache)
    else:
        reference = check_images(reference, "reference")
        mu2, sigma2 = feature_statistics(model.features(reference))
    return frechet_distance(mu1, sigma1, mu2, sigma2)


# ----------------------------------------------------------------------------- labels


def label_accuracy(samples: torch.Tensor, labels, *, device=None) -> float:
    """Fraction in [0, 1] of `samples` (N, 1, H, W) the judge classifies as `labels` (N,)."""
    samples = check_images(samples, "samples")
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.shape[0] != samples.shape[0] or labels.is_floating_point():
        raise ValueError(f"labels must be integers of shape ({samples.shape[0]},), got "
                         f"{labels.dtype} {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"labels must lie in 0..{N_CLASSES - 1}, got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    predicted = judge(device).predict(samples)
    return float((predicted == labels.to(predicted.device)).float().mean())


@dataclass(frozen=True)
class ClassHistogram:
    """How the judge spreads samples over the ten digits.

    counts: int64 (10,) on the CPU; entropy_bits: entropy of the predicted-label
    distribution in bits (log2(10) = 3.32 when uniform, 0 when one class);
    max_fraction: share of the most common class (0.1 when uniform); n: samples.
    """

    counts: torch.Tensor
    entropy_bits: float
    max_fraction: float
    n: int

    @property
    def fractions(self) -> torch.Tensor:
        return self.counts.double() / self.n


def class_histogram(samples: torch.Tensor, *, device=None) -> ClassHistogram:
    """Predicted-class counts of `samples` (N, 1, H, W): a mode-coverage check."""
    predicted = judge(device).predict(samples).cpu()
    counts = torch.bincount(predicted, minlength=N_CLASSES)
    p = counts.double() / counts.sum()
    nonzero = p[p > 0]
    entropy = max(0.0, float(-(nonzero * nonzero.log2()).sum()))  # one class: 0.0, not -0.0
    return ClassHistogram(counts, entropy, float(p.max()), int(counts.sum()))


# ----------------------------------------------------------------------------- units


def _check_dims(dims) -> None:
    if isinstance(dims, bool) or not isinstance(dims, int) or dims <= 0:
        raise ValueError(f"dims must be a positive int (e.g. 784), got {dims!r}")


def nats_to_bits_per_dim(nats, dims: int):
    """A negative log-likelihood of D = `dims` values in nats -> bits per dimension.

    bits/dim = nats / (D ln 2). No dequantization offset is added (see `bits_per_dim`).
    Works on floats and tensors.
    """
    _check_dims(dims)
    return nats / (dims * math.log(2))


def bits_per_dim_to_nats(bits_per_dim_value, dims: int):
    """Inverse of `nats_to_bits_per_dim`: bits/dim -> nats for D = `dims` values."""
    _check_dims(dims)
    return bits_per_dim_value * dims * math.log(2)


def bits_per_dim(log_prob_nats, dims: int, *, dequantized_8bit: bool):
    """Bits per dimension of 8-bit data from a model's log-likelihood (nats, per example).

    dequantized_8bit=True: `log_prob_nats` is log p(y), a density over [0, 1]^D of the
        dequantized data y = (x + u) / 256, x in {0..255}^D, u ~ U[0, 1)^D (a flow).
        Scaling by 256 per dimension turns it into a density on the integer grid, so
        bits/dim = (-log p(y) + D log 256) / (D log 2).
    dequantized_8bit=False: `log_prob_nats` is already a log-probability of the discrete
        data (e.g. a 256-way PixelCNN), so bits/dim = -log p(x) / (D log 2).
    A uniform model gives 8 bits/dim in both conventions. Floats or tensors.
    """
    _check_dims(dims)
    if not isinstance(dequantized_8bit, bool):
        raise ValueError(f"dequantized_8bit must be True or False, got {dequantized_8bit!r}")
    nll = -log_prob_nats + (dims * math.log(256) if dequantized_8bit else 0.0)
    return nats_to_bits_per_dim(nll, dims)


# ----------------------------------------------------------------------------- IWAE


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, k: int, *, chunk: int | None = None) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) in nats, one value per example (B,).

    model: has `log_importance_weights(x, k)` returning (k, B) log w_i =
        log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x).
    Returns -(logsumexp_i log w_i - log k), float64 on the weights' device: an upper bound on
    -log p(x) in expectation that tightens as k grows (k = 1: the negative ELBO). The k
    weights are drawn `chunk` at a time (default all at once) and combined exactly with
    logsumexp, so memory grows with `chunk`, not k. Randomness is the model's own.
    """
    method = getattr(model, "log_importance_weights", None)
    if not callable(method):
        raise TypeError(f"iwae_nll needs a model with log_importance_weights(x, k) -> (k, B); "
                        f"{type(model).__name__} has none")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}")
    chunk = k if chunk is None else chunk
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    B = x.shape[0]
    total = None
    done = 0
    while done < k:
        n = min(chunk, k - done)
        log_w = method(x, n)
        if not isinstance(log_w, torch.Tensor) or tuple(log_w.shape) != (n, B):
            got = tuple(log_w.shape) if isinstance(log_w, torch.Tensor) else type(log_w).__name__
            raise ValueError(f"log_importance_weights(x, {n}) must return a tensor of shape "
                             f"({n}, {B}) (samples, batch), got {got}")
        if torch.isnan(log_w).any():
            raise ValueError("log_importance_weights returned NaN")
        part = torch.logsumexp(log_w.double(), dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        done += n
    return -(total - math.log(k))


# ----------------------------------------------------------------------------- RBM


def _rbm_params(W, b, c) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    W, b, c = (torch.as_tensor(t).detach() for t in (W, b, c))
    if W.dim() != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(f"RBM parameters must be W (n_visible, n_hidden), b (n_visible,), "
                         f"c (n_hidden,); got W {tuple(W.shape)}, b {tuple(b.shape)}, "
                         f"c {tuple(c.shape)}")
    return W, b, c


def rbm_free_energy(v: torch.Tensor, W, b, c) -> torch.Tensor:
    """Free energy F(v) = -b.v - sum_j softplus(c_j + (v W)_j) of a binary RBM, in nats.

    v: (N, n_visible) or images (N, 1, H, W) flattening to n_visible; returns (N,).
    p(v) = exp(-F(v)) / Z for the energy E(v, h) = -v W h - b.v - c.h.
    """
    W, b, c = _rbm_params(W, b, c)
    v = v.reshape(v.shape[0], -1) if v.dim() > 2 else v
    if v.dim() != 2 or v.shape[1] != W.shape[0]:
        raise ValueError(f"v must have shape (N, {W.shape[0]}) (or images of that many pixels), "
                         f"got {tuple(v.shape)}")
    v = v.to(W.dtype)
    return -(v @ b) - F.softplus(v @ W + c).sum(dim=1)


def _binary_states(n: int, start: int, stop: int, dtype, device) -> torch.Tensor:
    """Rows start..stop-1 of all 2^n binary vectors of length n, (stop - start, n)."""
    index = torch.arange(start, stop, device=device)
    return ((index[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


def rbm_log_partition_exact(W, b, c, *, max_states_log2: int = 24) -> float:
    """log Z of a binary RBM by enumeration, in nats (float64).

    Enumerates the smaller layer (2^min(n_visible, n_hidden) states, in chunks) and sums
    the other out analytically; refuses layers larger than `max_states_log2` units.
    """
    W, b, c = _rbm_params(W, b, c)
    W, b, c = W.double(), b.double(), c.double()
    if W.shape[1] < W.shape[0]:   # enumerate h: log Z = logsumexp_h c.h + sum_i softplus(b_i + (W h)_i)
        W, b, c = W.T, c, b
    n = W.shape[0]
    if n > max_states_log2:
        raise ValueError(f"exact enumeration needs 2^{n} states; use ais_log_partition, or "
                         f"raise max_states_log2 (now {max_states_log2}) if you have the time")
    parts = []
    step = 1 << 16
    for start in range(0, 1 << n, step):
        states = _binary_states(n, start, min(start + step, 1 << n), W.dtype, W.device)
        parts.append(torch.logsumexp(states @ b + F.softplus(states @ W + c).sum(dim=1), dim=0))
    return float(torch.logsumexp(torch.stack(parts), dim=0))


@dataclass(frozen=True)
class AISResult:
    """An AIS estimate of log Z, in nats.

    log_z: log of the mean importance weight (times the base model's Z).
    log_z_lower, log_z_upper: log(Z_hat -/+ 3 standard errors of Z_hat); the lower one
        is -inf when the weights are too spread to bound Z away from 0.
    log_w_std: standard deviation of the log weights (small: the anneal was smooth).
    ess: effective sample size (sum w)^2 / sum w^2, between 1 and n_chains.
    log_weights: (n_chains,) float64 on the CPU, log w of each chain plus log Z_base.
    """

    log_z: float
    log_z_lower: float
    log_z_upper: float
    log_w_std: float
    ess: float
    n_chains: int
    n_betas: int
    log_weights: torch.Tensor


def _betas(schedule, n_betas: int, dtype) -> torch.Tensor:
    if isinstance(schedule, torch.Tensor):
        betas = schedule.detach().to("cpu", torch.float64)
        if (betas.dim() != 1 or betas.numel() < 2 or float(betas[0]) != 0.0
                or float(betas[-1]) != 1.0 or (betas[1:] <= betas[:-1]).any()):
            raise ValueError("a schedule tensor must be 1-D, increasing, from 0 to 1")
        return betas
    if isinstance(n_betas, bool) or not isinstance(n_betas, int) or n_betas < 2:
        raise ValueError(f"n_betas must be an int >= 2, got {n_betas!r}")
    if schedule == "linear":
        return torch.linspace(0, 1, n_betas, dtype=torch.float64)
    if schedule == "geometric":
        # Equal ratios from 1e-4 up to 1: small steps where the base model still dominates.
        return torch.cat([torch.zeros(1, dtype=torch.float64),
                          torch.logspace(-4, 0, n_betas - 1, dtype=torch.float64)])
    raise ValueError(f"schedule must be 'linear', 'geometric' or a tensor of betas, got {schedule!r}")


@torch.no_grad()
def ais_log_partition(rbm, n_chains: int = 100, n_betas: int = 10_000, schedule="linear", *,
                      base_visible_bias=None, data: torch.Tensor | None = None,
                      seed: int = 0) -> AISResult:
    """Annealed importance sampling estimate of log Z for a binary RBM (Salakhutdinov &
    Murray 2008), in nats.

    rbm: anything with tensors `W` (n_visible, n_hidden), `b` (n_visible,), `c` (n_hidden,).
    The base RBM has zero weights and visible bias `base_visible_bias`, or, given `data`
    ((N, n_visible) or images in [0, 1]), log(p / (1 - p)) of the mean pixel p clipped to
    [1e-3, 1 - 1e-3]; else zeros. Its log Z is exact. Intermediate distributions
    p_k(v) ∝ exp(((1 - beta_k) b_A + beta_k b).v) prod_j (1 + exp(beta_k (c + v W)_j)),
    beta from 0 to 1 (`schedule` "linear", "geometric" or a tensor of betas); `n_chains`
    independent chains each take one Gibbs sweep (h then v) per intermediate beta.
    Runs on the device of `rbm.W`; deterministic for a seed.
    """
    for name in ("W", "b", "c"):
        if not isinstance(getattr(rbm, name, None), torch.Tensor):
            raise TypeError(f"ais_log_partition needs an RBM with tensor attributes W, b, c; "
                            f"{type(rbm).__name__} has no tensor {name!r}")
    W, b, c = _rbm_params(rbm.W, rbm.b, rbm.c)
    if isinstance(n_chains, bool) or not isinstance(n_chains, int) or n_chains < 1:
        raise ValueError(f"n_chains must be a positive int, got {n_chains!r}")
    n_visible, n_hidden = W.shape
    dev, dtype = W.device, W.dtype
    if base_visible_bias is not None and data is not None:
        raise ValueError("give base_visible_bias or data, not both")
    if data is not None:
        flat = data.reshape(data.shape[0], -1).to(dev, torch.float64)
        if flat.shape[1] != n_visible:
            raise ValueError(f"data must have {n_visible} values per example, got {tuple(data.shape)}")
        p = flat.mean(dim=0).clamp(1e-3, 1 - 1e-3)
        b_A = (p / (1 - p)).log().to(dtype)
    elif base_visible_bias is not None:
        b_A = torch.as_tensor(base_visible_bias).to(dev, dtype)
        if b_A.shape != (n_visible,):
            raise ValueError(f"base_visible_bias must have shape ({n_visible},), got {tuple(b_A.shape)}")
    else:
        b_A = torch.zeros(n_visible, device=dev, dtype=dtype)
    betas = _betas(schedule, n_betas, dtype)
    gen = torch.Generator(device=dev).manual_seed(seed)

    # log Z of the base model: its visible units are independent and each of its
    # n_hidden hidden units (zero weights and bias) contributes a factor 2.
    log_z_base = float(F.softplus(b_A.double()).sum()) + n_hidden * math.log(2)
    v = torch.bernoulli(torch.sigmoid(b_A).expand(n_chains, n_visible), generator=gen)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=dev)
    db = (b - b_A).double()
    for k in range(1, betas.numel()):
        beta_prev, beta = float(betas[k - 1]), float(betas[k])
        a = v @ W + c                                       # (M, n_hidden) hidden input
        a64 = a.double()
        # log p*_k(v) - log p*_{k-1}(v) at the current state (then move under p_k).
        log_w += (beta - beta_prev) * (v.double() @ db) \
            + (F.softplus(beta * a64) - F.softplus(beta_prev * a64)).sum(dim=1)
        h = torch.bernoulli(torch.sigmoid(beta * a), generator=gen)
        v = torch.bernoulli(torch.sigmoid((1 - beta) * b_A + beta * (h @ W.T + b)), generator=gen)

    log_w = log_w.cpu() + log_z_base
    M = n_chains
    log_z = float(torch.logsumexp(log_w, dim=0)) - math.log(M)
    r = (log_w - log_w.max()).exp()                      # weights relative to the largest
    rel_se = float(r.std(correction=1) / r.mean()) / math.sqrt(M) if M > 1 else math.inf
    lower = log_z + math.log(1 - 3 * rel_se) if 3 * rel_se < 1 else -math.inf
    upper = log_z + math.log1p(3 * rel_se) if math.isfinite(rel_se) else math.inf
    ess = float(r.sum() ** 2 / r.square().sum())
    std = float(log_w.std(correction=1)) if M > 1 else 0.0
    return AISResult(log_z, lower, upper, std, ess, M, betas.numel(), log_w)
