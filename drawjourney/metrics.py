"""How good is a generator? The numbers every chapter reports, in one place.

- The judge (`drawjourney.judge`, whose names are re-exported here): a small MNIST
  classifier trained by the package, shipped as ``drawjourney/assets/judge.pt``.
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
device (`check_images`). float64 is used for accumulation, and only on the CPU: Apple
GPUs have no float64, so estimators keep their device work in the model's dtype and sum
in float64 after moving to the CPU. Bad input raises a `ValueError` or `TypeError` that
names the argument and what is allowed.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from drawjourney import runtime
from drawjourney.judge import (ASSET_PATH, IMAGE_SIZES, JUDGE_EPOCHS, N_CLASSES, RANGE_TOLERANCE,
                               Judge, JudgeConfig, JudgeNotFoundError, asset_digest, check_images,
                               judge, train_and_save_judge, train_judge)
from drawjourney.judge import _is_int

__all__ = [
    # the judge, from drawjourney.judge
    "ASSET_PATH", "IMAGE_SIZES", "JUDGE_EPOCHS", "N_CLASSES", "RANGE_TOLERANCE", "Judge",
    "JudgeConfig", "JudgeNotFoundError", "asset_digest", "check_images", "judge",
    "train_and_save_judge", "train_judge",
    # metrics
    "feature_statistics", "frechet_distance", "fid_reference_stats", "fid_mnist",
    "label_accuracy", "ClassHistogram", "class_histogram", "nats_to_bits_per_dim",
    "bits_per_dim_to_nats", "bits_per_dim", "iwae_nll", "rbm_free_energy",
    "rbm_log_partition_exact", "AISResult", "ais_log_partition",
]

FID_CACHE = "fid-mnist"
"""Subfolder of `runtime.cache_dir()` holding FID reference statistics."""


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _tensor(value, name: str, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {what}, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- FID-MNIST


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), float64 on the CPU."""
    _tensor(features, "features", "of shape (N, D)")
    if not features.is_floating_point():
        raise ValueError(f"features must be a float tensor, got dtype {features.dtype}")
    if features.dim() != 2 or features.shape[0] < 2 or features.shape[1] < 1:
        raise ValueError(f"features must have shape (N, D) with N >= 2 (a covariance needs "
                         f"two rows), got {tuple(features.shape)}")
    f = features.detach().to("cpu", torch.float64)
    if not torch.isfinite(f).all():
        raise ValueError("features contain NaN or infinite values")
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sym(m: torch.Tensor) -> torch.Tensor:
    return (m + m.T) / 2


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = torch.linalg.eigh(_sym(matrix))
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def _gaussian(mu, sigma, mu_name: str, sigma_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """mu (D,) and sigma (D, D), checked: finite, sigma a covariance; float64 on the CPU."""
    _tensor(mu, mu_name, "of shape (D,)")
    _tensor(sigma, sigma_name, "of shape (D, D)")
    if mu.dim() != 1 or mu.shape[0] < 1 or tuple(sigma.shape) != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{mu_name} must have shape (D,) and {sigma_name} shape (D, D); got "
                         f"{tuple(mu.shape)} and {tuple(sigma.shape)}")
    mu, sigma = (t.detach().to("cpu", torch.float64) for t in (mu, sigma))
    for name, t in ((mu_name, mu), (sigma_name, sigma)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    scale = float(sigma.abs().max())
    if float((sigma - sigma.T).abs().max()) > 1e-5 * scale:
        raise ValueError(f"{sigma_name} must be a symmetric covariance matrix")
    if float(torch.linalg.eigvalsh(_sym(sigma)).min()) < -1e-5 * scale:
        raise ValueError(f"{sigma_name} must be a covariance (positive semi-definite); it has "
                         f"negative eigenvalues")
    return mu, sigma


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor,
                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), in squared feature
    units, computed in float64 on the CPU with symmetric eigendecompositions (no scipy).
    mu: (D,), sigma: (D, D) symmetric positive semi-definite, finite.
    """
    mu1, sigma1 = _gaussian(mu1, sigma1, "mu1", "sigma1")
    mu2, sigma2 = _gaussian(mu2, sigma2, "mu2", "sigma2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians' shapes differ: mu1 {tuple(mu1.shape)}, mu2 "
                         f"{tuple(mu2.shape)}; both must have the same dimension D")
    root1 = _sqrt_psd(sigma1)
    cross = torch.linalg.eigvalsh(_sym(root1 @ sigma2 @ root1)).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * cross
    return max(float(value), 0.0)


_REFERENCE_STATS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _cached_stats(path, feature_dim: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Statistics read back from a cache file, or None when it is absent, corrupt or foreign."""
    if not path.is_file():
        return None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        mu, sigma = loaded["mu"], loaded["sigma"]
    except Exception:  # a corrupt or foreign cache file is recomputed, never trusted
        return None
    if (not isinstance(mu, torch.Tensor) or not isinstance(sigma, torch.Tensor)
            or mu.dtype != torch.float64 or sigma.dtype != torch.float64
            or tuple(mu.shape) != (feature_dim,) or tuple(sigma.shape) != (feature_dim, feature_dim)
            or not torch.isfinite(mu).all() or not torch.isfinite(sigma).all()):
        return None
    return mu, sigma


