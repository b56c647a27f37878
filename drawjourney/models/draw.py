"""Chapter 05: DRAW, a recurrent VAE that draws on a canvas in T steps (Gregor et al. 2015).

At step t = 1..T, with sigma the logistic function and c_0 = a learned start canvas:

    x_hat_t  = x - sigma(c_{t-1})                             the error image
    r_t      = read(x, x_hat_t, h_dec_{t-1})                  look at the image and the error
    h_enc_t  = LSTM_enc(h_enc_{t-1}, [r_t, h_dec_{t-1}])
    z_t      ~ q(z_t | h_enc_t) = N(mu_t, diag(sigma_t^2))    linear in h_enc_t
    h_dec_t  = LSTM_dec(h_dec_{t-1}, [z_t, onehot(y)])        (the label only when conditional)
    c_t      = c_{t-1} + write(h_dec_t)

and p(x | z_1..T) is independent Bernoulli pixels with logits c_T. The prior is N(0, I) at
every step, so the loss is -log p(x | c_T) + sum_t KL(q(z_t | ...) || N(0, I)), the
negative ELBO. Sampling runs the decoder alone with z_t ~ N(0, I).

Attention (Gregor et al. 2015, eqs. 19-29): a linear layer of h_dec emits
(g~_X, g~_Y, log sigma^2, log delta~, log gamma); `filterbank` turns them into two banks of
N Gaussian filters, F_X (N, A) and F_Y (N, B), for an image of width A and height B:

    g_X = (A + 1)/2 (g~_X + 1),  g_Y = (B + 1)/2 (g~_Y + 1),  delta = (max(A, B) - 1)/(N - 1) delta~
    mu_X^i = g_X + (i - N/2 - 0.5) delta,  mu_Y^j = g_Y + (j - N/2 - 0.5) delta,  i, j = 1..N
    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X,   pixels counted a = 1..A

    read(x)  = gamma F_Y x F_X^T                      an N x N glimpse of the B x A image
    write(w) = (1 / gamma) F_Y^T w F_X                 an N x N patch painted onto the canvas

Without attention, read is [x, x_hat] whole and write is a linear layer to every pixel.
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
from drawjourney.models.vae import SPOT_CHECK_DIGITS, _positive_int, kl_normal, log_normal
from drawjourney.models.vae import spot_check, test_bound  # any model with elbo(x, labels)

ATTENTION_PARAMS = ("g_x", "g_y", "log_sigma2", "log_delta", "log_gamma")
"""The five numbers one attention head emits per image, in the order of its linear layer."""


@dataclass(frozen=True)
class DRAWConfig:
    """T drawing steps; read_n x read_n glimpses and write_n x write_n patches when
    attention is on; LSTM sizes; z_dim latent numbers per step; n_classes > 0 feeds a
    one-hot label to the decoder at every step; images are image_size squared."""

    T: int = 16
    read_n: int = 2
    write_n: int = 5
    enc_size: int = 256
    dec_size: int = 256
    z_dim: int = 16
    attention: bool = True
    n_classes: int = 0
    image_size: int = 28

    def __post_init__(self):
        for name, low in (("T", 1), ("read_n", 1), ("write_n", 1), ("enc_size", 1),
                          ("dec_size", 1), ("z_dim", 1), ("n_classes", 0), ("image_size", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"DRAWConfig.{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.attention, bool):
            raise ValueError(f"DRAWConfig.attention must be True or False, got {self.attention!r}")
        if self.attention and min(self.read_n, self.write_n) < 2:
            raise ValueError("attention grids need read_n, write_n >= 2 (the stride divides by N - 1)")


def filterbank(g_x: torch.Tensor, g_y: torch.Tensor, log_sigma2: torch.Tensor,
               log_delta: torch.Tensor, N: int, A: int, B: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The N x N grid of Gaussian filters as two banks, F_x (batch, N, A), F_y (batch, N, B).

    g_x, g_y: the raw emissions g~_X, g~_Y ((batch,), 0 = the image centre, +-1 the edges);
    log_sigma2 = log sigma^2 and log_delta = log delta~, each (batch,); A, B: image width and
    height. Pixel positions count from 1 as in the paper. Each row sums to 1: the
    normalization Z is a softmax over pixels, so a filter centred far off the image still
    sums to 1 (on its nearest edge pixels) instead of underflowing to 0.
    """
    for name, value in (("g_x", g_x), ("g_y", g_y), ("log_sigma2", log_sigma2),
                        ("log_delta", log_delta)):
        if not isinstance(value, torch.Tensor) or value.dim() != 1 or not value.is_floating_point():
            raise ValueError(f"{name} must be a float tensor of shape (batch,), got "
                             f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
        if value.shape != g_x.shape:
            raise ValueError(f"g_x, g_y, log_sigma2 and log_delta must share one shape (batch,); "
                             f"{name} has {tuple(value.shape)}, g_x {tuple(g_x.shape)}")
    for name, value in (("N", N), ("A", A), ("B", B)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if N < 2:
        raise ValueError("N must be >= 2: the stride is (max(A, B) - 1) / (N - 1) delta~")
    centre_x = (A + 1) / 2 * (g_x + 1)                                   # g_X, (batch,)
    centre_y = (B + 1) / 2 * (g_y + 1)
    delta = (max(A, B) - 1) / (N - 1) * torch.exp(log_delta)              # stride, (batch,)
    offsets = torch.arange(1, N + 1, device=g_x.device, dtype=g_x.dtype) - N / 2 - 0.5
    mu_x = centre_x[:, None] + offsets * delta[:, None]                  # (batch, N)
    mu_y = centre_y[:, None] + offsets * delta[:, None]
    sigma2 = torch.exp(log_sigma2)[:, None, None]

    def bank(mu: torch.Tensor, size: int) -> torch.Tensor:
        a = torch.arange(1, size + 1, device=g_x.device, dtype=g_x.dtype)
        return torch.softmax(-(a - mu[:, :, None]).pow(2) / (2 * sigma2), dim=2)  # (batch, N, size)

    return bank(mu_x, A), bank(mu_y, B)


def read_glimpse(images: torch.Tensor, F_x: torch.Tensor, F_y: torch.Tensor,
                 gamma: torch.Tensor) -> torch.Tensor:
    """gamma F_y x F_x^T: images (batch, B, A) -> glimpses (batch, N, N)."""
    return gamma[:, None, None] * (F_y @ images @ F_x.transpose(1, 2))


def write_patch(patches: torch.Tensor, F_x: torch.Tensor, F_y: torch.Tensor,
                gamma: torch.Tensor) -> torch.Tensor:
    """(1 / gamma) F_y^T w F_x: patches (batch, N, N) -> canvas updates (batch, B, A)."""
    return (F_y.transpose(1, 2) @ patches @ F_x) / gamma[:, None, None]


def attention_box(params: dict, N: int, A: int, B: int) -> torch.Tensor:
    """Where a grid looks, as (..., 4) boxes (x0, y0, x1, y1) in 0-based pixel coordinates.

    params: raw emissions as returned by `DRAW.sample`/`reconstruct` ("g_x", "g_y",
    "log_delta", each (...)); the box spans the outermost filter centres.
    """
    centre_x = (A + 1) / 2 * (params["g_x"] + 1) - 1
    centre_y = (B + 1) / 2 * (params["g_y"] + 1) - 1
    half = (max(A, B) - 1) / (N - 1) * torch.exp(params["log_delta"]) * (N - 1) / 2
    return torch.stack([centre_x - half, centre_y - half, centre_x + half, centre_y + half], -1)


def with_boxes(frames: torch.Tensor, boxes: torch.Tensor, scale: int = 3,
               value: float = 0.5) -> torch.Tensor:
    """Frames (..., 1, H, W) in [0, 1] upscaled `scale` times with each box (..., 4) of
    `attention_box` outlined in grey `value` (clipped to the image): (..., 1, sH, sW)."""
    if not isinstance(frames, torch.Tensor) or frames.dim() < 3 or frames.shape[-3] != 1:
        raise ValueError(f"frames must be a tensor (..., 1, H, W), got "
                         f"{tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__}")
    if not isinstance(boxes, torch.Tensor) or tuple(boxes.shape) != (*frames.shape[:-3], 4):
        raise ValueError(f"boxes must have shape {(*frames.shape[:-3], 4)} (one box per frame), "
                         f"got {tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__}")
    scale = _positive_int("scale", scale)
    H, W = frames.shape[-2:]
    big = frames.repeat_interleave(scale, -2).repeat_interleave(scale, -1).clone()
    # each edge is the upscaled pixel k with k <= edge < k + 1: exactly one row or column,
    # also when an edge falls on a pixel border (a test |centre - edge| < 1/2 drew none)
    pos = ((boxes.to(frames.device, torch.float32) + 0.5) * scale).clamp(-1, max(H, W) * scale)
    cell = torch.floor(pos).long()
    x0, y0, x1, y1 = (cell[..., i, None, None] for i in range(4))
    ys = torch.arange(H * scale, device=frames.device)[:, None]
    xs = torch.arange(W * scale, device=frames.device)[None, :]
    inside_x = (xs >= x0) & (xs <= x1)
    inside_y = (ys >= y0) & (ys <= y1)
    edge = (((ys == y0) | (ys == y1)) & inside_x) | (((xs == x0) | (xs == x1)) & inside_y)
    big[..., 0, :, :][edge] = value
    return big


def _init_attention(layer: nn.Linear, N: int, size: int, write: bool) -> None:
    """Start a grid as a blurred view of the whole image: centred (g~ = 0), the N filter
    centres in the middles of N equal strips (delta~ = (N - 1) / N), sigma half the stride.
    A read starts with gamma = 1 (the glimpse averages pixels); a write with
    1 / gamma = (size / N)^2, so a patch value of 1 adds about 1 to the logits it covers.

    The all-zero start (every emission 0) trains badly: it puts a 2 x 2 read grid's centres
    on the image's edges, where MNIST is always black, and a 5 x 5 write with gamma = 1
    moves each logit by ~(N / size)^2 = 3% of the patch value. The decoder then cannot use
    z, the KL term pushes q onto the prior and training stalls at the mean digit (measured:
    -ELBO stuck near 206 nats for 700 steps)."""
    delta_tilde = (N - 1) / N
    stride = (size - 1) / (N - 1) * delta_tilde
    log_gamma = 2 * math.log(N / size) if write else 0.0
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.0, 0.0, math.log((stride / 2) ** 2),
                                       math.log(delta_tilde), log_gamma]))


