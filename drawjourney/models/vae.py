"""Chapter 04: the variational autoencoder, a latent-variable model trained through a bound.

A prior p(z) = N(0, I) over z_dim latent numbers and a decoder p_theta(x | z), here
independent Bernoulli pixels with logits decode(z), define p(x) = E_p(z)[p(x | z)], which
no one can sum. An encoder q_phi(z | x) = N(mu(x), diag(exp(logvar(x)))) guesses which z
made x, and Jensen's inequality gives the evidence lower bound

    log p(x) >= ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)),

whose gap is KL(q(z | x) || p(z | x)). The expectation is estimated with one sample
z = mu + sigma * eps, eps ~ N(0, I) (the reparameterization trick, so gradients reach phi
through z), and the KL of two Gaussians is closed-form (`kl_normal`). With k samples,
log (1/k) sum_i p(x, z_i) / q(z_i | x) is a tighter bound (Burda et al. 2016), the IWAE
bound; `log_importance_weights` gives its terms, and `metrics.iwae_nll` turns them into a
test NLL. A conditional VAE (config n_classes > 0) feeds a one-hot label to both the
encoder and the decoder: p(x | z, y), q(z | x, y).

All densities are in nats; images are (B, 1, S, S) with values in [0, 1] (binarized MNIST
for the likelihoods; grey levels are accepted as soft targets).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench
from drawjourney.models._shared import class_labels, unit_images

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig:
    """z_dim latent numbers; hidden widths of the encoder (the decoder mirrors them);
    n_classes > 0 makes the VAE conditional on a label; images are image_size squared."""

    z_dim: int = 32
    hidden: tuple[int, ...] = (512, 512)
    n_classes: int = 0
    image_size: int = 28

    def __post_init__(self):
        for name, low in (("z_dim", 1), ("n_classes", 0), ("image_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"VAEConfig.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden or not all(
                isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0
                for h in self.hidden):
            raise ValueError(f"VAEConfig.hidden must be a non-empty tuple of positive ints "
                             f"(layer widths), got {self.hidden!r}")


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats, summed over the last dim: (B, D) -> (B,).

    = 1/2 sum_d (mu_d^2 + sigma_d^2 - 1 - log sigma_d^2).
    """
    if not isinstance(mu, torch.Tensor) or not isinstance(logvar, torch.Tensor):
        raise TypeError(f"mu and logvar must be tensors, got {type(mu).__name__} and "
                        f"{type(logvar).__name__}")
    if mu.shape != logvar.shape or mu.dim() < 1:
        raise ValueError(f"mu and logvar must share one shape (..., D), got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor | float = 0.0,
               logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dim, in nats."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2): a sample of N(mu, sigma^2) when
    eps ~ N(0, I), differentiable in mu and logvar."""
    return mu + torch.exp(0.5 * logvar) * eps


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(widths) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """MLP encoder x -> (mu, logvar), MLP decoder z -> Bernoulli logits, N(0, I) prior.

    With config.n_classes > 0 every method that sees images or makes them also takes
    `labels` (B ints in [0, n_classes)), fed as a one-hot vector to the encoder and the
    decoder; an unconditional VAE takes no labels.
    """

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        if not isinstance(config, VAEConfig):
            raise TypeError(f"config must be a VAEConfig, got {type(config).__name__}")
        self.config = config
        pixels = config.image_size ** 2
        hidden = list(config.hidden)
        self.encoder = _mlp([pixels + config.n_classes, *hidden, 2 * config.z_dim])
        self.decoder = _mlp([config.z_dim + config.n_classes, *reversed(hidden), pixels])

    # -- the two networks ------------------------------------------------------------------
    def encode(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x[, y]) as (mu, logvar), each (B, z_dim)."""
        x = self._images(x)
        h = self._with_label(x.flatten(1), labels, x.shape[0])
        mu, logvar = self.encoder(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """Bernoulli logits of p(x | z[, y]), (B, 1, S, S); sigmoid gives pixel means."""
        z = self._latent(z)
        S = self.config.image_size
        return self.decoder(self._with_label(z, labels, z.shape[0])).view(-1, 1, S, S)

    # -- bounds ----------------------------------------------------------------------------
    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = sum over pixels of x log p + (1 - x) log (1 - p): (..., 1, S, S) -> (...)."""
        # -BCE(l, x) = x l - softplus(l): one elementwise pass fewer than torch's BCE
        return ((logits * x).flatten(-3).sum(-1) - F.softplus(logits).flatten(-3).sum(-1))

    def elbo_terms(self, x: torch.Tensor, labels=None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x | z) at one reparameterized z ~ q, KL(q(z | x) || p(z))), each (B,) nats."""
        x = self._images(x)
        mu, logvar = self.encode(x, labels)
        eps = self._noise(mu.shape, generator, mu)
        z = reparameterize(mu, logvar, eps)
        return self.log_likelihood(x, self.decode(z, labels)), kl_normal(mu, logvar)

    def elbo(self, x: torch.Tensor, labels=None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The evidence lower bound on log p(x[ | y]), one sample of z per image: (B,) nats."""
        rec, kl = self.elbo_terms(x, labels, generator)
        return rec - kl

    def log_importance_weights(self, x: torch.Tensor, k: int, labels=None,
                               generator: torch.Generator | None = None) -> torch.Tensor:
        """log w_i = log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x), i = 1..k: (k, B) nats.

        logsumexp over i minus log k is the IWAE bound (k = 1: the ELBO).
        """
        k = _positive_int("k", k)
        x = self._images(x)
        B = x.shape[0]
        mu, logvar = self.encode(x, labels)
        eps = self._noise((k, *mu.shape), generator, mu)
        z = reparameterize(mu, logvar, eps)                                   # (k, B, D)
        rep_labels = None if labels is None else self._labels(labels, B).repeat(k)
        logits = self.decode(z.reshape(k * B, -1), rep_labels).view(k, B, *x.shape[1:])
        log_px = self.log_likelihood(x, logits)                               # (k, B)
        return log_px + log_normal(z) - log_normal(z, mu, logvar)

    def loss(self, x: torch.Tensor, labels=None, *, k: int = 1, beta: float = 1.0) -> dict:
        """The training objective, averaged over the batch, as a dict for `train.fit`.

        k = 1: the negative ELBO with its KL weighted by beta (beta < 1 during a warm-up).
        k > 1: the negative IWAE bound with k samples (beta must be 1).
        """
        k = _positive_int("k", k)
        if k == 1:
            rec, kl = self.elbo_terms(x, labels)
            loss = -(rec - beta * kl).mean()
            return {"loss": loss, "-elbo": (kl - rec).mean().detach(), "kl": kl.mean().detach()}
        if beta != 1.0:
            raise ValueError("beta weights the KL of the ELBO; the IWAE bound (k > 1) takes beta=1")
        log_w = self.log_importance_weights(x, k, labels)
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)
        return {"loss": -bound.mean(), "-elbo": -log_w.mean().detach()}

    # -- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """n images (n, 1, S, S) in [0, 1]: the decoder's pixel means at z ~ N(0, I).

        A conditional VAE needs `labels` (n ints); z is drawn on the generator's device (the
        model's without one) so a CPU generator gives the same images on every device.
        """
        n = _positive_int("n", n)
        p = next(self.parameters())
        if labels is not None:
            labels = self._labels(labels, n)
        if z is None:
            z = self._noise((n, self.config.z_dim), generator, p)
        elif not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, self.config.z_dim):
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (n, z_dim) = ({n}, "
                             f"{self.config.z_dim}), got {got}")
        return torch.sigmoid(self.decode(z.to(p.device, p.dtype), labels))

    # -- checks ------------------------------------------------------------------------------
    def _images(self, x) -> torch.Tensor:
        return unit_images(x, self.config.image_size, next(self.parameters()))

    def _latent(self, z) -> torch.Tensor:
        D = self.config.z_dim
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            raise ValueError(f"z must be a float tensor of shape (B, {D}), got "
                             f"{getattr(z, 'dtype', type(z).__name__)}")
        if z.dim() != 2 or z.shape[1] != D:
            raise ValueError(f"z must have shape (B, z_dim) = (B, {D}), got {tuple(z.shape)}")
        p = next(self.parameters())
        return z.to(p.device, p.dtype)

    def _labels(self, labels, batch: int) -> torch.Tensor:
        return class_labels(labels, self.config.n_classes, batch,
                            next(self.parameters()).device, "this VAE")

    def _with_label(self, h: torch.Tensor, labels, batch: int) -> torch.Tensor:
        C = self.config.n_classes
        if labels is None:
            if C:
                raise ValueError(f"this VAE is conditional: pass labels, {batch} ints in [0, {C})")
            return h
        onehot = F.one_hot(self._labels(labels, batch), C).to(h.dtype)
        return torch.cat([h, onehot], dim=1)

    @staticmethod
    def _noise(shape, generator, like: torch.Tensor) -> torch.Tensor:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        device = generator.device if generator is not None else like.device
        return torch.randn(shape, generator=generator, device=device).to(like.device, like.dtype)


def active_units(model: VAE, x: torch.Tensor, labels=None, threshold: float = 0.01,
                 batch_size: int = 1000) -> torch.Tensor:
    """Which latent dims the encoder uses: Cov_x(E_q[z_d | x]) > threshold (Burda et al.
    2016). Returns the per-dim variances of mu over `x`, (z_dim,); `> threshold` counts."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be an image tensor (B, 1, S, S), got {type(x).__name__}")
    if x.dim() == 0 or x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 images (B, 1, S, S) to take a variance "
                         f"over, got shape {tuple(x.shape)}")
    with torch.no_grad():
        mus = []
        for i in range(0, x.shape[0], batch_size):
            chunk_labels = None if labels is None else labels[i:i + batch_size]
            mus.append(model.encode(x[i:i + batch_size], chunk_labels)[0])
        return torch.cat(mus).var(dim=0)


