"""Chapter 06: generative adversarial networks, a learned judge instead of a pixel loss.

Every model so far scored its pictures pixel by pixel and so drew averages. A GAN
(Goodfellow et al. 2014) trains a second network, the discriminator D, to tell real
images from the generator's, and trains the generator G to fool it:

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))].

D returns a logit l, D(x) = sigmoid(l), so each log is a softplus:
log D = -softplus(-l) and log(1 - D) = -softplus(l). `d_loss` and `g_loss` are written
that way and stay finite for any logit. The "minimax" generator loss
E[log(1 - D(G(z)))] saturates when D wins (its gradient vanishes as D(G(z)) -> 0); the
"nonsaturating" loss -E[log D(G(z))] has the same fixed point and a strong gradient there.

The networks follow the DCGAN rules (Radford et al. 2016): strided convolutions in D and
fractional-strided (transposed) ones in G, batch norm, ReLU in G with a tanh output,
LeakyReLU in D, no fully connected hidden layers (G's first layer projects z onto a 7x7
map; D's last layer is a 7x7 convolution to one logit). With config.n_classes > 0 both
take a label: G appends a learned label embedding to z, D reads it as an extra image
channel. Images: G's raw output and D's input are on G's tanh scale [-1, 1]
(`to_model_scale`); `Generator.sample` returns [0, 1] like every model of the course.
"""
from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench
from drawjourney.models._shared import class_labels

LOSS_KINDS = ("nonsaturating", "minimax")


@dataclass(frozen=True)
class GANConfig:
    """z_dim noise numbers; G's widths are (2 g_width, g_width) at 7x7 and 14x14, D's are
    (d_width, 2 d_width) at 14x14 and 7x7; n_classes > 0 makes both conditional, with a
    label embedding of embed_dim numbers in G. Images are 28x28 (image_size 28)."""

    z_dim: int = 100
    g_width: int = 32
    d_width: int = 32
    n_classes: int = 0
    embed_dim: int = 16
    image_size: int = 28

    def __post_init__(self):
        for name, low in (("z_dim", 1), ("g_width", 1), ("d_width", 1), ("n_classes", 0),
                          ("embed_dim", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"GANConfig.{name} must be an int >= {low}, got {value!r}")
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, numbers.Integral) \
                or self.image_size != 28:
            raise ValueError(f"GANConfig.image_size must be 28 (two stride-2 layers from a 7x7 "
                             f"map), got {self.image_size!r}")


def to_model_scale(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the tanh scale [-1, 1] that G draws in and D reads."""
    return images * 2.0 - 1.0


def from_model_scale(images: torch.Tensor) -> torch.Tensor:
    """G's tanh scale [-1, 1] -> [0, 1]."""
    return (images + 1.0) * 0.5


SAMPLE_CHUNK = 1000
"""Images per forward pass of `Generator.sample`. In eval mode an image does not depend on
its batch, so chunks change nothing but the memory: 4,200 images at once took 0.75 GB."""


class Generator(nn.Module):
    """z (B, z_dim) [+ labels (B,)] -> images (B, 1, 28, 28) on the tanh scale [-1, 1]."""

    def __init__(self, config: GANConfig = GANConfig()):
        super().__init__()
        if not isinstance(config, GANConfig):
            raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
        self.config = config
        c = config.g_width
        extra = config.embed_dim if config.n_classes else 0
        self.embed = nn.Embedding(config.n_classes, config.embed_dim) if config.n_classes else None
        self.net = nn.Sequential(
            nn.ConvTranspose2d(config.z_dim + extra, 2 * c, 7, 1, 0, bias=False),   # 1 -> 7
            nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False),                      # 7 -> 14
            nn.BatchNorm2d(c), nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, 2, 1),                                      # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        z = _latent(self, z)
        h = _with_label_vector(self, z, labels)
        return self.net(h[:, :, None, None])

    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """n images (n, 1, 28, 28) in [0, 1] from z ~ N(0, I) (or the given z).

        A conditional G needs `labels` (n ints). z is drawn on the generator's device (the
        model's without one), so a CPU generator gives the same z on every device. Sampling
        always uses the batch-norm running statistics (eval mode), so samples do not depend
        on the batch and leave the statistics alone; G's mode is restored after.
        """
        n = _positive_int("n", n)
        p = next(self.parameters())
        if z is None:
            z = noise((n, self.config.z_dim), generator, p)
        elif not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, self.config.z_dim):
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (n, z_dim) = ({n}, "
                             f"{self.config.z_dim}), got {got}")
        if labels is not None and self.config.n_classes:
            labels = _labels(self, labels, n)      # checked once, then split with z
        was_training = self.training
        try:
            self.eval()
            return torch.cat([from_model_scale(self(z[i:i + SAMPLE_CHUNK],
                                                    None if labels is None else labels[i:i + SAMPLE_CHUNK]))
                              for i in range(0, n, SAMPLE_CHUNK)])
        finally:
            self.train(was_training)