def fid_reference_stats(split: str = "test", size: int = 28, device=None,
                        disk_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Judge-feature mean (D,) and covariance (D, D), float64 on the CPU, of a whole MNIST split.

    Computed once per (split, size, judge weights) and kept in memory; with `disk_cache`
    also stored under ``runtime.cache_dir("fid-mnist")`` ($XDG_CACHE_HOME/drawjourney or
    ~/.cache/drawjourney; skipped if not writable). A corrupt cache file is recomputed.
    """
    from drawjourney import data

    if not isinstance(split, str) or split not in data.SPLITS:
        raise ValueError(f"reference split must be one of {data.SPLITS}, got {split!r}")
    if not _is_int(size) or size not in IMAGE_SIZES:
        raise ValueError(f"size must be one of {IMAGE_SIZES}, got {size!r}")
    if not isinstance(disk_cache, bool):
        raise ValueError(f"disk_cache must be True or False, got {disk_cache!r}")
    model = judge(device)
    key = (split, size, asset_digest())
    if key in _REFERENCE_STATS:
        return _REFERENCE_STATS[key]
    path = runtime.cache_dir(FID_CACHE) / f"mnist-{split}-{size}-judge-{key[2]}.pt"
    stats = _cached_stats(path, model.config.feature_dim) if disk_cache else None
    if stats is None:
        images = data.mnist(split, size=size, device=model.device).images
        stats = feature_statistics(model.features(images))
        if disk_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                torch.save({"mu": stats[0], "sigma": stats[1]}, tmp)
                tmp.replace(path)
            except OSError:  # a read-only cache is fine: the memory cache still holds it
                pass
    _REFERENCE_STATS[key] = stats
    return stats


def fid_mnist(samples: torch.Tensor, reference="test", *, device=None,
              disk_cache: bool = True) -> float:
    """FID-MNIST: Fréchet distance between judge features of `samples` and of `reference`.

    samples: (N, 1, H, W) in [0, 1], H = 28 or 16, any device, N >= 2 (use 10k to compare).
    reference: "test" (default) or "train": that whole MNIST split at the samples' size,
        grey (not binarized), with cached statistics (`fid_reference_stats`); or a tensor
        of images of the samples' size, N >= 2. Real digits binarized with
        ``binarize="static"`` score about 4 (28x28) or 12 (16x16) against the grey split
        (10k each, the shipped judge); compare binary samples with
        ``data.mnist("test", binarize="static").images``.
    Returns a float >= 0 in squared judge-feature units; 0 for identical sets. The value
    depends on N (fewer samples, larger FID) and on the judge's weights: compare
    FID-MNIST only within this project, at the same N, never with Inception FID.
    """
    samples = check_images(samples, "samples")
    if samples.shape[0] < 2:
        raise ValueError(f"samples: FID-MNIST needs at least 2 samples to fit a covariance, got "
                         f"{samples.shape[0]}; use 10,000 to compare with the course's numbers")
    if isinstance(reference, torch.Tensor):
        reference = check_images(reference, "reference")
        if reference.shape[-1] != samples.shape[-1]:
            size_r, size_s = reference.shape[-1], samples.shape[-1]
            raise ValueError(f"reference images are {size_r}x{size_r} but samples are "
                             f"{size_s}x{size_s}; FID compares images of one size")
        if reference.shape[0] < 2:
            raise ValueError(f"reference needs at least 2 images to fit a covariance, got "
                             f"{reference.shape[0]}")
    elif not isinstance(reference, str):
        raise TypeError(f"reference must be 'test', 'train' or a tensor of images (N, 1, H, W), "
                        f"got {type(reference).__name__}")
    model = judge(device)
    mu1, sigma1 = feature_statistics(model.features(samples))
    if isinstance(reference, str):
        mu2, sigma2 = fid_reference_stats(reference, samples.shape[-1], model.device, disk_cache)
    else:
        mu2, sigma2 = feature_statistics(model.features(reference))
    return frechet_distance(mu1, sigma1, mu2, sigma2)


# ----------------------------------------------------------------------------- labels


def label_accuracy(samples: torch.Tensor, labels, *, device=None) -> float:
    """Fraction in [0, 1] of `samples` (N, 1, H, W) the judge classifies as `labels`.

    labels: the digits asked for, integers 0..9 of shape (N,): a tensor (any device), a
    list or a numpy array.
    """
    samples = check_images(samples, "samples")
    n = samples.shape[0]
    if labels is None or isinstance(labels, (str, bytes)):
        raise TypeError(f"labels must be the digits asked for, {n} integers in 0..{N_CLASSES - 1} "
                        f"(a tensor, list or array), got {type(labels).__name__}")
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"labels must be {n} integers in 0..{N_CLASSES - 1} (a tensor, list or "
                        f"array), got {type(labels).__name__}") from None
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be integers in 0..{N_CLASSES - 1}, got dtype {labels.dtype} "
                         f"(use labels.long())")
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one per sample, got {tuple(labels.shape)}")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= N_CLASSES:
        raise ValueError(f"labels must lie in 0..{N_CLASSES - 1}, got values in [{lo}, {hi}]")
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
        return self.counts.to("cpu", torch.float64) / self.n


def class_histogram(samples: torch.Tensor, *, device=None) -> ClassHistogram:
    """Predicted-class counts of `samples` (N, 1, H, W) in [0, 1]: a mode-coverage check."""
    samples = check_images(samples, "samples")
    predicted = judge(device).predict(samples).cpu()
    counts = torch.bincount(predicted, minlength=N_CLASSES)
    p = counts.to("cpu", torch.float64) / counts.sum()
    nonzero = p[p > 0]
    entropy = max(0.0, float(-(nonzero * nonzero.log2()).sum()))  # one class: 0.0, not -0.0
    return ClassHistogram(counts, entropy, float(p.max()), int(counts.sum()))


# ----------------------------------------------------------------------------- units


def _check_dims(dims) -> None:
    if not _is_int(dims) or dims <= 0:
        raise ValueError(f"dims must be a positive int (e.g. 784), got {dims!r}")


def _check_nats(value, name: str) -> None:
    """`value` is a real number, numpy array or tensor without NaN (inf is allowed)."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        has_nan = value.is_floating_point() and bool(torch.isnan(value).any())
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        has_nan = bool(np.isnan(value).any())
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        has_nan = math.isnan(value)
    else:
        raise TypeError(f"{name} must be a number, numpy array or tensor, got {type(value).__name__}")
    if has_nan:
        raise ValueError(f"{name} contains NaN")


def nats_to_bits_per_dim(nats, dims: int):
    """A negative log-likelihood of D = `dims` values in nats -> bits per dimension.

    bits/dim = nats / (D ln 2). No dequantization offset is added (see `bits_per_dim`).
    Works on floats, numpy arrays and tensors.
    """
    _check_dims(dims)
    _check_nats(nats, "nats")
    return nats / (dims * math.log(2))


def bits_per_dim_to_nats(bits_per_dim_value, dims: int):
    """Inverse of `nats_to_bits_per_dim`: bits/dim -> nats for D = `dims` values."""
    _check_dims(dims)
    _check_nats(bits_per_dim_value, "bits_per_dim_value")
    return bits_per_dim_value * dims * math.log(2)


def bits_per_dim(log_prob_nats, dims: int, *, dequantized_8bit: bool):
    """Bits per dimension of 8-bit data from a model's log-likelihood (nats, per example).

    dequantized_8bit=True: `log_prob_nats` is log p(y), a density over [0, 1]^D of the
        dequantized data y = (x + u) / 256, x in {0..255}^D, u ~ U[0, 1)^D (a flow).
        Scaling by 256 per dimension turns it into a density on the integer grid, so
        bits/dim = (-log p(y) + D log 256) / (D log 2).
    dequantized_8bit=False: `log_prob_nats` is already a log-probability of the discrete
        data (e.g. a 256-way PixelCNN), so bits/dim = -log p(x) / (D log 2).
    A uniform model gives 8 bits/dim in both conventions. Floats, arrays or tensors.
    """
    _check_dims(dims)
    _check_nats(log_prob_nats, "log_prob_nats")
    if not isinstance(dequantized_8bit, bool):
        raise ValueError(f"dequantized_8bit must be True or False, got {dequantized_8bit!r}")
    nll = -log_prob_nats + (dims * math.log(256) if dequantized_8bit else 0.0)
    return nats_to_bits_per_dim(nll, dims)


# ----------------------------------------------------------------------------- IWAE


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, k: int, *, chunk: int | None = None) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) in nats, one value per example (B,).

    model: has `log_importance_weights(x, k)` returning (k, B) float log w_i =
        log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x), on any device and float dtype.
    x: a tensor batch (B, ...), B >= 1, passed to the model as is.
    Returns -(logsumexp_i log w_i - log k), float64 on the CPU: an upper bound on
    -log p(x) in expectation that tightens as k grows (k = 1: the negative ELBO); +inf
    where every weight is 0. The k weights are drawn `chunk` at a time (default all at
    once), moved to the CPU and combined exactly with logsumexp in float64, so memory
    grows with `chunk`, not k. Randomness is the model's own.
    """
    method = getattr(model, "log_importance_weights", None)
    if not callable(method):
        raise TypeError(f"iwae_nll needs a model with log_importance_weights(x, k) -> (k, B); "
                        f"{type(model).__name__} has none")
    _tensor(x, "x", "batch (B, ...)")
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"x must be a batch (B, ...) with B >= 1, got shape {tuple(x.shape)}")
    k = _positive_int(k, "k")
    chunk = k if chunk is None else _positive_int(chunk, "chunk")
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
        if not log_w.is_floating_point():
            raise ValueError(f"log_importance_weights(x, {n}) must return float log weights, "
                             f"got dtype {log_w.dtype}")
        log_w = log_w.detach().to("cpu", torch.float64)
        if torch.isnan(log_w).any():
            raise ValueError("log_importance_weights returned NaN")
        if torch.isposinf(log_w).any():
            raise ValueError("log_importance_weights returned +inf: an infinite weight "
                             "p(x, z) / q(z | x) would make -log p(x) = -inf. Check that log q "
                             "is finite at its own samples and log p(x, z) is a normalized density")
        part = torch.logsumexp(log_w, dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        done += n
    return -(total - math.log(k))


# ----------------------------------------------------------------------------- RBM


def _rbm_params(W, b, c, owner: str = "") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W, b, c detached and checked: tensors of one float dtype on one device, finite, of
    shapes (n_visible, n_hidden), (n_visible,), (n_hidden,). `owner` prefixes names."""
    params = {"W": W, "b": b, "c": c}
    for name, t in params.items():
        _tensor(t, owner + name, "(use torch.as_tensor for arrays)")
        if t.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{owner}{name} must be float32 or float64, got {t.dtype}")
    if len({t.dtype for t in params.values()}) > 1:
        raise TypeError(f"{owner}W, {owner}b and {owner}c must share one dtype, got "
                        + ", ".join(f"{n} {t.dtype}" for n, t in params.items())
                        + f" (cast them, e.g. {owner}b.to({owner}W.dtype))")
    if len({t.device for t in params.values()}) > 1:
        raise ValueError(f"{owner}W, {owner}b and {owner}c must be on one device, got "
                         + ", ".join(f"{n} on {t.device}" for n, t in params.items()))
    if W.dim() != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(f"RBM parameters must be {owner}W (n_visible, n_hidden), {owner}b "
                         f"(n_visible,), {owner}c (n_hidden,); got W {tuple(W.shape)}, "
                         f"b {tuple(b.shape)}, c {tuple(c.shape)}")
    for name, t in params.items():
        if not torch.isfinite(t).all():
            raise ValueError(f"{owner}{name} contains NaN or infinite values")
    return W.detach(), b.detach(), c.detach()


