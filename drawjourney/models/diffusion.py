"""Chapter 09: diffusion, many small denoising steps instead of one big map.

The forward process adds known Gaussian noise over T steps,

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),

and because a product of Gaussians is Gaussian, any step is one draw from the data:

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),  abar_t = prod_{s <= t} (1 - beta_s)

(`q_sample`). A network eps(x_t, t) learns to predict the noise that made x_t (`ddpm_loss`,
Ho et al. 2020); the reverse step then follows the posterior q(x_{t-1} | x_t, x_0) with x_0
replaced by its estimate (`ddpm_sample`). DDIM (Song et al. 2021, `ddim_sample`) takes the
same network along a subsequence of the steps, deterministically for eta = 0.

Class-conditional generation with classifier-free guidance (Ho & Salimans 2022): the
network takes a label, replaced by a "no label" token with probability p_uncond in
training, and sampling mixes the two predictions,

    eps_guided = (1 + w) eps(x_t, t, y) - w eps(x_t, t, none).

Indexing: the schedule's tensors have T entries, index t = 0 .. T-1 standing for the
paper's t = 1 .. T (so alpha_bars[0] = 1 - beta_1, and index T - 1 is the noisiest step).
Images: the data and every sampler's output are in [0, 1]; the network works on the
scale [-1, 1] (`to_model_scale`), where x_T ~ N(0, I) is a sensible end point.
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

SCHEDULE_KINDS = ("linear", "cosine")


def to_model_scale(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the network's scale [-1, 1]."""
    return images * 2.0 - 1.0