def init_output_bias(model: VAE, images: torch.Tensor) -> None:
    """Set the decoder's last bias to the data's pixel log-odds (a head start: at z's
    average the decoder draws the mean digit, not grey)."""
    mean = model._images(images).mean(0).flatten().clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.decoder[-1].bias.copy_(torch.log(mean) - torch.log1p(-mean))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


# -- the recipes -------------------------------------------------------------------------------

RECIPES = {
    "vae": dict(config=VAEConfig(z_dim=32, hidden=(512, 512)), epochs=120, batch_size=100,
                lr=1e-3, k=5, warmup_epochs=0, seed=0),
    "cvae": dict(config=VAEConfig(z_dim=16, hidden=(256, 256), n_classes=10), epochs=30,
                 batch_size=100, lr=1e-3, k=1, warmup_epochs=2, seed=0),
}
"""The shipped checkpoints' recipes (`train_recipe(name)`'s defaults), for the record."""


def train_recipe(name: str = "vae", *, epochs: int | None = None, minutes: float | None = None,
                 device=None, callback=None, every: int = 1000, progress: bool = True,
                 **overrides):
    """Train RECIPES[name] (overridden by keyword) on dynamically binarized 28x28 MNIST.

    Adam, learning rate cosine-annealed from `lr` to lr / 20 over the epochs, the KL weight
    warmed up linearly from 0 to 1 over `warmup_epochs` (k = 1 only; k > 1 trains the IWAE
    bound with k samples), decoder output bias set to the data's log-odds. `minutes` stops
    early. callback(step, history, model) every `every` steps. Returns (model, history).
    """
    from drawjourney import data, runtime, train

    recipe = train.recipe(RECIPES, name, "VAE", overrides, epochs)
    device = runtime.device(device)
    runtime.seed(recipe["seed"])
    config = recipe["config"]
    model = VAE(config).to(device)
    train_data = data.mnist("train", size=config.image_size, binarize="dynamic", device=device)
    init_output_bias(model, train_data.images)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    batches = data.batches(train_data, recipe["batch_size"], seed=recipe["seed"])
    total = recipe["epochs"] * len(batches)
    warmup = recipe["warmup_epochs"] * len(batches)
    schedule = train.cosine_schedule(optimizer, total)
    conditional = config.n_classes > 0
    k = recipe["k"]
    state = {"t": 0}

    def step_fn(batch):
        x, y = batch
        beta = 1.0 if k > 1 else min(1.0, (state["t"] + 1) / warmup) if warmup else 1.0
        losses = model.loss(x, y if conditional else None, k=k, beta=beta)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        schedule.step()
        state["t"] += 1
        return losses

    model.train()
    history = train.fit(step_fn, batches, epochs=recipe["epochs"], minutes=minutes,
                        progress=progress, every=every, desc=name,
                        callback=None if callback is None else lambda s, h: callback(s, h, model))
    return model.eval(), history