class Discriminator(nn.Module):
    """images (B, 1, 28, 28) on the tanh scale [+ labels (B,)] -> logits (B,).

    D(x) = sigmoid(logit) is its belief that x is real."""

    def __init__(self, config: GANConfig = GANConfig()):
        super().__init__()
        if not isinstance(config, GANConfig):
            raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
        self.config = config
        c, S = config.d_width, config.image_size
        self.embed = nn.Embedding(config.n_classes, S * S) if config.n_classes else None
        channels = 2 if config.n_classes else 1
        self.net = nn.Sequential(
            nn.Conv2d(channels, c, 4, 2, 1), nn.LeakyReLU(0.2),                     # 28 -> 14
            nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False),                               # 14 -> 7
            nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 1, 7, 1, 0),                                           # 7 -> 1
        )

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        x = _images(self, x)
        C, S = self.config.n_classes, self.config.image_size
        if labels is None:
            if C:
                raise ValueError(f"this discriminator is conditional: pass labels, "
                                 f"{x.shape[0]} ints in [0, {C})")
        else:
            plane = self.embed(_labels(self, labels, x.shape[0])).view(-1, 1, S, S)
            x = torch.cat([x, plane], dim=1)
        return self.net(x).flatten()


# -- the losses: pure functions of D's logits --------------------------------------------------