def _check_unit_interval(x: torch.Tensor, name: str) -> None:
    """`x` holds finite values in [0, 1] (bool and integer 0/1 tensors too)."""
    if x.is_complex():
        raise TypeError(f"{name} must hold real values in [0, 1], got dtype {x.dtype}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                         f"(uint8 pixels? use x.float() / 255)")


def rbm_free_energy(v: torch.Tensor, W, b, c) -> torch.Tensor:
    """Free energy F(v) = -b.v - sum_j softplus(c_j + (v W)_j) of a binary RBM, in nats.

    v: (N, n_visible) or images (N, 1, H, W) flattening to n_visible, values in [0, 1]
    (binary, or grey for the mean-field value), moved to W's device and dtype; returns (N,).
    p(v) = exp(-F(v)) / Z for the energy E(v, h) = -v W h - b.v - c.h.
    """
    W, b, c = _rbm_params(W, b, c)
    _tensor(v, "v", f"of shape (N, {W.shape[0]})")
    if v.dim() < 2 or v.shape[0] == 0 or v[0].numel() != W.shape[0]:
        raise ValueError(f"v must have shape (N, {W.shape[0]}) with N >= 1 (or images of that "
                         f"many pixels), got {tuple(v.shape)}")
    _check_unit_interval(v, "v")
    v = v.reshape(v.shape[0], -1).to(W.device, W.dtype)
    return -(v @ b) - F.softplus(v @ W + c).sum(dim=1)


def _binary_states(n: int, start: int, stop: int) -> torch.Tensor:
    """Rows start..stop-1 of all 2^n binary vectors of length n, (stop - start, n), float64 CPU."""
    index = torch.arange(start, stop, device="cpu")
    return ((index[:, None] >> torch.arange(n, device="cpu")) & 1).to("cpu", torch.float64)


def rbm_log_partition_exact(W, b, c, *, max_states_log2: int = 24) -> float:
    """log Z of a binary RBM by enumeration, in nats, computed in float64 on the CPU.

    Enumerates the smaller layer (2^min(n_visible, n_hidden) states, in chunks) and sums
    the other out analytically; refuses layers larger than `max_states_log2` units.
    """
    W, b, c = (t.to("cpu", torch.float64) for t in _rbm_params(W, b, c))
    max_states_log2 = _positive_int(max_states_log2, "max_states_log2")
    if W.shape[1] < W.shape[0]:   # enumerate h: log Z = logsumexp_h c.h + sum_i softplus(b_i + (W h)_i)
        W, b, c = W.T, c, b
    n = W.shape[0]
    if n > max_states_log2:
        raise ValueError(f"exact enumeration needs 2^{n} states; use ais_log_partition, or "
                         f"raise max_states_log2 (now {max_states_log2}) if you have the time")
    parts = []
    # States per chunk: a power of two (chunks tile 2^n exactly) whose (states, m) float64
    # matrices stay near 32 MB; 2^16 states against 784 pixels took 0.8 GB (Binder: 2 GB).
    step = 1 << min(16, max(0, ((1 << 22) // W.shape[1]).bit_length() - 1))
    for start in range(0, 1 << n, step):
        states = _binary_states(n, start, min(start + step, 1 << n))
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


def _betas(schedule, n_betas: int) -> torch.Tensor:
    """The inverse temperatures 0 = beta_0 < ... < beta_K = 1, float64 on the CPU."""
    if isinstance(schedule, torch.Tensor):
        betas = schedule.detach().to("cpu", torch.float64)
        if (betas.dim() != 1 or betas.numel() < 2 or not torch.isfinite(betas).all()
                or float(betas[0]) != 0.0 or float(betas[-1]) != 1.0
                or (betas[1:] <= betas[:-1]).any()):
            raise ValueError("a schedule tensor must be 1-D, finite, strictly increasing, from "
                             "0 to 1 (n_betas is then its length)")
        return betas
    if not isinstance(schedule, str) or schedule not in ("linear", "geometric"):
        raise ValueError(f"schedule must be 'linear', 'geometric' or a tensor of betas, got "
                         f"{schedule!r}")
    if schedule == "linear":
        _positive_int(n_betas, "n_betas", minimum=2)
        return torch.linspace(0, 1, n_betas, dtype=torch.float64, device="cpu")
    # Equal ratios from 1e-4 up to 1 (0, then at least two of them): small steps where the
    # base model still dominates.
    _positive_int(n_betas, "n_betas (geometric schedule)", minimum=3)
    return torch.cat([torch.zeros(1, dtype=torch.float64, device="cpu"),
                      torch.logspace(-4, 0, n_betas - 1, dtype=torch.float64, device="cpu")])


def _softplus_step(a: torch.Tensor, beta_prev: float, beta: float) -> torch.Tensor:
    """softplus(beta a) - softplus(beta_prev a), elementwise, accurate in float32.

    Subtracting two softplus values of size |a| loses much of their small difference to
    rounding (up to 1e-3 nats per chain over 10^4 steps of a 784x500 RBM in float32).
    The same quantity, d relu(a) + log1p(sigmoid(-beta_prev |a|) expm1(-d |a|)) with
    d = beta - beta_prev, has no such cancellation (3e-5 nats there) and cannot overflow.
    """
    d = beta - beta_prev
    m = a.abs()
    return d * a.clamp(min=0) + torch.log1p(torch.sigmoid(-beta_prev * m) * torch.expm1(-d * m))


_AIS_BUFFER_ELEMENTS = 1 << 22
"""Log-weight increments kept on the device before one transfer to the CPU (16 MB in float32)."""


@torch.no_grad()
def ais_log_partition(rbm, n_chains: int = 100, n_betas: int = 10_000, schedule="linear", *,
                      base_visible_bias=None, data: torch.Tensor | None = None,
                      seed: int = 0) -> AISResult:
    """Annealed importance sampling estimate of log Z for a binary RBM (Salakhutdinov &
    Murray 2008), in nats.

    rbm: anything with tensors `W` (n_visible, n_hidden), `b` (n_visible,), `c` (n_hidden,),
        finite, of one dtype (float32 or float64) on one device.
    The base RBM has zero weights and visible bias `base_visible_bias` ((n_visible,),
    finite), or, given `data` ((N, n_visible) or images, values in [0, 1]), log(p / (1 - p))
    of the mean pixel p clipped to [1e-3, 1 - 1e-3]; else zeros. Its log Z is exact.
    Intermediate distributions
    p_k(v) ∝ exp(((1 - beta_k) b_A + beta_k b).v) prod_j (1 + exp(beta_k (c + v W)_j)),
    beta from 0 to 1 (`schedule` "linear" with `n_betas` >= 2 values, "geometric" with
    >= 3, or a tensor of betas); `n_chains` independent chains each take one Gibbs sweep
    (h then v) per intermediate beta.
    The chains run on the device of `rbm.W`, in its dtype on the CPU and in float32
    elsewhere (float64 parameters are cast there: Apple GPUs have no float64). Each
    step's log-weight increments stay on the device and are summed in float64 on the
    CPU in blocks, so a GPU is synchronized about once per run. Deterministic for a seed.
    """
    for name in ("W", "b", "c"):
        if not isinstance(getattr(rbm, name, None), torch.Tensor):
            raise TypeError(f"ais_log_partition needs an RBM with tensor attributes W, b, c; "
                            f"{type(rbm).__name__} has no tensor {name!r}")
    W, b, c = _rbm_params(rbm.W, rbm.b, rbm.c, owner="rbm.")
    n_chains = _positive_int(n_chains, "n_chains")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n_visible, n_hidden = W.shape
    dev = W.device
    dtype = W.dtype if dev.type == "cpu" else torch.float32
    W, b, c = W.to(dtype), b.to(dtype), c.to(dtype)
    if base_visible_bias is not None and data is not None:
        raise ValueError("give base_visible_bias or data, not both")
    if data is not None:
        _tensor(data, "data", f"(N, {n_visible}) or images")
        if data.dim() < 2 or data.shape[0] == 0 or data[0].numel() != n_visible:
            raise ValueError(f"data must have shape (N, {n_visible}) with N >= 1 (or images of "
                             f"{n_visible} pixels), got {tuple(data.shape)}")
        _check_unit_interval(data, "data")
        flat = data.reshape(data.shape[0], -1)
        flat = flat if flat.is_floating_point() else flat.float()
        p = flat.mean(dim=0).to("cpu", torch.float64).clamp(1e-3, 1 - 1e-3)
        b_A = (p / (1 - p)).log().to(dev, dtype)
    elif base_visible_bias is not None:
        try:
            b_A = torch.as_tensor(base_visible_bias)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"base_visible_bias must be a tensor of shape ({n_visible},), got "
                            f"{type(base_visible_bias).__name__}") from None
        if not b_A.is_floating_point() or tuple(b_A.shape) != (n_visible,):
            raise ValueError(f"base_visible_bias must be a float tensor of shape ({n_visible},), "
                             f"got {b_A.dtype} {tuple(b_A.shape)}")
        if not torch.isfinite(b_A).all():
            raise ValueError("base_visible_bias contains NaN or infinite values")
        b_A = b_A.detach().to(dev, dtype)
    else:
        b_A = torch.zeros(n_visible, device=dev, dtype=dtype)
    betas = _betas(schedule, n_betas).tolist()
    gen = torch.Generator(device=dev).manual_seed(seed)

    # log Z of the base model: its visible units are independent and each of its
    # n_hidden hidden units (zero weights and bias) contributes a factor 2.
    log_z_base = float(F.softplus(b_A.to("cpu", torch.float64)).sum()) + n_hidden * math.log(2)
    v = torch.bernoulli(torch.sigmoid(b_A).expand(n_chains, n_visible), generator=gen)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device="cpu")
    n_steps = len(betas) - 1
    block = max(1, min(n_steps, _AIS_BUFFER_ELEMENTS // n_chains))
    increments = torch.empty(block, n_chains, dtype=dtype, device=dev)
    db = b - b_A
    for k in range(1, len(betas)):
        beta_prev, beta = betas[k - 1], betas[k]
        a = v @ W + c                                       # (M, n_hidden) hidden input
        # log p*_k(v) - log p*_{k-1}(v) at the current state (then move under p_k).
        row = (k - 1) % block
        torch.add((beta - beta_prev) * (v @ db), _softplus_step(a, beta_prev, beta).sum(dim=1),
                  out=increments[row])
        if row == block - 1 or k == n_steps:
            log_w += increments[:row + 1].to("cpu", torch.float64).sum(dim=0)
        h = torch.bernoulli(torch.sigmoid(beta * a), generator=gen)
        v = torch.bernoulli(torch.sigmoid((1 - beta) * b_A + beta * (h @ W.T + b)), generator=gen)

    log_w = log_w + log_z_base
    M = n_chains
    log_z = float(torch.logsumexp(log_w, dim=0)) - math.log(M)
    r = (log_w - log_w.max()).exp()                      # weights relative to the largest
    rel_se = float(r.std(correction=1) / r.mean()) / math.sqrt(M) if M > 1 else math.inf
    lower = log_z + math.log(1 - 3 * rel_se) if 3 * rel_se < 1 else -math.inf
    upper = log_z + math.log1p(3 * rel_se) if math.isfinite(rel_se) else math.inf
    ess = float(r.sum() ** 2 / r.square().sum())
    std = float(log_w.std(correction=1)) if M > 1 else 0.0
    return AISResult(log_z, lower, upper, std, ess, M, len(betas), log_w)
