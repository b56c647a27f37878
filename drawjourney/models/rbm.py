"""Chapter 03: a restricted Boltzmann machine, a probability model of binary images.

Binary visible units v (n_visible,) and hidden units h (n_hidden,) share the energy

    E(v, h) = -v^T W h - b^T v - c^T h,        p(v, h) = exp(-E(v, h)) / Z,

with W (n_visible, n_hidden), visible bias b and hidden bias c. No unit is connected to
another of its own layer, so each layer is independent given the other:

    p(h_j = 1 | v) = sigmoid(c_j + (v W)_j),    p(v_i = 1 | h) = sigmoid(b_i + (W h)_i),

and h sums out in closed form into the free energy
F(v) = -b^T v - sum_j softplus(c_j + (v W)_j), with p(v) = exp(-F(v)) / Z.

The log-likelihood gradient is E_data[-dF/dtheta] - E_model[-dF/dtheta]: we cannot
sample the model exactly, so contrastive divergence (CD-k, Hinton 2002) replaces model
samples by k Gibbs sweeps started at the data, and persistent CD (PCD, Tieleman 2008)
by chains kept running across updates. Both are written here as the gradient of the
surrogate loss mean F(v_data) - mean F(v_model) with v_model held fixed (`cd_loss`).
Z itself is a sum over 2^min(n_visible, n_hidden) states; `metrics.ais_log_partition`
estimates log Z by annealed importance sampling (Salakhutdinov & Murray 2008), and
`ais_test_nll` turns that into a test negative log-likelihood in nats.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench


@dataclass(frozen=True)
class RBMConfig:
    """n_visible binary pixels (784 for 28x28 MNIST), n_hidden binary feature detectors."""

    n_visible: int = 784
    n_hidden: int = 500

    def __post_init__(self):
        for name in ("n_visible", "n_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"RBMConfig.{name} must be a positive int, got {value!r}")


class RBM(nn.Module):
    """A binary RBM with parameters W (n_visible, n_hidden), b (n_visible,), c (n_hidden,).

    Every method takes visible vectors as (B, n_visible) or as images (B, 1, H, W) with
    H * W = n_visible, holding values in {0, 1} (float, bool or integer tensors); other
    shapes or values raise a `ValueError`. Work happens in the parameters' dtype on their
    device.
    """

    def __init__(self, config: RBMConfig = RBMConfig()):
        super().__init__()
        if not isinstance(config, RBMConfig):
            raise TypeError(f"config must be an RBMConfig, got {type(config).__name__}")
        self.config = config
        self.W = nn.Parameter(0.01 * torch.randn(config.n_visible, config.n_hidden))
        self.b = nn.Parameter(torch.zeros(config.n_visible))
        self.c = nn.Parameter(torch.zeros(config.n_hidden))

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) = -v^T W h - b^T v - c^T h for v (B, n_visible), h (B, n_hidden) -> (B,)."""
        v = self._visible(v)
        h = self._hidden(h, batch=v.shape[0])
        return -((v @ self.W) * h).sum(dim=1) - v @ self.b - h @ self.c

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) = -b^T v - sum_j softplus(c_j + (v W)_j), (B,) nats."""
        return self._free_energy(self._visible(v))

    def p_h_given_v(self, v: torch.Tensor) -> torch.Tensor:
        """p(h_j = 1 | v) = sigmoid(c + v W), (B, n_hidden)."""
        return torch.sigmoid(self._visible(v) @ self.W + self.c)

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """p(v_i = 1 | h) = sigmoid(b + h W^T), (B, n_visible)."""
        return torch.sigmoid(self._hidden(h) @ self.W.T + self.b)

    def gibbs(self, v: torch.Tensor, k: int = 1,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """k full Gibbs sweeps v -> h ~ p(h | v) -> v ~ p(v | h) from v, for the whole batch.

        Returns the final binary v in v's shape (vectors or images), in the parameters'
        dtype on their device. Uniforms come from `generator` (on its own device, then
        moved) or, without one, from torch's global generator on the model's device.
        """
        shape = v.shape
        v = self._visible(v)
        k = _positive_int("k", k)
        _check_generator(generator)
        with torch.no_grad():
            v = self._gibbs(v, k, generator)
        return v.view(shape) if len(shape) == 4 else v

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples after `steps` Gibbs sweeps from v ~ Bernoulli(sigmoid(b)) (pixels drawn
        independently with the visible biases' rates), images (n, 1, S, S) in {0, 1} with
        S * S = n_visible (vectors (n, n_visible) if n_visible is not a square)."""
        n = _positive_int("n", n)
        steps = _positive_int("steps", steps)
        _check_generator(generator)
        p0 = torch.sigmoid(self.b).expand(n, self.config.n_visible)
        v = _bernoulli(p0, generator)
        v = self._gibbs(v, steps, generator)
        S = math.isqrt(self.config.n_visible)
        return v.view(n, 1, S, S) if S * S == self.config.n_visible else v

    def log_prob(self, v: torch.Tensor, log_z: float) -> torch.Tensor:
        """log p(v) = -F(v) - log Z in nats, (B,), given log Z (exact or from AIS)."""
        if isinstance(log_z, torch.Tensor) and log_z.numel() == 1:
            log_z = float(log_z)
        if isinstance(log_z, bool) or not isinstance(log_z, numbers.Real) or not math.isfinite(log_z):
            raise ValueError(f"log_z must be a finite number (e.g. rbm_log_partition_exact or "
                             f"ais_log_partition(...).log_z), got {log_z!r}")
        return -self.free_energy(v) - log_z

    def n_parameters(self) -> int:
        """Number of trainable numbers in the model."""
        return sum(p.numel() for p in self.parameters())

    def _free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return -(v @ self.b) - F.softplus(v @ self.W + self.c).sum(dim=1)

    def _gibbs(self, v: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
        W, b, c = self.W.detach(), self.b.detach(), self.c.detach()
        for _ in range(k):
            h = _bernoulli(torch.sigmoid(v @ W + c), generator)
            v = _bernoulli(torch.sigmoid(h @ W.T + b), generator)
        return v

    def _visible(self, v) -> torch.Tensor:
        return self._binary(v, "v", self.config.n_visible, images=True)

    def _hidden(self, h, batch: int | None = None) -> torch.Tensor:
        h = self._binary(h, "h", self.config.n_hidden, images=False)
        if batch is not None and h.shape[0] != batch:
            raise ValueError(f"v and h must have one batch size, got {batch} and {h.shape[0]}")
        return h

    def _binary(self, x, name: str, n: int, images: bool) -> torch.Tensor:
        """x as (B, n) in the parameters' dtype and device, after checking shape and values."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape (B, {n}), got "
                             f"{type(x).__name__}")
        ok = x.dim() == 2 and x.shape[1] == n
        if images and x.dim() == 4 and x.shape[1] == 1 and x.shape[2] * x.shape[3] == n:
            ok = True
        if not ok or x.shape[0] == 0:
            also = f" or images (B, 1, H, W) with H*W = {n}" if images else ""
            raise ValueError(f"{name} must have shape (B, {n}) with B >= 1{also}, got "
                             f"{tuple(x.shape)}")
        if x.is_complex():
            raise ValueError(f"{name} must hold values in {{0, 1}}, got dtype {x.dtype}")
        if x.dtype != torch.bool and ((x != 0) & (x != 1)).any():
            bad = x[(x != 0) & (x != 1)].flatten()[0].item()
            raise ValueError(f"{name} must hold binary values in {{0, 1}}, got {bad!r} (grey "
                             f"images? binarize them: data.mnist(..., binarize='static') or "
                             f"torch.bernoulli(x))")
        return x.reshape(x.shape[0], n).to(self.W.device, self.W.dtype)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Binary draws with probabilities p; uniforms on the generator's device, moved to p's."""
    device = p.device if generator is None else generator.device
    u = torch.rand(p.shape, generator=generator, device=device, dtype=p.dtype)
    return (u.to(p.device) < p).to(p.dtype)


def cd_loss(model: RBM, v_data: torch.Tensor, v_model: torch.Tensor) -> torch.Tensor:
    """Surrogate loss mean F(v_data) - mean F(v_model), a scalar in nats.

    v_data (B, n_visible) and v_model (M, n_visible) are binary vectors (v_model is
    treated as a constant). Its gradient is E_data[dF/dtheta] - E_model[dF/dtheta], the
    negative of the (CD or PCD) estimate of the log-likelihood gradient, e.g. for W:
    -(mean v_data^T p(h | v_data) - mean v_model^T p(h | v_model)). Its value is the
    free-energy gap: positive while the samples sit at lower free energy than the data
    (the model puts mass where the data is not, and the update raises F there), near 0
    when samples and data look alike to the model. It is not a log-likelihood.
    """
    return model._free_energy(v_data).mean() - model._free_energy(v_model.detach()).mean()


def _check_step_args(model, optimizer, k) -> int:
    if not isinstance(model, RBM):
        raise TypeError(f"model must be an RBM, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    return _positive_int("k", k)


def _batch_vectors(model: RBM, batch) -> torch.Tensor:
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    return model._visible(x)


def _update(model, optimizer, v_data, v_model) -> dict[str, torch.Tensor]:
    """One optimizer step on `cd_loss`; returns the monitored numbers (see cd_step)."""
    loss = cd_loss(model, v_data, v_model)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        p_h = torch.sigmoid(v_data @ model.W + model.c)
        recon = (v_data - torch.sigmoid(p_h @ model.W.T + model.b)).square().mean()
    return {"loss": loss.detach(), "recon": recon}


def cd_step(model: RBM, optimizer: torch.optim.Optimizer, k: int = 1,
            generator: torch.Generator | None = None):
    """A CD-k training step for `train.fit`: step_fn(batch) -> {"loss", "recon"}.

    batch: (x, y) from `data.batches` or a tensor x; x binary (B, n_visible) or images.
    The negative samples are k Gibbs sweeps started at the batch; the update descends
    `cd_loss`. Monitored: "loss", the free-energy gap mean F(data) - mean F(samples)
    before the update, in nats; "recon", the mean squared error per pixel between the
    data and its mean-field reconstruction p(v | h = p(h | v)) after the update.
    """
    k = _check_step_args(model, optimizer, k)
    _check_generator(generator)

    def step_fn(batch) -> dict[str, torch.Tensor]:
        v_data = _batch_vectors(model, batch)
        v_model = model._gibbs(v_data, k, generator)
        return _update(model, optimizer, v_data, v_model)

    return step_fn


def pcd_step(model: RBM, optimizer: torch.optim.Optimizer, k: int = 1, n_chains: int = 100,
             generator: torch.Generator | None = None):
    """A persistent-CD training step for `train.fit`: step_fn(batch) -> {"loss", "recon"}.

    `n_chains` fantasy particles start from Bernoulli(sigmoid(b)) and each step moves
    them k Gibbs sweeps under the current parameters before the update, never
    restarting at the data (Tieleman 2008); they are kept as `step_fn.chains`
    (n_chains, n_visible). Monitored numbers as in `cd_step`, with the chains as samples.
    """
    k = _check_step_args(model, optimizer, k)
    n_chains = _positive_int("n_chains", n_chains)
    _check_generator(generator)

    def step_fn(batch) -> dict[str, torch.Tensor]:
        v_data = _batch_vectors(model, batch)
        step_fn.chains = model._gibbs(step_fn.chains, k, generator)
        return _update(model, optimizer, v_data, step_fn.chains)

    with torch.no_grad():
        step_fn.chains = _bernoulli(torch.sigmoid(model.b).expand(n_chains, -1).clone(), generator)
    return step_fn


def init_visible_bias(model: RBM, images: torch.Tensor, eps: float = 1e-3) -> None:
    """Set b = log(p / (1 - p)) for the mean pixel p (clipped to [eps, 1 - eps]) of
    `images` ((N, n_visible) or (N, 1, H, W), values in [0, 1]): with W = 0 the model
    then already draws each pixel at its data rate (Hinton's practical guide, 8.1)."""
    if not isinstance(images, torch.Tensor) or images.shape[0] == 0 \
            or images[0].numel() != model.config.n_visible:
        raise ValueError(f"images must be a tensor (N, {model.config.n_visible}) or (N, 1, H, W)")
    p = images.reshape(images.shape[0], -1).float().mean(dim=0).clamp(eps, 1 - eps)
    with torch.no_grad():
        model.b.copy_((p / (1 - p)).log().to(model.b.device, model.b.dtype))


def ais_test_nll(model: RBM, test_images: torch.Tensor, *, n_chains: int = 100,
                 n_betas: int = 10_000, base_data: torch.Tensor | None = None, seed: int = 0):
    """Test NLL in nats: mean over `test_images` (binary) of F(v) + log Z, log Z by AIS.

    base_data: images whose mean pixel sets the AIS base model's visible bias (the
    training data is best); None uses a zero bias. Returns (nll, lower, upper, ais)
    where lower/upper use AIS's -/+ 3 standard-error bounds on log Z (a too small log Z
    flatters the model: AIS tends to underestimate log Z) and `ais` is the
    `metrics.AISResult`.
    """
    from drawjourney import metrics

    ais = metrics.ais_log_partition(model, n_chains=n_chains, n_betas=n_betas, data=base_data,
                                    seed=seed)
    with torch.no_grad():
        mean_f = torch.cat([model.free_energy(chunk) for chunk in test_images.split(1000)])
        mean_f = float(mean_f.double().mean())
    return mean_f + ais.log_z, mean_f + ais.log_z_lower, mean_f + ais.log_z_upper, ais


RECIPE = dict(epochs=200, batch_size=100, lr=0.02, momentum=0.9, weight_decay=1e-4,
              n_chains=100, k=1, seed=0)
"""The shipped checkpoint's recipe (`train_recipe`'s defaults), for the record."""


def train_recipe(epochs: int = RECIPE["epochs"], *, batch_size: int = RECIPE["batch_size"],
                 lr: float = RECIPE["lr"], momentum: float = RECIPE["momentum"],
                 weight_decay: float = RECIPE["weight_decay"], n_chains: int = RECIPE["n_chains"],
                 k: int = RECIPE["k"], seed: int = RECIPE["seed"], n_hidden: int = 500,
                 minutes: float | None = None, device=None, callback=None, every: int = 1000,
                 progress: bool = True):
    """Train RBM(784, n_hidden) on dynamically binarized 28x28 MNIST train with PCD-k.

    SGD with momentum, learning rate decaying linearly from `lr` to 0 over `epochs`
    (PCD's chains need the steps to shrink so they can keep up: the final model is then
    the one they sample), L2 weight decay on W only, visible bias initialised to the
    data's log-odds. `minutes` stops early (the schedule stays the one for `epochs`).
    callback(step, history, model) is called every `every` steps (e.g. to save).
    Returns (model, history).
    """
    from drawjourney import data, runtime, train

    device = runtime.device(device)
    epochs = _positive_int("epochs", epochs)
    runtime.seed(seed)
    model = RBM(RBMConfig(784, n_hidden)).to(device)
    train_data = data.mnist("train", size=28, binarize="dynamic", device=device)
    init_visible_bias(model, train_data.images)
    optimizer = torch.optim.SGD([{"params": [model.W], "weight_decay": weight_decay},
                                 {"params": [model.b, model.c], "weight_decay": 0.0}],
                                lr=lr, momentum=momentum)
    batches = data.batches(train_data, batch_size, seed=seed)
    total = epochs * len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1 - t / total))
    pcd = pcd_step(model, optimizer, k=k, n_chains=n_chains)

    def step_fn(batch):
        losses = pcd(batch)
        schedule.step()
        return losses

    history = train.fit(step_fn, batches, epochs=epochs, minutes=minutes, progress=progress,
                        every=every, desc="rbm",
                        callback=None if callback is None else lambda s, h: callback(s, h, model))
    return model.eval(), history