class DRAW(nn.Module):
    """The DRAW network; see the module docstring for the equations.

    Images are (B, 1, S, S) in [0, 1] (binarized MNIST for the likelihoods). A conditional
    DRAW (config.n_classes > 0) takes `labels` (B ints in [0, n_classes)) wherever it takes
    or makes images; an unconditional one takes none.
    """

    def __init__(self, config: DRAWConfig = DRAWConfig()):
        super().__init__()
        if not isinstance(config, DRAWConfig):
            raise TypeError(f"config must be a DRAWConfig, got {type(config).__name__}")
        self.config = config
        c = config
        pixels = c.image_size ** 2
        read_size = 2 * c.read_n ** 2 if c.attention else 2 * pixels
        self.encoder = nn.LSTMCell(read_size + c.dec_size, c.enc_size)
        self.decoder = nn.LSTMCell(c.z_dim + c.n_classes, c.dec_size)
        self.to_q = nn.Linear(c.enc_size, 2 * c.z_dim)                   # (mu, logvar)
        if c.attention:
            self.read_attention = nn.Linear(c.dec_size, len(ATTENTION_PARAMS))
            self.write_attention = nn.Linear(c.dec_size, len(ATTENTION_PARAMS))
            self.to_patch = nn.Linear(c.dec_size, c.write_n ** 2)
        else:
            self.to_patch = nn.Linear(c.dec_size, pixels)
        self.canvas0 = nn.Parameter(torch.zeros(1, c.image_size, c.image_size))
        if c.attention:
            _init_attention(self.read_attention, c.read_n, c.image_size, write=False)
            _init_attention(self.write_attention, c.write_n, c.image_size, write=True)

    # -- read and write ----------------------------------------------------------------------
    def _attention(self, layer: nn.Linear, h_dec: torch.Tensor, N: int):
        S = self.config.image_size
        params = layer(h_dec)
        g_x, g_y, log_sigma2, log_delta, log_gamma = params.unbind(1)
        F_x, F_y = filterbank(g_x, g_y, log_sigma2, log_delta, N, S, S)
        return F_x, F_y, torch.exp(log_gamma), params

    def read(self, x: torch.Tensor, x_hat: torch.Tensor, h_dec: torch.Tensor) -> torch.Tensor:
        """r_t from the image and the error image ((B, S, S) each): (B, 2 N^2) or (B, 2 S^2)."""
        if not self.config.attention:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1)
        F_x, F_y, gamma, _ = self._attention(self.read_attention, h_dec, self.config.read_n)
        both = torch.stack([x, x_hat], dim=1).flatten(0, 1)                 # (2B, S, S)
        glimpses = read_glimpse(both, F_x.repeat_interleave(2, 0), F_y.repeat_interleave(2, 0),
                                gamma.repeat_interleave(2, 0))
        return glimpses.view(x.shape[0], -1)

    def write(self, h_dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the canvas update (B, S, S), the write attention's raw emissions (B, 5) or None)."""
        S = self.config.image_size
        if not self.config.attention:
            return self.to_patch(h_dec).view(-1, S, S), None
        N = self.config.write_n
        F_x, F_y, gamma, params = self._attention(self.write_attention, h_dec, N)
        patch = self.to_patch(h_dec).view(-1, N, N)
        return write_patch(patch, F_x, F_y, gamma), params

    # -- the recurrence --------------------------------------------------------------------------
    def _run(self, x: torch.Tensor | None, labels: torch.Tensor | None, batch: int,
             generator: torch.Generator | None, keep_log_ratio: bool = False):
        """Unroll T steps. x None: sample from the prior. Returns canvases (T, B, S, S) as
        logits, kls (T, B) (zeros when sampling), log p(z) - log q(z) summed over steps (B,)
        if asked, and the write attention emissions (T, B, 5) or None."""
        c = self.config
        p = self.canvas0
        S = c.image_size
        h_enc = p.new_zeros(batch, c.enc_size)
        s_enc = p.new_zeros(batch, c.enc_size)
        h_dec = p.new_zeros(batch, c.dec_size)
        s_dec = p.new_zeros(batch, c.dec_size)
        canvas = self.canvas0.expand(batch, S, S)
        onehot = None if labels is None else F.one_hot(labels, c.n_classes).to(p.dtype)
        image = None if x is None else x.view(batch, S, S)
        canvases, kls, writes = [], [], []
        log_ratio = p.new_zeros(batch)
        for _ in range(c.T):
            if image is None:
                z = _randn((batch, c.z_dim), generator, p)
            else:
                x_hat = image - torch.sigmoid(canvas)
                r = self.read(image, x_hat, h_dec)
                h_enc, s_enc = self.encoder(torch.cat([r, h_dec], dim=1), (h_enc, s_enc))
                mu, logvar = self.to_q(h_enc).chunk(2, dim=1)
                z = mu + torch.exp(0.5 * logvar) * _randn(mu.shape, generator, p)
                kls.append(kl_normal(mu, logvar))
                if keep_log_ratio:
                    log_ratio = log_ratio + log_normal(z) - log_normal(z, mu, logvar)
            dec_in = z if onehot is None else torch.cat([z, onehot], dim=1)
            h_dec, s_dec = self.decoder(dec_in, (h_dec, s_dec))
            update, params = self.write(h_dec)
            canvas = canvas + update
            canvases.append(canvas)
            if params is not None:
                writes.append(params)
        kls_t = torch.stack(kls) if kls else p.new_zeros(c.T, batch)
        return (torch.stack(canvases), kls_t, log_ratio,
                torch.stack(writes) if writes else None)

    def forward(self, x: torch.Tensor, labels=None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(canvases (T, B, 1, S, S) as Bernoulli logits, per-step KLs (T, B) in nats)."""
        x, labels = self._inputs(x, labels)
        canvases, kls, _, _ = self._run(x, labels, x.shape[0], generator)
        return canvases.unsqueeze(2), kls

    def elbo_terms(self, x: torch.Tensor, labels=None, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x | c_T), sum_t KL_t), each (B,) nats."""
        x, labels = self._inputs(x, labels)
        canvases, kls, _, _ = self._run(x, labels, x.shape[0], generator)
        return _bernoulli_log_lik(x, canvases[-1]), kls.sum(0)

    def elbo(self, x: torch.Tensor, labels=None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The evidence lower bound on log p(x[ | y]), one draw of z_1..T: (B,) nats."""
        rec, kl = self.elbo_terms(x, labels, generator)
        return rec - kl

    def loss(self, x: torch.Tensor, labels=None) -> dict:
        """The negative ELBO averaged over the batch, with its two parts, for `train.fit`."""
        rec, kl = self.elbo_terms(x, labels)
        return {"loss": (kl - rec).mean(), "rec": -rec.mean().detach(), "kl": kl.mean().detach()}

    def log_importance_weights(self, x: torch.Tensor, k: int, labels=None,
                               generator: torch.Generator | None = None) -> torch.Tensor:
        """log w_i = log p(x, z_1..T) - log q(z_1..T | x) for k draws: (k, B) nats."""
        k = _positive_int("k", k)
        x, labels = self._inputs(x, labels)
        B = x.shape[0]
        xs = x.repeat(k, 1, 1, 1)
        ys = None if labels is None else labels.repeat(k)
        canvases, _, log_ratio, _ = self._run(xs, ys, k * B, generator, keep_log_ratio=True)
        return (_bernoulli_log_lik(xs, canvases[-1]) + log_ratio).view(k, B)

    # -- drawing -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, dict | None]:
        """Draw n new images: (canvases (T, n, 1, S, S) as pixel means sigma(c_t) in [0, 1],
        the write attention per step as a dict of (T, n) tensors named by ATTENTION_PARAMS,
        or None without attention). The last canvas is the sample."""
        n = _positive_int("n", n)
        labels = self._labels(labels, n)
        canvases, _, _, writes = self._run(None, labels, n, generator)
        return torch.sigmoid(canvases).unsqueeze(2), _named(writes)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels=None, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, dict | None]:
        """Redraw x: the same pair as `sample`, with z_t from the encoder."""
        x, labels = self._inputs(x, labels)
        canvases, _, _, writes = self._run(x, labels, x.shape[0], generator)
        return torch.sigmoid(canvases).unsqueeze(2), _named(writes)

    # -- checks ---------------------------------------------------------------------------------
    def _inputs(self, x, labels) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = unit_images(x, self.config.image_size, self.canvas0)
        return x, self._labels(labels, x.shape[0])

    def _labels(self, labels, batch: int) -> torch.Tensor | None:
        C = self.config.n_classes
        if labels is None:
            if C:
                raise ValueError(f"this DRAW is conditional: pass labels, {batch} ints in [0, {C})")
            return None
        return class_labels(labels, C, batch, self.canvas0.device, "this DRAW")


def init_canvas(model: DRAW, images: torch.Tensor) -> None:
    """Start the canvas c_0 at the data's pixel log-odds: before any step, sigma(c_0) is the
    mean digit, and the steps draw what differs from it."""
    mean = images.float().mean(0).view_as(model.canvas0).clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.canvas0.copy_(torch.log(mean) - torch.log1p(-mean))


def _bernoulli_log_lik(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) summed over pixels: x (B, 1, S, S), logits (B, S, S) -> (B,)."""
    # -BCE(l, x) = x l - softplus(l), summed
    return (logits * x.view_as(logits)).flatten(1).sum(1) - F.softplus(logits).flatten(1).sum(1)


def _randn(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device).to(like.device, like.dtype)


def _named(writes: torch.Tensor | None) -> dict | None:
    if writes is None:
        return None
    return {name: writes[..., i] for i, name in enumerate(ATTENTION_PARAMS)}


# -- the recipes -------------------------------------------------------------------------------

RECIPES = {
    "draw": dict(config=DRAWConfig(T=16, read_n=2, write_n=5, enc_size=256, dec_size=256,
                                   z_dim=16, attention=True), epochs=20, batch_size=100,
                 lr=1e-3, clip=5.0, seed=0),
    "draw_noattn": dict(config=DRAWConfig(T=16, enc_size=256, dec_size=256, z_dim=16,
                                          attention=False), epochs=10, batch_size=100,
                        lr=1e-3, clip=5.0, seed=0),
    "draw_cond": dict(config=DRAWConfig(T=16, read_n=2, write_n=5, enc_size=128, dec_size=128,
                                        z_dim=8, attention=True, n_classes=10), epochs=10,
                      batch_size=100, lr=1e-3, clip=5.0, seed=0),
}
"""The shipped checkpoints' recipes (`train_recipe(name)`'s defaults), for the record."""


def train_recipe(name: str = "draw", *, epochs: int | None = None, minutes: float | None = None,
                 device=None, callback=None, every: int = 1000, progress: bool = True,
                 **overrides):
    """Train RECIPES[name] (overridden by keyword) on dynamically binarized 28x28 MNIST.

    Adam, learning rate cosine-annealed from `lr` to lr / 20 over the epochs, gradient norm
    clipped at `clip` (LSTMs unrolled T steps). `minutes` stops early. callback(step,
    history, model) every `every` steps. Returns (model, history).
    """
    from drawjourney import data, runtime, train

    recipe = train.recipe(RECIPES, name, "DRAW", overrides, epochs)
    device = runtime.device(device)
    runtime.seed(recipe["seed"])
    config = recipe["config"]
    model = DRAW(config).to(device)
    train_data = data.mnist("train", size=config.image_size, binarize="dynamic", device=device)
    init_canvas(model, train_data.images)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    batches = data.batches(train_data, recipe["batch_size"], seed=recipe["seed"])
    total = recipe["epochs"] * len(batches)
    schedule = train.cosine_schedule(optimizer, total)
    conditional = config.n_classes > 0

    def step_fn(batch):
        x, y = batch
        losses = model.loss(x, y if conditional else None)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        nn.utils.clip_grad_norm_(model.parameters(), recipe["clip"])
        optimizer.step()
        schedule.step()
        return losses

    model.train()
    history = train.fit(step_fn, batches, epochs=recipe["epochs"], minutes=minutes,
                        progress=progress, every=every, desc=name,
                        callback=None if callback is None else lambda s, h: callback(s, h, model))
    return model.eval(), history


# -- the bench families ------------------------------------------------------------------------

def _bench_train(name: str):
    def train(minutes: float | None, device: torch.device) -> DRAW:
        return train_recipe(name, minutes=minutes, device=device, progress=minutes is None)[0]
    return train


def _bench_sample(model: DRAW, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    return torch.cat([model.sample(len(chunk), labels=None if labels is None else chunk)[0][-1]
                      for chunk in (labels.split(1000) if labels is not None
                                    else torch.arange(n).split(1000))])


def _bench_likelihood(model: DRAW) -> tuple[float, str, dict]:
    """IWAE NLL (k = 10; 2 in fast mode) and -ELBO (the bound the paper reports) on the
    static test set, in nats."""
    from drawjourney import data, runtime
    from drawjourney.models.vae import test_nll

    device = model.canvas0.device
    test = data.mnist("test", binarize="static", device=device)
    labels = test.labels if model.config.n_classes else None
    k = 2 if runtime.fast_mode() else 10
    nll = float(test_nll(model, test.images, labels, k=k, chunk=k,
                         progress=not runtime.fast_mode()).mean())
    bound = float(test_bound(model, test.images, labels).mean())
    return nll, "nats", {"test_nll_bound_nats": bound, "test_nll_estimator": f"IWAE k={k}"}


for _name, _description, _conditional in (
        ("draw", "DRAW with attention, T=16 steps, 2x2 read, 5x5 write, LSTMs 256 (chapter 05); "
                 "-ELBO", False),
        ("draw_noattn", "DRAW without attention, T=16 steps, LSTMs 256 (chapter 05); -ELBO", False),
        ("draw_cond", "label-conditioned DRAW with attention, T=16 steps (chapter 05); -ELBO",
         True)):
    bench.register(bench.Family(
        name=_name, description=_description, model_class=DRAW, train=_bench_train(_name),
        sample=_bench_sample, conditional=_conditional, likelihood=_bench_likelihood,
        spot_check=spot_check))