# -- the bench families ------------------------------------------------------------------------

def test_bound(model: nn.Module, images: torch.Tensor, labels=None, *, seed: int = 0,
               batch_size: int = 1000) -> torch.Tensor:
    """-ELBO per image (B,) in nats, float64 on the CPU, one seeded z per image.

    model: any model with elbo(x, labels, generator=) (the VAE, DRAW); labels for a
    conditional one (config.n_classes > 0)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            chunk_labels = None if labels is None else labels[i:i + batch_size]
            out.append(-model.elbo(images[i:i + batch_size], chunk_labels, generator=gen)
                       .to("cpu", torch.float64))
    return torch.cat(out)


def test_nll(model: VAE, images: torch.Tensor, labels=None, *, k: int = 5000,
             chunk: int = 500, batch_size: int = 100, seed: int = 0, progress: bool = False
             ) -> torch.Tensor:
    """IWAE estimate of -log p(x) per image (B,) in nats (`metrics.iwae_nll`), batched."""
    from tqdm.auto import tqdm

    from drawjourney import metrics, runtime

    runtime.seed(seed)
    out = []
    starts = range(0, images.shape[0], batch_size)
    for i in tqdm(starts, desc=f"IWAE k={k}", disable=not progress):
        x = images[i:i + batch_size]
        y = None if labels is None else labels[i:i + batch_size]
        bound = _Bound(model, y)
        with torch.no_grad():
            out.append(metrics.iwae_nll(bound, x, k, chunk=chunk))
    return torch.cat(out)


class _Bound:
    """Adapts a conditional model to `metrics.iwae_nll`'s log_importance_weights(x, k)."""

    def __init__(self, model, labels):
        self.model, self.labels = model, labels

    def log_importance_weights(self, x, k):
        if self.labels is None:
            return self.model.log_importance_weights(x, k)
        return self.model.log_importance_weights(x, k, labels=self.labels)


