"""Chapter 07: autoregressive models, an exact likelihood one pixel at a time.

p(x) = prod_i p(x_i | x_<i) in raster order (row by row, left to right), each factor a
Bernoulli for binarized MNIST. One network computes every conditional at once, if no
output can see its own pixel or any later one: masked convolutions (van den Oord et al.
2016, "Pixel Recurrent Neural Networks"). Mask "A" (first layer) hides the centre pixel
and everything after it in raster order; mask "B" (later layers) keeps the centre, which by
then holds only information about earlier pixels.

Stacked 3x3 masked convolutions miss a wedge of the past up and to the right (the blind
spot). The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders") splits each layer into a vertical stack, which sees every row above,
and a horizontal stack, which sees the pixels to the left in the current row and the
vertical stack shifted down by one row; tanh * sigmoid gates replace the ReLUs, and a label
(config.n_classes > 0) adds a learned bias to every gate.

All log-likelihoods are in nats; images are (B, 1, S, S) binary in {0, 1}.
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

MASK_TYPES = ("A", "B")
FAST_CHUNK = 50
"""Images `PixelCNN.sample_fast` draws at a time: its draws do not depend on it, its memory does."""


@dataclass(frozen=True)
class PixelCNNConfig:
    """n_layers layers of `channels` feature maps after a first layer of kernel
    `first_kernel`; gated=True builds the vertical/horizontal gated stacks (kernel
    `kernel`), False the plain stack of masked convolutions with residual connections;
    n_classes > 0 conditions on a label. Images are image_size squared."""

    image_size: int = 28
    n_layers: int = 12
    channels: int = 64
    kernel: int = 3
    first_kernel: int = 7
    gated: bool = True
    n_classes: int = 0

    def __post_init__(self):
        for name, low in (("image_size", 2), ("n_layers", 1), ("channels", 1), ("kernel", 3),
                          ("first_kernel", 3), ("n_classes", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"PixelCNNConfig.{name} must be an int >= {low}, got {value!r}")
        for name in ("kernel", "first_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(f"PixelCNNConfig.{name} must be odd (a centre pixel), got "
                                 f"{getattr(self, name)}")
        if not isinstance(self.gated, bool):
            raise ValueError(f"PixelCNNConfig.gated must be True or False, got {self.gated!r}")


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is zero at and after the centre in raster
    order (mask "A") or after the centre (mask "B"), so output (i, j) sees only input
    pixels before (i, j) (A) or up to it (B). Single-plane masking: every input channel
    of a position counts as that position (one colour channel, as here)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 mask_type: str = "B", bias: bool = True):
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                         bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", raster_mask(kernel_size, mask_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def raster_mask(k: int, mask_type: str) -> torch.Tensor:
    """The (k, k) 0/1 mask of a raster-causal kernel: rows above the centre, and the centre
    row left of the centre (and the centre itself for mask "B")."""
    mask = torch.zeros(k, k)
    c = k // 2
    mask[:c] = 1
    mask[c, :c + (mask_type == "B")] = 1
    return mask


class GatedLayer(nn.Module):
    """One layer of the gated PixelCNN: (v, h) -> (v', h').

    The vertical convolution covers the n = kernel // 2 rows above and the current row (a
    (n + 1) x kernel window); shifted down one row it reaches the horizontal stack, which
    sees the current row up to the current pixel ("B") or before it ("A", first layer).
    Gates: tanh(a) * sigmoid(b); the horizontal stack is residual after the first layer."""

    def __init__(self, in_channels: int, channels: int, kernel: int, first: bool,
                 n_classes: int = 0):
        super().__init__()
        self.n, self.first = kernel // 2, first
        n = self.n
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (n + 1, kernel))
        self.h_conv = nn.Conv2d(in_channels, 2 * channels, (1, n if first else n + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.label_bias = nn.Embedding(n_classes, 4 * channels) if n_classes else None

    def forward(self, v: torch.Tensor, h: torch.Tensor, label: torch.Tensor | None = None):
        v_conv, v_new = self.vertical(v, label)
        shifted = F.pad(v_conv, (0, 0, 1, 0))[..., :v.shape[-2], :]  # rows i-n-1..i-1
        return v_new, self.horizontal(h, shifted, label)

    def vertical(self, v: torch.Tensor, label: torch.Tensor | None = None):
        """(the vertical convolution, rows i-n..i, before the label bias; the gated v')."""
        n = self.n
        v_conv = self.v_conv(F.pad(v, (n, n, n, 0)))
        return v_conv, _gate(v_conv + self._bias(label, 0))

    def horizontal(self, h: torch.Tensor, shifted: torch.Tensor,
                   label: torch.Tensor | None = None) -> torch.Tensor:
        """h' from h (rows as given) and the vertical convolution shifted down one row."""
        n, W = self.n, h.shape[-1]
        h_pre = self.h_conv(F.pad(h, (n, 0, 0, 0)))                 # columns j-n..j
        if self.first:                                               # columns j-n..j-1
            h_pre = h_pre[..., :W]
        h_pre = h_pre + self.v_to_h(shifted) + self._bias(label, 1)
        h_new = self.h_out(_gate(h_pre))
        return h_new if self.first else h + h_new

    def _bias(self, label: torch.Tensor | None, part: int):
        if label is None:
            return 0.0
        return self.label_bias(label)[:, :, None, None].chunk(2, dim=1)[part]


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class PixelCNN(nn.Module):
    """Bernoulli logits of every pixel given the pixels before it: forward(x) -> (B, 1, S, S)."""

    def __init__(self, config: PixelCNNConfig = PixelCNNConfig()):
        super().__init__()
        if not isinstance(config, PixelCNNConfig):
            raise TypeError(f"config must be a PixelCNNConfig, got {type(config).__name__}")
        self.config = config
        C, k = config.channels, config.kernel
        if config.gated:
            self.layers = nn.ModuleList(
                [GatedLayer(1, C, config.first_kernel, first=True, n_classes=config.n_classes)]
                + [GatedLayer(C, C, k, first=False, n_classes=config.n_classes)
                   for _ in range(config.n_layers - 1)])
        else:
            self.first = MaskedConv2d(1, C, config.first_kernel, "A")
            self.layers = nn.ModuleList(MaskedConv2d(C, C, k, "B")
                                        for _ in range(config.n_layers - 1))
            self.label_bias = (nn.Embedding(config.n_classes, C * config.n_layers)
                               if config.n_classes else None)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 1), nn.ReLU(), nn.Conv2d(C, 1, 1))
        if config.n_classes:
            # log p(y): with it a class-conditional PixelCNN is also a model of p(x), the
            # mixture sum_y p(y) p(x | y) (uniform until `train_recipe` sets the data's).
            self.register_buffer("log_label_prior",
                                 torch.full((config.n_classes,), -math.log(config.n_classes)))

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Logits of p(x_i = 1 | x_<i [, y]) for every pixel i: (B, 1, S, S)."""
        x = self._images(x)
        return self._logits(2 * x - 1, self._labels(labels, x.shape[0]))

    def _logits(self, inputs: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        """The network on inputs in {-1, 1} (0 is the padding outside the image), of any
        height: a band of rows gives the rows' logits exactly where the band reaches up
        far enough."""
        if self.config.gated:
            v = h = inputs
            for layer in self.layers:
                v, h = layer(v, h, label)
            return self.head(h)
        biases = (self.label_bias(label)[:, :, None, None].chunk(self.config.n_layers, dim=1)
                  if label is not None else [0.0] * self.config.n_layers)
        h = torch.relu(self.first(inputs) + biases[0])
        for layer, bias in zip(self.layers, biases[1:]):
            h = h + torch.relu(layer(h) + bias)
        return self.head(h)

    def log_prob(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """log p(x [| y]) in nats, exact: (B,). A conditional network given no labels returns
        the exact log p(x) = log sum_y p(y) p(x | y) (one pass per class)."""
        x = self._images(x)
        if labels is None and self.config.n_classes:
            per_class = torch.stack([self.log_prob(x, torch.full((x.shape[0],), c))
                                     for c in range(self.config.n_classes)], dim=1)
            return torch.logsumexp(per_class + self.log_label_prior, dim=1)
        logits = self(x, labels)
        return (logits * x - F.softplus(logits)).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, labels=None, given=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n binary images (n, 1, S, S), drawn pixel by pixel in raster order (one network
        pass per pixel). given = (images, known): pixels where `known` is True are kept
        from `images` (completion), the rest are drawn conditioned on them. A conditional
        network given no labels draws each image's label from p(y) first."""
        x, known, uniforms, labels = self._start(n, labels, given, generator)
        S = self.config.image_size
        for i in range(S):
            for j in range(S):
                if bool(known[:, :, i, j].all()):
                    continue
                prob = torch.sigmoid(self(x, labels)[:, :, i, j])
                draw = (uniforms[:, :, i, j] < prob).to(x.dtype)
                x[:, :, i, j] = torch.where(known[:, :, i, j], x[:, :, i, j], draw)
        return x

    @torch.no_grad()
    def sample_fast(self, n: int, labels=None, given=None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """`sample`'s images (same arguments, same draws), computed with less work.

        Gated network: the vertical stack runs once per row, on only the rows that can reach
        the next one, and the horizontal stack once per pixel on that single row (a row
        depends on the rows above only through the vertical stack), on only the columns that
        can reach the pixel. Plain network: each pixel's pass runs on the rows that can reach
        it (its receptive field's height).

        Images are drawn `FAST_CHUNK` at a time. Every uniform number is drawn before the
        first pixel, so the chunks change the memory, not the draws."""
        x, known, uniforms, labels = self._start(n, labels, given, generator)
        label = self._labels(labels, n)
        for start in range(0, n, FAST_CHUNK):
            part = slice(start, start + FAST_CHUNK)
            self._fill_fast(x[part], known[part], uniforms[part], None if label is None else label[part])
        return x

    def _fill_fast(self, x, known, uniforms, label) -> None:
        """`sample_fast`'s raster loop over a chunk of images: draws the unknown pixels of x in place."""
        S, cfg, n = self.config.image_size, self.config, x.shape[0]
        for i in range(S):
            if bool(known[:, :, i].all()):
                continue
            lo = self._band_start(i)
            if cfg.gated:
                shifted = self._shifted_row(2 * x[:, :, lo:i] - 1, label, n, S)
            for j in range(S):
                if bool(known[:, :, i, j].all()):
                    continue
                if cfg.gated:
                    logit = self._pixel_logit(2 * x[:, :, i:i + 1] - 1, shifted, label, j)
                else:
                    logit = self._logits(2 * x[:, :, lo:i + 1] - 1, label)[:, :, -1, j]
                draw = (uniforms[:, :, i, j] < torch.sigmoid(logit)).to(x.dtype)
                x[:, :, i, j] = torch.where(known[:, :, i, j], x[:, :, i, j], draw)

    def _start(self, n, labels, given, generator):
        """What both samplers start from: the canvas (zeros, or the given pixels), the mask
        of known pixels, one uniform number per pixel, drawn on the generator's device (so
        both samplers, on any device, make the same Bernoulli draws), and the labels. A
        conditional network given none draws them from p(y), or, for a completion, from
        p(y | known pixels): exact when the known pixels are a raster prefix (all pixels
        before some point), which is then required."""
        n = _positive_int("n", n)
        S = self.config.image_size
        p = next(self.parameters())
        x = torch.zeros(n, 1, S, S, device=p.device, dtype=p.dtype)
        known = torch.zeros_like(x, dtype=torch.bool)
        if given is not None:
            x, known = self._given(given, n)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        gen_device = generator.device if generator is not None else p.device
        uniforms = torch.rand(n, 1, S, S, generator=generator, device=gen_device).to(p.device)
        if labels is None and self.config.n_classes:
            log_p = self.log_label_prior.expand(n, -1)
            if given is not None:
                log_p = log_p + self._prefix_log_likelihoods(x, known)
            labels = torch.multinomial(torch.softmax(log_p, 1).to(gen_device), 1,
                                       generator=generator)[:, 0].to(p.device)
        return x, known, uniforms, labels

    def _prefix_log_likelihoods(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """log p(known pixels | y) for every label (n, C), the known pixels a raster prefix."""
        flat = known.flatten(1).int()
        if (flat[:, 1:] > flat[:, :-1]).any():
            raise ValueError("pass labels: with a conditional PixelCNN and no labels, the known "
                             "pixels must be a raster prefix (every pixel before some point), "
                             "the only case where p(y | known pixels) is exact")
        per_class = []
        for c in range(self.config.n_classes):
            logits = self(x, torch.full((x.shape[0],), c))
            per_class.append(((logits * x - F.softplus(logits)) * known).flatten(1).sum(1))
        return torch.stack(per_class, 1)

    def _reach(self) -> int:
        """How far the receptive field reaches up (and, in a row, left) of a pixel."""
        cfg = self.config
        return cfg.first_kernel // 2 + (cfg.n_layers - 1) * (cfg.kernel // 2)

    def _band_start(self, i: int) -> int:
        """The first input row `sample_fast` needs for row i: the receptive field's height
        above it (plus the vertical stack's one-row shift in the gated network)."""
        return max(0, i - self._reach() - (1 if self.config.gated else 0))

    def _row_logits(self, row: torch.Tensor, shifted: list[torch.Tensor], label) -> torch.Tensor:
        """Logits of one row (B, 1, 1, S) from its inputs and each layer's shifted vertical
        convolution (`_shifted_row`): the gated network's horizontal stack alone."""
        h = row
        for layer, shift in zip(self.layers, shifted):
            h = layer.horizontal(h, shift, label)
        return self.head(h)

    def _pixel_logit(self, row: torch.Tensor, shifted: list[torch.Tensor], label,
                     j: int) -> torch.Tensor:
        """The logit of pixel j of one row (B, 1) from `_row_logits` on only the columns
        that can reach it (exact: a column further left cannot change it)."""
        lo = max(0, j - self._reach())
        return self._row_logits(row[..., lo:j + 1], [s[..., lo:j + 1] for s in shifted],
                                label)[:, :, 0, -1]

    def _shifted_row(self, rows: torch.Tensor, label, n: int, S: int) -> list[torch.Tensor]:
        """Each layer's vertical convolution at the row above the one being drawn (zeros
        above the image): what the horizontal stack of that row receives. rows: the inputs
        of the rows above, on the {-1, 1} scale, far enough up to be exact."""
        if rows.shape[-2] == 0:
            return [torch.zeros(n, 2 * layer.h_out.in_channels, 1, S, device=rows.device,
                                dtype=rows.dtype) for layer in self.layers]
        out, v = [], rows
        for layer in self.layers:
            v_conv, v = layer.vertical(v, label)
            out.append(v_conv[..., -1:, :])
        return out

    # -- checks ------------------------------------------------------------------------------
    def _images(self, x) -> torch.Tensor:
        return unit_images(x, self.config.image_size, next(self.parameters()),
                           "binarized MNIST: 0 or 1")

    def _labels(self, labels, batch: int) -> torch.Tensor | None:
        C = self.config.n_classes
        if labels is None:
            if C:
                raise ValueError(f"this PixelCNN is conditional: pass labels, {batch} ints in "
                                 f"[0, {C})")
            return None
        return class_labels(labels, C, batch, next(self.parameters()).device, "this PixelCNN")

    def _given(self, given, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        S = self.config.image_size
        if not isinstance(given, (tuple, list)) or len(given) != 2:
            raise ValueError("given must be a pair (images, known): images (n, 1, S, S) in "
                             "{0, 1} and a boolean mask of the same shape, True where kept")
        images, known = given
        images = self._images(images)
        if not isinstance(known, torch.Tensor) or known.dtype != torch.bool \
                or tuple(known.shape) != (n, 1, S, S) or images.shape[0] != n:
            raise ValueError(f"given must hold {n} images and a bool mask, both of shape "
                             f"({n}, 1, {S}, {S})")
        return images.clone(), known.to(images.device)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


# -- the recipes -------------------------------------------------------------------------------

RECIPES = {
    "pixelcnn": dict(config=PixelCNNConfig(n_layers=12, channels=32, gated=True, n_classes=10),
                     epochs=5, batch_size=64, lr=1e-3, seed=0),
    "pixelcnn_gpu": dict(config=PixelCNNConfig(n_layers=12, channels=64, gated=True,
                                               n_classes=10), epochs=20, batch_size=64,
                         lr=1e-3, seed=0),
}
"""`train_recipe(name)`'s defaults. "pixelcnn" made the shipped checkpoint on one CPU thread
(about 0.95 s per step of 64, 15 min per epoch): a class-conditional gated network, which is
also an exact model of p(x) through its label prior. "pixelcnn_gpu" is the larger recipe meant
for the 81-nat target (1.5 s per step on 2 CPU threads: run it on a GPU)."""


def train_recipe(name: str = "pixelcnn", *, epochs: int | None = None,
                 minutes: float | None = None, device=None, callback=None, every: int = 500,
                 progress: bool = True, **overrides):
    """Train RECIPES[name] (overridden by keyword) by maximum likelihood on dynamically
    binarized MNIST: Adam, learning rate cosine-annealed to lr / 20. `minutes` stops early.
    callback(step, history, model) every `every` steps. Returns (model, history)."""
    from drawjourney import data, runtime, train

    recipe = train.recipe(RECIPES, name, "PixelCNN", overrides, epochs)
    if minutes is not None:
        bench.check_minutes(minutes)
    device = runtime.device(device)
    runtime.seed(recipe["seed"])
    config = recipe["config"]
    model = PixelCNN(config).to(device)
    train_data = data.mnist("train", size=config.image_size, binarize="dynamic", device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    batches = data.batches(train_data, recipe["batch_size"], seed=recipe["seed"])
    schedule = train.cosine_schedule(optimizer, recipe["epochs"] * len(batches))
    conditional = config.n_classes > 0
    if conditional:
        counts = torch.bincount(train_data.labels.cpu(), minlength=config.n_classes)
        model.log_label_prior.copy_((counts / counts.sum()).log())

    def step_fn(batch):
        x, y = batch
        loss = -model.log_prob(x, y if conditional else None).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss

    model.train()
    history = train.fit(step_fn, batches, epochs=recipe["epochs"], minutes=minutes,
                        progress=progress, every=every, desc=name,
                        callback=None if callback is None else lambda s, h: callback(s, h, model))
    return model.eval(), history


# -- the bench family --------------------------------------------------------------------------

def test_nll(model: PixelCNN, images: torch.Tensor, labels=None, *,
             batch_size: int = 500) -> torch.Tensor:
    """Exact -log p(x [| y]) per image (B,) in nats, float64 on the CPU."""
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            chunk_labels = None if labels is None else labels[i:i + batch_size]
            out.append(-model.log_prob(images[i:i + batch_size], chunk_labels)
                       .to("cpu", torch.float64))
    return torch.cat(out)


def _bench_train(minutes: float | None, device: torch.device) -> PixelCNN:
    return train_recipe("pixelcnn", minutes=minutes, device=device, progress=minutes is None)[0]


def _bench_sample(model: PixelCNN, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    return model.sample_fast(n, labels=labels if model.config.n_classes else None)


def _bench_likelihood(model: PixelCNN) -> tuple[float, str, dict]:
    """Exact -log p(x) on all 10,000 statically binarized test digits (a conditional network's
    through its label prior), and for a conditional network also the exact -log p(x | y)."""
    from drawjourney import data

    device = next(model.parameters()).device
    test = data.mnist("test", binarize="static", device=device)
    extras = {}
    if model.config.n_classes:
        extras["test_nll_given_label_nats"] = float(test_nll(model, test.images,
                                                             test.labels).mean())
    return float(test_nll(model, test.images).mean()), "nats", extras


SPOT_CHECK_DIGITS = 1000


def spot_check(model: PixelCNN, recorded_metrics: dict) -> tuple[str, float, float]:
    """("test_nll_nats", exact -log p(x) of every 10th static test digit (1000), its
    standard error). Every 10th, not the first 1000: MNIST's test set puts its easier half
    first."""
    from drawjourney import data

    device = next(model.parameters()).device
    test = data.mnist("test", binarize="static", device=device)
    nll = test_nll(model, test.spread(SPOT_CHECK_DIGITS).images)
    return "test_nll_nats", float(nll.mean()), float(nll.std()) / math.sqrt(len(nll))


bench.register(bench.Family(
    name="pixelcnn", description="class-conditional gated PixelCNN, 12 layers of 32 channels, "
                                 "Bernoulli pixels in raster order (chapter 07); exact NLL of "
                                 "p(x) = sum_y p(y) p(x | y)",
    model_class=PixelCNN, train=_bench_train, sample=_bench_sample, conditional=True,
    likelihood=_bench_likelihood, spot_check=spot_check))