def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss, -E[log D(x)] - E[log(1 - D(G(z)))] = mean softplus(-real) + mean softplus(fake)."""
    real_logits = _logits("real_logits", real_logits)
    fake_logits = _logits("fake_logits", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """G's loss on D's logits for its samples.

    "minimax": E[log(1 - D(G(z)))] = -mean softplus(fake), the game's own objective, whose
        gradient vanishes where D confidently rejects the samples;
    "nonsaturating": -E[log D(G(z))] = mean softplus(-fake), the same fixed point with a
        strong gradient there (Goodfellow et al. 2014, section 3).
    """
    fake_logits = _logits("fake_logits", fake_logits)
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    raise ValueError(f"kind must be one of {LOSS_KINDS}, got {kind!r}")


def gan_step(G: Generator, D: Discriminator, g_optimizer: torch.optim.Optimizer,
             d_optimizer: torch.optim.Optimizer, real: torch.Tensor, labels=None, *,
             kind: str = "nonsaturating", generator: torch.Generator | None = None) -> dict:
    """One alternating update for `train.fit`: D on a real and a fake batch, then G.

    real: (B, 1, 28, 28) images in [0, 1] (as `data.batches` yields them); labels (B,) for
    a conditional pair (the fakes get the same labels). Returns floats: "d_loss", "g_loss"
    (G's loss of `kind`), "d_real" and "d_fake" (mean D(x) and D(G(z)) before the updates)
    and "g_grad_norm" (the norm of G's whole gradient, to watch saturation).
    """
    if kind not in LOSS_KINDS:
        raise ValueError(f"kind must be one of {LOSS_KINDS}, got {kind!r}")
    real = to_model_scale(_images(D, real, unit_range=True))
    cond = labels
    z = noise((real.shape[0], G.config.z_dim), generator, real)

    fake = G(z, cond)
    real_logits = D(real, cond)
    fake_logits = D(fake.detach(), cond)
    loss_d = d_loss(real_logits, fake_logits)
    d_optimizer.zero_grad(set_to_none=True)
    loss_d.backward()
    d_optimizer.step()

    loss_g = g_loss(D(fake, cond), kind)
    g_optimizer.zero_grad(set_to_none=True)
    loss_g.backward()
    grad_norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in G.parameters() if p.grad is not None))
    g_optimizer.step()
    return {"d_loss": float(loss_d.detach()), "g_loss": float(loss_g.detach()),
            "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
            "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()),
            "g_grad_norm": float(grad_norm)}


# -- latent space -------------------------------------------------------------------------------

def slerp(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Spherical interpolation from z0 (t = 0) to z1 (t = 1) along the great circle between
    their directions, with the norm interpolated linearly, so it never dips toward 0 the way
    (1 - t) z0 + t z1 does between two independent Gaussian vectors.

    z0, z1: (..., D). t: a number (-> (..., D)) or a 1-D tensor of T values (-> (T, ..., D)).
    """
    if not isinstance(z0, torch.Tensor) or not isinstance(z1, torch.Tensor):
        raise TypeError(f"z0 and z1 must be tensors, got {type(z0).__name__} and "
                        f"{type(z1).__name__}")
    if z0.shape != z1.shape or z0.dim() < 1:
        raise ValueError(f"z0 and z1 must share one shape (..., D), got {tuple(z0.shape)} and "
                         f"{tuple(z1.shape)}")
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if t.dim() > 1:
        raise ValueError(f"t must be a number or a 1-D tensor of times, got shape {tuple(t.shape)}")
    scalar = t.dim() == 0
    t = t.reshape(-1, *([1] * z0.dim()))
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    u0, u1 = z0 / n0.clamp_min(1e-12), z1 / n1.clamp_min(1e-12)
    cos = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    if bool((cos < -1.0 + 1e-6).any()):
        raise ValueError("z0 and z1 point in opposite directions: no single great circle joins "
                         "them (every half circle does); nudge one of them")
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    near = sin < 1e-6                                  # parallel: fall back to a lerp
    safe = torch.where(near, torch.ones_like(sin), sin)
    w0 = torch.where(near, 1 - t, torch.sin((1 - t) * omega) / safe)
    w1 = torch.where(near, t, torch.sin(t * omega) / safe)
    direction = w0 * u0 + w1 * u1
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    out = direction * ((1 - t) * n0 + t * n1)
    return out[0] if scalar else out


def noise(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of `shape`, drawn on the generator's device, moved to `like`'s."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device).to(like.device, like.dtype)


@torch.no_grad()
def recalibrate_batchnorm(G: Generator, batches: int = 50, batch_size: int = 256,
                          seed: int = 0) -> Generator:
    """Re-estimate G's batch-norm running statistics over fresh noise (and uniform labels),
    as exact averages rather than the momentum averages of training; returns G in eval mode.
    Needed for an exponential moving average of G's weights, whose statistics nobody kept."""
    batches = _positive_int("batches", batches)
    batch_size = _positive_int("batch_size", batch_size)
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                      # cumulative average
    G.train()
    p = next(G.parameters())
    for _ in range(batches):
        z = noise((batch_size, G.config.z_dim), gen, p)
        labels = (torch.randint(G.config.n_classes, (batch_size,), generator=gen).to(p.device)
                  if G.config.n_classes else None)
        G(z, labels)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return G.eval()


# -- checks ---------------------------------------------------------------------------------

def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _logits(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of D's logits, got "
                        f"{getattr(value, 'dtype', type(value).__name__)}")
    if value.numel() == 0:
        raise ValueError(f"{name} is empty: pass at least one logit")
    return value


def _latent(model: Generator, z) -> torch.Tensor:
    D = model.config.z_dim
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise ValueError(f"z must be a float tensor of shape (B, {D}), got "
                         f"{getattr(z, 'dtype', type(z).__name__)}")
    if z.dim() != 2 or z.shape[1] != D or z.shape[0] == 0:
        raise ValueError(f"z must have shape (B, z_dim) = (B, {D}) with B >= 1, got "
                         f"{tuple(z.shape)}")
    p = next(model.parameters())
    return z.to(p.device, p.dtype)


def _images(model: nn.Module, x, unit_range: bool = False) -> torch.Tensor:
    S = model.config.image_size
    low, scale = (0, "[0, 1]") if unit_range else (-1, "[-1, 1] (to_model_scale of [0, 1] images)")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a tensor (B, 1, {S}, {S}), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, S, S) or x.shape[0] == 0:
        raise ValueError(f"images must have shape (B, 1, {S}, {S}) with B >= 1, got "
                         f"{tuple(x.shape)}")
    p = next(model.parameters())
    x = x.to(p.device, p.dtype)
    if not torch.isfinite(x).all() or x.min() < low - 1e-6 or x.max() > 1 + 1e-6:
        raise ValueError(f"images must hold finite values in {scale}")
    return x


def _labels(model: nn.Module, labels, batch: int) -> torch.Tensor:
    return class_labels(labels, model.config.n_classes, batch, next(model.parameters()).device,
                        f"this {type(model).__name__.lower()}")


def _with_label_vector(model: Generator, z: torch.Tensor, labels) -> torch.Tensor:
    C = model.config.n_classes
    if labels is None:
        if C:
            raise ValueError(f"this generator is conditional: pass labels, {z.shape[0]} ints "
                             f"in [0, {C})")
        return z
    return torch.cat([z, model.embed(_labels(model, labels, z.shape[0]))], dim=1)


# -- the recipes ------------------------------------------------------------------------------

RECIPES = {
    "gan": dict(config=GANConfig(z_dim=100, g_width=64, d_width=96), epochs=20, batch_size=64,
                lr=2e-4, betas=(0.5, 0.999), ema=0.999, kind="nonsaturating", seed=0),
    "cgan": dict(config=GANConfig(z_dim=100, g_width=64, d_width=64, n_classes=10), epochs=15,
                 batch_size=64, lr=2e-4, betas=(0.5, 0.999), ema=0.999, kind="nonsaturating",
                 seed=0),
}
"""The shipped checkpoints' recipes (`train_recipe(name)`'s defaults), for the record:
DCGAN's Adam settings (Radford et al. 2016) on grey 28x28 MNIST."""


def train_recipe(name: str = "gan", *, epochs: int | None = None, minutes: float | None = None,
                 device=None, callback=None, every: int = 200, progress: bool = True,
                 **overrides):
    """Train RECIPES[name] (overridden by keyword) on grey 28x28 MNIST; `minutes` stops early.

    Adam with DCGAN's settings for both networks, one D step per G step. With ema > 0 the
    returned generator is an exponential moving average of G's weights (decay `ema` per
    step) with its batch-norm statistics re-estimated (`recalibrate_batchnorm`); ema = 0
    returns G itself. callback(step, history, G, D) every `every` steps (G being the
    averaged one when ema > 0). Returns (G, D, history), both in eval mode.
    """
    from drawjourney import data, runtime, train

    recipe = train.recipe(RECIPES, name, "GAN", overrides, epochs)
    if minutes is not None:
        bench.check_minutes(minutes)
    if recipe["kind"] not in LOSS_KINDS:
        raise ValueError(f"kind must be one of {LOSS_KINDS}, got {recipe['kind']!r}")
    ema = float(recipe["ema"])
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"ema must be in [0, 1) (0 switches the average off), got {ema!r}")
    device = runtime.device(device)
    runtime.seed(recipe["seed"])
    config = recipe["config"]
    G, D = Generator(config).to(device), Discriminator(config).to(device)
    _init_weights(G)
    _init_weights(D)
    average = copy.deepcopy(G) if ema else G
    g_opt = torch.optim.Adam(G.parameters(), lr=recipe["lr"], betas=recipe["betas"])
    d_opt = torch.optim.Adam(D.parameters(), lr=recipe["lr"], betas=recipe["betas"])
    train_data = data.mnist("train", size=config.image_size, device=device)
    batches = data.batches(train_data, recipe["batch_size"], seed=recipe["seed"])
    conditional = config.n_classes > 0
    gen = torch.Generator(device).manual_seed(recipe["seed"] + 1)
    live, averaged = list(G.parameters()), list(average.parameters())

    def step_fn(batch):
        x, y = batch
        out = gan_step(G, D, g_opt, d_opt, x, y if conditional else None, kind=recipe["kind"],
                       generator=gen)
        if ema:
            with torch.no_grad():
                for a, w in zip(averaged, live):
                    a.lerp_(w, 1.0 - ema)
        return out

    def report(step, history):
        if callback is not None:
            shown = _averaged_view(average, G) if ema else G.eval()
            callback(step, history, shown, D.eval())
            G.train()
            D.train()

    G.train()
    D.train()
    history = train.fit(step_fn, batches, epochs=recipe["epochs"], minutes=minutes,
                        progress=progress, every=every, desc=name,
                        callback=None if callback is None else report)
    result = recalibrate_batchnorm(average) if ema else G.eval()
    return result, D.eval(), history


def _averaged_view(average: Generator, G: Generator) -> Generator:
    """The averaged weights with the live G's running statistics (cheap, for snapshots)."""
    for a, b in zip(average.buffers(), G.buffers()):
        a.copy_(b)
    return average.eval()


def _init_weights(model: nn.Module) -> None:
    """DCGAN's initialization: convolutions N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# -- the bench families -------------------------------------------------------------------------

def _bench_train(name: str):
    def train(minutes: float | None, device: torch.device) -> Generator:
        return train_recipe(name, minutes=minutes, device=device, progress=minutes is None)[0]
    return train


def _bench_sample(model: Generator, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    return model.sample(n, labels=labels if model.config.n_classes else None)


SPOT_CHECK_SAMPLES = 10_000
SPOT_CHECK_SEED = 1234


def spot_check(model: Generator, recorded_metrics: dict) -> tuple[str, float, float]:
    """One recorded metric re-measured on fixed-seed samples.

    Conditional: ("label_accuracy", p, sqrt(p (1 - p) / n)) on 100 samples per label.
    Unconditional: ("fid_mnist", FID-MNIST of 10,000 fixed-seed samples, its standard
    error), the error being the seed-to-seed spread recorded with the checkpoint as
    "fid_mnist_seed_sd" (FID has no closed-form error).
    """
    from drawjourney import metrics

    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(SPOT_CHECK_SEED)
    if model.config.n_classes:
        labels = torch.arange(model.config.n_classes).repeat_interleave(100)
        samples = model.sample(labels.numel(), labels=labels, generator=gen)
        p = metrics.label_accuracy(samples, labels, device=device)
        n = labels.numel()
        p_clipped = min(max(p, 0.5 / n), 1 - 0.5 / n)
        return "label_accuracy", p, math.sqrt(p_clipped * (1 - p_clipped) / n)
    if "fid_mnist_seed_sd" not in recorded_metrics:
        raise ValueError("this GAN checkpoint records no fid_mnist_seed_sd, the spread of "
                         "FID-MNIST across sampling seeds that the spot check compares against")
    samples = torch.cat([model.sample(500, generator=gen)
                         for _ in range(SPOT_CHECK_SAMPLES // 500)])
    fid = metrics.fid_mnist(samples, device=device)
    return "fid_mnist", fid, float(recorded_metrics["fid_mnist_seed_sd"])


for _name, _description, _conditional in (
        ("gan", "DCGAN, 100-d noise -> 28x28 grey digit, non-saturating loss (chapter 06)", False),
        ("cgan", "conditional DCGAN, label + 100-d noise -> 28x28 grey digit (chapter 06)", True)):
    bench.register(bench.Family(
        name=_name, description=_description, model_class=Generator, train=_bench_train(_name),
        sample=_bench_sample, conditional=_conditional, likelihood=None, spot_check=spot_check))