def _bench_train(name: str):
    def train(minutes: float | None, device: torch.device) -> VAE:
        return train_recipe(name, minutes=minutes, device=device, progress=minutes is None)[0]
    return train


def _bench_sample(model: VAE, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    return model.sample(n, labels=labels)


def _bench_likelihood(k_full: int):
    """IWAE NLL with k_full samples per test digit (50 in fast mode) and the -ELBO, on all
    10,000 statically binarized test digits; a conditional VAE's are of log p(x | y)."""
    def likelihood(model: VAE) -> tuple[float, str, dict]:
        from drawjourney import data, runtime

        device = next(model.parameters()).device
        test = data.mnist("test", binarize="static", device=device)
        labels = test.labels if model.config.n_classes else None
        k = 50 if runtime.fast_mode() else k_full
        nll = float(test_nll(model, test.images, labels, k=k,
                             progress=not runtime.fast_mode()).mean())
        bound = float(test_bound(model, test.images, labels).mean())
        return nll, "nats", {"test_nll_bound_nats": bound, "test_nll_estimator": f"IWAE k={k}"}
    return likelihood


SPOT_CHECK_DIGITS = 1000
"""The first this many statically binarized test digits make a shipped VAE's or DRAW's spot check."""


def spot_check(model: nn.Module, recorded_metrics: dict) -> tuple[str, float, float]:
    """("test_nll_bound_nats", -ELBO on the first `SPOT_CHECK_DIGITS` test digits, its
    standard error): one seeded z per digit, against the bound recorded on all 10,000.
    Shared by the VAE and DRAW families (any model with `elbo` and `config.n_classes`)."""
    from drawjourney import data

    device = next(model.parameters()).device
    test = data.mnist("test", binarize="static", device=device)
    n = SPOT_CHECK_DIGITS
    labels = test.labels[:n] if model.config.n_classes else None
    bound = test_bound(model, test.images[:n], labels)
    return "test_nll_bound_nats", float(bound.mean()), float(bound.std()) / math.sqrt(n)


# The shipped VAE's NLL uses k = 5000 (Burda et al.'s estimator); the conditional one's,
# log p(x | y), is a side number and uses k = 500 (10x cheaper: ~5 min on one CPU core).
for _name, _description, _conditional, _k in (
        ("vae", "VAE, MLP encoder/decoder 784-512-512-32, Bernoulli pixels (chapter 04); "
                "NLL by IWAE", False, 5000),
        ("cvae", "conditional VAE, label + 16 latent numbers -> image (chapter 04); "
                 "NLL of x given its label, by IWAE", True, 500)):
    bench.register(bench.Family(
        name=_name, description=_description, model_class=VAE, train=_bench_train(_name),
        sample=_bench_sample, conditional=_conditional, likelihood=_bench_likelihood(_k),
        spot_check=spot_check))