def _bench_train(minutes: float | None, device: torch.device) -> RBM:
    """The recipe; with `minutes`, its epochs cut to what fits them here: a probe of a few
    seconds measures steps per second, then the schedule is set for that many epochs."""
    if minutes is None:
        return train_recipe(device=device)[0]
    _, probe = train_recipe(1, minutes=min(minutes, 1.0) / 10, device=device, progress=False)
    steps_per_epoch = 60_000 // RECIPE["batch_size"]
    budget_steps = 0.9 * (60 * minutes - probe.seconds) * probe.steps / max(probe.seconds, 1e-9)
    epochs = max(1, min(RECIPE["epochs"], int(budget_steps // steps_per_epoch)))
    model, _ = train_recipe(epochs, minutes=minutes, device=device, progress=False)
    return model


def _bench_sample(model: RBM, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    return model.sample(n, steps=1000)


def _bench_likelihood(model: RBM) -> tuple[float, str]:
    from drawjourney import data, runtime

    device = model.W.device
    fast = runtime.fast_mode()
    test = data.mnist("test", binarize="static", device=device).images
    train_images = data.mnist("train", device=device).images
    # Full mode: the estimator the shipped checkpoint's test_nll_nats was measured with.
    nll, _, _, _ = ais_test_nll(model, test, n_chains=20 if fast else 500,
                                n_betas=1000 if fast else 50_000, base_data=train_images)
    return nll, "nats"


SPOT_CHECK_DIGITS = 1000
"""The first this many statically binarized test digits make the shipped model's spot check."""


def spot_check(model: RBM, recorded_metrics: dict) -> tuple[str, float, float]:
    """("test_nll_nats", estimate, standard error) on the first `SPOT_CHECK_DIGITS` test digits.

    The estimate is mean F(v) + the recorded log Z: it re-measures the free energies of
    the loaded weights exactly, so it differs from the recorded test NLL (all 10,000
    digits, same log Z) only by which digits are averaged; the standard error of that
    mean is std(F) / sqrt(n).
    """
    from drawjourney import data

    device = model.W.device
    v = data.mnist("test", binarize="static", device=device).images[:SPOT_CHECK_DIGITS]
    with torch.no_grad():
        free = model.free_energy(v).double()
    estimate = float(free.mean()) + float(recorded_metrics["log_z"])
    return "test_nll_nats", estimate, float(free.std()) / math.sqrt(free.numel())


FAMILY = bench.register(bench.Family(
    name="rbm",
    description="RBM, 784 binary pixels x 500 binary hidden units, trained with PCD "
                "(chapter 03); NLL by AIS",
    model_class=RBM,
    train=_bench_train,
    sample=_bench_sample,
    conditional=False,
    likelihood=_bench_likelihood,
    spot_check=spot_check,
))