def from_model_scale(x: torch.Tensor) -> torch.Tensor:
    """The network's scale -> images in [0, 1] (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


class Schedule(nn.Module):
    """The noise schedule as buffers (T,): betas, alphas = 1 - betas, alpha_bars = cumprod.

    kind "linear": beta rises linearly from 1e-4 to 0.02 (Ho et al. 2020, for T = 1000).
    kind "cosine": abar_t = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2),
    s = 0.008, betas clipped at 0.999 (Nichol & Dhariwal 2021): the signal fades more
    evenly instead of being mostly gone halfway through.
    Index t = 0 .. T-1 is the paper's t = 1 .. T."""

    def __init__(self, T: int = 1000, kind: str = "linear"):
        super().__init__()
        if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
            raise ValueError(f"T must be a positive int, got {T!r}")
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
        self.T, self.kind = int(T), kind
        if kind == "linear":
            betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
        else:
            s = 0.008
            steps = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        alphas = 1 - betas
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas", alphas.float())
        self.register_buffer("alpha_bars", torch.cumprod(alphas, 0).float())

    def extra_repr(self) -> str:
        return f"T={self.T}, kind={self.kind!r}"

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio abar_t / (1 - abar_t) of every step (T,)."""
        return self.alpha_bars / (1 - self.alpha_bars)


def _steps(schedule: Schedule, t, batch: int, device) -> torch.Tensor:
    """t as an int64 (batch,) tensor of step indices in [0, T), or a clear ValueError."""
    if isinstance(t, bool):
        raise ValueError(f"t must be step indices in [0, {schedule.T}), got {t!r}")
    t = torch.as_tensor(t, device=device)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"t must be integer step indices in [0, {schedule.T}), got {t.dtype}")
    if t.dim() == 0:
        t = t.expand(batch)
    if tuple(t.shape) != (batch,):
        raise ValueError(f"t must be one step index or one per image ({batch},), got shape "
                         f"{tuple(t.shape)}")
    if int(t.min()) < 0 or int(t.max()) >= schedule.T:
        raise ValueError(f"t must lie in [0, {schedule.T}) (index t stands for the paper's "
                         f"t + 1), got values in [{int(t.min())}, {int(t.max())}]")
    return t.long()


def q_sample(schedule: Schedule, x0: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps: one draw of q(x_t | x_0) for the given
    noise eps (B, ...). t: one index or one per row, in [0, T)."""
    if not isinstance(x0, torch.Tensor) or not isinstance(eps, torch.Tensor) \
            or x0.shape != eps.shape or x0.dim() < 1:
        raise ValueError("x0 and eps must be tensors of the same shape (B, ...)")
    t = _steps(schedule, t, x0.shape[0], x0.device)
    abar = schedule.alpha_bars[t].view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def ddpm_loss(model: nn.Module, schedule: Schedule, x0: torch.Tensor, labels=None,
              p_uncond: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The epsilon objective, a scalar: mean squared error between the noise that made x_t
    and the model's prediction of it, at a uniformly drawn step t per image.

    x0: images in [0, 1] (mapped to [-1, 1] here). labels (conditional model): each is
    replaced by the no-label token with probability p_uncond, which teaches the model the
    unconditional prediction that guidance needs. generator: for t, the noise and the drops."""
    x0 = to_model_scale(_images(x0, model))
    if isinstance(p_uncond, bool) or not isinstance(p_uncond, numbers.Real) \
            or not 0 <= p_uncond <= 1:
        raise ValueError(f"p_uncond must be a probability in [0, 1], got {p_uncond!r}")
    B, device = x0.shape[0], x0.device
    gen_device = generator.device if generator is not None else device
    t = torch.randint(0, schedule.T, (B,), generator=generator, device=gen_device).to(device)
    eps = torch.randn(x0.shape, generator=generator, device=gen_device).to(device, x0.dtype)
    tokens = model.label_tokens(labels, B)
    if tokens is not None and p_uncond > 0:
        drop = torch.rand(B, generator=generator, device=gen_device).to(device) < p_uncond
        tokens = torch.where(drop, torch.full_like(tokens, model.config.n_classes), tokens)
    return F.mse_loss(model._eps(q_sample(schedule, x0, t, eps), t, tokens), eps)


# -- the network ------------------------------------------------------------------------------

@dataclass(frozen=True)
class UNetConfig:
    """A U-Net for (1, image_size, image_size) images at three resolutions (S, S/2, S/4)
    with channels * (1, 2, 2) feature maps, n_res residual blocks per resolution, self-
    attention at the coarsest one, a sinusoidal timestep embedding, and (n_classes > 0) a
    label embedding with one extra "no label" token for classifier-free guidance. The
    model owns its noise schedule: T steps of kind `schedule`."""

    image_size: int = 28
    channels: int = 32
    n_res: int = 2
    n_classes: int = 10
    T: int = 1000
    schedule: str = "linear"

    def __post_init__(self):
        for name, low in (("image_size", 4), ("channels", 8), ("n_res", 1), ("n_classes", 0),
                          ("T", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"UNetConfig.{name} must be an int >= {low}, got {value!r}")
        if self.image_size % 4:
            raise ValueError(f"UNetConfig.image_size must be divisible by 4 (two halvings), "
                             f"got {self.image_size}")
        if self.channels % 8:
            raise ValueError(f"UNetConfig.channels must be a multiple of 8 (group norm), got "
                             f"{self.channels}")
        if self.schedule not in SCHEDULE_KINDS:
            raise ValueError(f"UNetConfig.schedule must be one of {SCHEDULE_KINDS}, got "
                             f"{self.schedule!r}")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features (B, dim) of integer steps t (B,), periods from 1 to 10,000."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8, channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time (and label) embedding added in between."""

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Sequential(_norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))
        self.conv2 = nn.Sequential(_norm(cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
        nn.init.zeros_(self.conv2[-1].weight)
        nn.init.zeros_(self.conv2[-1].bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(h)


class Attention(nn.Module):
    """Self-attention over the positions of a feature map, residual."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = _norm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(h, h, h, need_weights=False)
        return x + out.transpose(1, 2).reshape(B, C, H, W)


class UNet(nn.Module):
    """eps(x_t, t [, label]): the noise in x_t (B, 1, S, S, on the scale [-1, 1])."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        if not isinstance(config, UNetConfig):
            raise TypeError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = config
        self.schedule = Schedule(config.T, config.schedule)
        C, E = config.channels, 4 * config.channels
        widths = (C, 2 * C, 2 * C)
        self.time = nn.Sequential(nn.Linear(C, E), nn.SiLU(), nn.Linear(E, E))
        self.label = nn.Embedding(config.n_classes + 1, E) if config.n_classes else None
        self.inp = nn.Conv2d(1, C, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, cin = [C], C
        for level, width in enumerate(widths):
            for _ in range(config.n_res):
                self.down.append(ResBlock(cin, width, E))
                cin = width
                skips.append(cin)
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(cin, cin, 3, stride=2, padding=1))
                skips.append(cin)
        self.mid = nn.ModuleList([ResBlock(cin, cin, E), ResBlock(cin, cin, E)])
        self.mid_attn = Attention(cin)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(config.n_res + 1):
                self.up.append(ResBlock(cin + skips.pop(), width, E))
                cin = width
            if level > 0:
                self.upsample.append(nn.Conv2d(cin, cin, 3, padding=1))
        self.out = nn.Sequential(_norm(cin), nn.SiLU(), nn.Conv2d(cin, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x_t: torch.Tensor, t, labels=None) -> torch.Tensor:
        """The predicted noise (B, 1, S, S). t: one step index or one per image, in [0, T).
        labels: ints in [0, n_classes), or None for the unconditional prediction."""
        x_t = self._noisy(x_t)
        t = _steps(self.schedule, t, x_t.shape[0], x_t.device)
        return self._eps(x_t, t, self.label_tokens(labels, x_t.shape[0]))

    def label_tokens(self, labels, batch: int) -> torch.Tensor | None:
        """Labels as embedding indices (None stays None: the no-label token is used)."""
        if labels is None:
            return None
        return class_labels(labels, self.config.n_classes, batch, self.schedule.betas.device,
                            "this U-Net")

    def _eps(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor | None):
        """The network itself on checked inputs; tokens in [0, n_classes], n_classes = none."""
        emb = self.time(timestep_embedding(t, self.config.channels).to(x.dtype))
        if self.label is not None:
            if tokens is None:
                tokens = torch.full((x.shape[0],), self.config.n_classes, device=x.device)
            emb = emb + self.label(tokens)
        h = self.inp(x)
        hs, blocks, downs = [h], iter(self.down), iter(self.downsample)
        for level in range(3):
            for _ in range(self.config.n_res):
                h = next(blocks)(h, emb)
                hs.append(h)
            if level < 2:
                h = next(downs)(h)
                hs.append(h)
        h = self.mid[0](h, emb)
        h = self.mid[1](self.mid_attn(h), emb)
        blocks, ups = iter(self.up), iter(self.upsample)
        for level in reversed(range(3)):
            for _ in range(self.config.n_res + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], 1), emb)
            if level > 0:
                h = next(ups)(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(h)

    def _noisy(self, x) -> torch.Tensor:
        S = self.config.image_size
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x_t must be a tensor (B, 1, {S}, {S}), got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, S, S) or x.shape[0] == 0:
            raise ValueError(f"x_t must have shape (B, 1, {S}, {S}) with B >= 1, got "
                             f"{tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x_t holds NaN or infinite values")
        p = self.schedule.betas
        return x.to(p.device, self.inp.weight.dtype)


def _images(x0, model: nn.Module) -> torch.Tensor:
    return unit_images(x0, model.config.image_size, model.inp.weight,
                       "the data's scale; ddpm_loss maps it to [-1, 1]")


# -- sampling ---------------------------------------------------------------------------------

CPU_CHUNK = 100
"""Sampling on a CPU feeds the network at most this many images per pass: larger batches
overflow the caches (the shipped U-Net, 2 threads: 0.8-0.9 ms per image at 50-200 images,
2.3 ms at 1000). The draws do not depend on it."""


def _guided_eps(model: UNet, x: torch.Tensor, t: int, tokens, guidance: float) -> torch.Tensor:
    """(1 + w) eps(x, t, y) - w eps(x, t, none), both in one batched pass; w = 0 (or no
    labels) is the plain prediction."""
    if x.device.type == "cpu" and x.shape[0] > CPU_CHUNK:
        return torch.cat([_guided_eps(model, x[i:i + CPU_CHUNK], t,
                                      None if tokens is None else tokens[i:i + CPU_CHUNK],
                                      guidance)
                          for i in range(0, x.shape[0], CPU_CHUNK)])
    steps = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    if tokens is None or guidance == 0:
        return model._eps(x, steps, tokens)
    none = torch.full_like(tokens, model.config.n_classes)
    both = model._eps(torch.cat([x, x]), torch.cat([steps, steps]), torch.cat([tokens, none]))
    cond, uncond = both.chunk(2)
    return (1 + guidance) * cond - guidance * uncond


def _start(model: UNet, schedule: Schedule, n, labels, guidance, generator):
    """The checked arguments every sampler shares, and x_T ~ N(0, I)."""
    if not isinstance(model, UNet):
        raise TypeError(f"model must be a diffusion UNet, got {type(model).__name__}")
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (e.g. model.schedule), got "
                        f"{type(schedule).__name__}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(guidance, bool) or not isinstance(guidance, numbers.Real) \
            or not math.isfinite(guidance) or guidance < 0:
        raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
    if guidance > 0 and labels is None:
        raise ValueError("guidance needs labels: it pushes samples toward a label")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    tokens = model.label_tokens(labels, int(n))
    p = model.inp.weight
    S = model.config.image_size
    gen_device = generator.device if generator is not None else p.device

    def noise():
        return torch.randn(int(n), 1, S, S, generator=generator, device=gen_device).to(p.device,
                                                                                    p.dtype)

    return tokens, noise, noise()


def _bar(steps, total: int, progress: bool, desc: str):
    """The reverse steps, under a progress bar if asked."""
    if not progress:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, total=total, desc=desc, leave=False)


@torch.no_grad()
def ddpm_sample(model: UNet, schedule: Schedule, n: int, labels=None, guidance: float = 0.0,
                generator: torch.Generator | None = None, return_trajectory: bool = False,
                noise: bool = True, progress: bool = False):
    """n images (n, 1, S, S) in [0, 1] by the T reverse steps of DDPM:

        x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z,

    sigma_t^2 the posterior variance beta_t (1 - abar_{t-1}) / (1 - abar_t) (0 at the last
    step). noise=False drops the sigma_t z term (an experiment of chapter 09).
    return_trajectory: also return a dict with "t" (T,) the step indices, from T - 1 down
    to 0, and "x_t" and "x0_hat" (T, n, 1, S, S) on the scale [-1, 1]: each step's input and
    the clean image it implies, x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).
    progress: show a bar over the steps."""
    tokens, draw, x = _start(model, schedule, n, labels, guidance, generator)
    abar, alphas, betas = schedule.alpha_bars, schedule.alphas, schedule.betas
    xs, x0s = [], []
    for t in _bar(reversed(range(schedule.T)), schedule.T, progress, f"DDPM-{schedule.T}"):
        eps = _guided_eps(model, x, t, tokens, guidance)
        if return_trajectory:
            xs.append(x.cpu())
            x0s.append(((x - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()).cpu())
        mean = (x - betas[t] / (1 - abar[t]).sqrt() * eps) / alphas[t].sqrt()
        z = draw()
        if t > 0 and noise:
            var = betas[t] * (1 - abar[t - 1]) / (1 - abar[t])
            mean = mean + var.sqrt() * z
        x = mean
    images = from_model_scale(x)
    if not return_trajectory:
        return images
    steps = torch.arange(schedule.T - 1, -1, -1)
    return images, {"t": steps, "x_t": torch.stack(xs), "x0_hat": torch.stack(x0s)}


def ddim_steps(T: int, steps: int) -> torch.Tensor:
    """The `steps` step indices DDIM visits, evenly spaced from 0 to T - 1 (increasing)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an int in [1, T = {T}], got {steps!r}")
    return torch.linspace(0, T - 1, int(steps), dtype=torch.float64).round().long()


@torch.no_grad()
def ddim_sample(model: UNet, schedule: Schedule, n: int, steps: int, eta: float = 0.0,
                labels=None, guidance: float = 0.0,
                generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """n images (n, 1, S, S) in [0, 1] by DDIM along `steps` of the T steps:

        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z,
        sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev),

    abar_prev = 1 after the last step. eta = 0 is deterministic given x_T; eta = 1 with
    steps = T is DDPM's update. progress: show a bar over the steps."""
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta) \
            or eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    visits = ddim_steps(schedule.T, steps)
    tokens, draw, x = _start(model, schedule, n, labels, guidance, generator)
    abar = schedule.alpha_bars
    one = abar.new_ones(())
    for k in _bar(reversed(range(len(visits))), len(visits), progress, f"DDIM-{len(visits)}"):
        t = int(visits[k])
        ab, ab_prev = abar[t], (abar[int(visits[k - 1])] if k > 0 else one)
        eps = _guided_eps(model, x, t, tokens, guidance)
        x0_hat = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        sigma = eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
        z = draw()
        x = ab_prev.sqrt() * x0_hat + (1 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        if eta > 0:
            x = x + sigma * z
    return from_model_scale(x)


# -- the recipes ------------------------------------------------------------------------------

RECIPES = {
    "diffusion": dict(config=UNetConfig(channels=16, n_res=2, n_classes=10), epochs=20,
                      batch_size=128, lr=1e-3, p_uncond=0.1, ema=0.999, seed=0),
    "diffusion_gpu": dict(config=UNetConfig(channels=64, n_res=2, n_classes=10), epochs=40,
                          batch_size=128, lr=2e-4, p_uncond=0.1, ema=0.9995, seed=0),
}
"""`train_recipe(name)`'s defaults: a class-conditional U-Net trained for guidance (labels
dropped 10% of the time), weights averaged (EMA) for sampling. `diffusion` is the shipped
recipe, sized for CPU (0.39M parameters, about 0.45 s per step of 128 on one core);
`diffusion_gpu` is the wider one a GPU affords."""


def train_recipe(name: str = "diffusion", *, epochs: int | None = None,
                 minutes: float | None = None, device=None, callback=None, every: int = 500,
                 progress: bool = True, **overrides):
    """Train RECIPES[name] (overridden by keyword) with `ddpm_loss` on MNIST in [0, 1]: Adam,
    learning rate cosine-annealed to lr / 20, gradient norm clipped at 1, and an exponential
    moving average of the weights (decay `ema`, warmed up), which is the model returned. `minutes`
    stops early. callback(step, history, model) every `every` steps. Returns (model, history)."""
    import copy

    from drawjourney import data, runtime, train

    recipe = train.recipe(RECIPES, name, "diffusion", overrides, epochs)
    if minutes is not None:
        bench.check_minutes(minutes)
    device = runtime.device(device)
    runtime.seed(recipe["seed"])
    config = recipe["config"]
    model = UNet(config).to(device)
    averaged = copy.deepcopy(model).eval()
    train_data = data.mnist("train", size=config.image_size, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    batches = data.batches(train_data, recipe["batch_size"], seed=recipe["seed"])
    schedule = train.cosine_schedule(optimizer, recipe["epochs"] * len(batches))
    decay, steps_done = recipe["ema"], [0]

    def step_fn(batch):
        x, y = batch
        loss = ddpm_loss(model, model.schedule, x, y if config.n_classes else None,
                         p_uncond=recipe["p_uncond"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        steps_done[0] += 1
        # the average warms up (decay (1 + n) / (10 + n) until it reaches `decay`), so a
        # short run is not stuck near the random start
        d = min(decay, (1 + steps_done[0]) / (10 + steps_done[0]))
        with torch.no_grad():
            for avg, p in zip(averaged.parameters(), model.parameters()):
                avg.lerp_(p, 1 - d)
        return loss

    model.train()
    history = train.fit(step_fn, batches, epochs=recipe["epochs"], minutes=minutes,
                        progress=progress, every=every, desc=name,
                        callback=None if callback is None else lambda s, h: callback(s, h, averaged))
    return averaged.eval(), history


# -- the bench family -------------------------------------------------------------------------

BENCH_STEPS = 50
"""The harness samples with DDIM in this many steps (chapter 09 measures DDPM-1000 too)."""
BENCH_GUIDANCE = 0.5
"""The guidance weight w of the harness's samples: on the shipped model, DDIM-25 on 500
samples gave label accuracy 0.958 / 0.988 / 1.000 / 1.000 at w = 0 / 0.25 / 0.5 / 1 and
FID-MNIST lowest near w = 0.25-0.5 (chapter 09 measures the whole curve)."""


@torch.no_grad()
def test_eps_mse(model: UNet, images: torch.Tensor, labels=None, *, seed: int = 0,
                 batch_size: int = 500) -> torch.Tensor:
    """The noise-prediction error per image (B,), float64 on the CPU, at steps and noise
    drawn from a generator seeded with `seed` (the same for every model): the training
    loss on held-out images, given their labels."""
    device = model.inp.weight.device
    generator = torch.Generator(device=device).manual_seed(seed)
    s = model.schedule
    out = []
    for i in range(0, images.shape[0], batch_size):
        x0 = to_model_scale(_images(images[i:i + batch_size], model))
        t = torch.randint(0, s.T, (x0.shape[0],), generator=generator, device=device)
        eps = torch.randn(x0.shape, generator=generator, device=device, dtype=x0.dtype)
        tokens = model.label_tokens(None if labels is None else labels[i:i + batch_size],
                                    x0.shape[0])
        err = (model._eps(q_sample(s, x0, t, eps), t, tokens) - eps).pow(2)
        out.append(err.flatten(1).mean(1).to("cpu", torch.float64))
    return torch.cat(out)


def _bench_train(minutes: float | None, device: torch.device) -> UNet:
    return train_recipe("diffusion", minutes=minutes, device=device, progress=minutes is None)[0]


def _bench_sample(model: UNet, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    guided = labels is not None and model.config.n_classes > 0
    return ddim_sample(model, model.schedule, n, BENCH_STEPS,
                       labels=labels if guided else None,
                       guidance=BENCH_GUIDANCE if guided else 0.0)


def _bench_test_metrics(model: UNet) -> dict:
    from drawjourney import data

    test = data.mnist("test", size=model.config.image_size, device=model.inp.weight.device)
    labels = test.labels if model.config.n_classes else None
    return {"test_eps_mse": float(test_eps_mse(model, test.images, labels).mean())}


SAMPLER_COMPARISON_SAMPLES = 500
"""At most this many samples per sampler in the harness's DDPM-against-DDIM comparison."""


def _bench_sampler_metrics(model: UNet, n_samples: int) -> dict:
    """DDPM with all T steps against DDIM in BENCH_STEPS, on the same labels (0-9 in turn,
    no guidance) and min(n_samples, SAMPLER_COMPARISON_SAMPLES) samples each: FID-MNIST,
    label accuracy and seconds per image under keys "ddpm1000_w0_*" and "ddim50_w0_*"."""
    import time

    from drawjourney import metrics, runtime

    device = model.inp.weight.device
    n = min(n_samples, SAMPLER_COMPARISON_SAMPLES)
    C = model.config.n_classes
    labels = torch.arange(n, device=device) % C if C else None
    samplers = {
        f"ddpm{model.schedule.T}": lambda g: ddpm_sample(model, model.schedule, n, labels=labels,
                                                         generator=g, progress=True),
        f"ddim{BENCH_STEPS}": lambda g: ddim_sample(model, model.schedule, n, BENCH_STEPS,
                                                    labels=labels, generator=g, progress=True),
    }
    # how the harness's own samples (its FID-MNIST and label accuracy) were drawn
    out = {"guidance_w": BENCH_GUIDANCE, "ddim_steps": BENCH_STEPS, "sampler_comparison_samples": n}
    for name, draw in samplers.items():
        generator = torch.Generator(device=device).manual_seed(0)
        runtime.synchronize(device)
        start = time.perf_counter()
        images = draw(generator)
        runtime.synchronize(device)
        out[f"{name}_w0_seconds_per_image"] = (time.perf_counter() - start) / n
        out[f"{name}_w0_fid_mnist"] = metrics.fid_mnist(images, device=device)
        if labels is not None:
            out[f"{name}_w0_label_accuracy"] = metrics.label_accuracy(images, labels, device=device)
    return out


SPOT_CHECK_DIGITS = 1000


def spot_check(model: UNet, recorded_metrics: dict) -> tuple[str, float, float]:
    """("test_eps_mse", on every 10th test digit (1000 of them: the first ones are easier
    than the rest), its standard error)."""
    from drawjourney import data

    test = data.mnist("test", size=model.config.image_size, device=model.inp.weight.device)
    part = test.spread(min(SPOT_CHECK_DIGITS, len(test)))
    err = test_eps_mse(model, part.images, part.labels if model.config.n_classes else None)
    return "test_eps_mse", float(err.mean()), float(err.std()) / math.sqrt(len(err))


bench.register(bench.Family(
    name="diffusion", description="class-conditional DDPM U-Net with classifier-free guidance "
                                  "(chapter 09); sampled by DDIM-50 at w = 0.5",
    model_class=UNet, train=_bench_train, sample=_bench_sample, conditional=True,
    spot_check=spot_check, test_metrics=_bench_test_metrics,
    sampler_metrics=_bench_sampler_metrics))
