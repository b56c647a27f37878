"""Chapter 02's second attempt: a generator built from transposed convolutions.

    h_0 = relu(W [onehot(y); z] + b)                reshaped to (B, C_0, 4, 4)
    h_i = relu(ConvTranspose_i(h_{i-1}))            (B, C_i, 4 * 2^i, 4 * 2^i)
    x_hat = sigmoid(ConvTranspose_out(h_last))      (B, 1, S, S),  S = 4 * 2^len(channels)

Each transposed convolution has stride 2 and doubles the side of its feature map; its
weights are shared across positions, so the count of parameters no longer grows with
the number of pixels. It is trained with chapter 01's pixel-wise MSE (`mlp.mse_loss`)
on paired (label, image) data, so the identity of chapter 01 still applies: the best
output is the class mean E[x | y], whatever the network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench
from drawjourney.models import mlp

STRIDE = 2
"""Every transposed convolution doubles the side of its feature map."""


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class ConvConfig:
    """n_classes labels, z_dim noise dimensions, channels C_0, C_1, ... of the feature maps
    (one stride-2 transposed convolution after each), base_size the side of the first
    map, kernel_size k of every transposed convolution, S = image_size."""

    n_classes: int = 10
    z_dim: int = 100
    channels: tuple[int, ...] = (128, 64)
    base_size: int = 4
    kernel_size: int = 4
    image_size: int = 16

    def __post_init__(self):
        for name in ("n_classes", "z_dim", "base_size", "image_size"):
            value = getattr(self, name)
            if not _positive_int(value):
                raise ValueError(f"ConvConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.channels, (tuple, list)) or not self.channels or not all(
                _positive_int(c) for c in self.channels):
            raise ValueError(f"ConvConfig.channels must be a non-empty tuple of positive ints "
                             f"(feature-map widths), got {self.channels!r}")
        k = self.kernel_size
        if not _positive_int(k) or k < STRIDE:
            raise ValueError(f"ConvConfig.kernel_size must be an int >= the stride {STRIDE} "
                             f"(a smaller kernel leaves output pixels no input reaches), got {k!r}")
        side = self.base_size * STRIDE ** len(self.channels)
        if self.image_size != side:
            raise ValueError(
                f"ConvConfig.image_size={self.image_size} does not match base_size * 2**len(channels)"
                f" = {self.base_size} * 2**{len(self.channels)} = {side}: each of the "
                f"{len(self.channels)} transposed convolutions doubles the side; change "
                f"image_size or the number of channels")


def transposed_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-2 transposed convolution with this
    kernel map a side n to exactly 2n: out = 2(n - 1) - 2 padding + k + output_padding."""
    return (kernel_size - 1) // 2, (kernel_size - 2) % 2


class ConvGenerator(nn.Module):
    """Linear -> 4x4 feature maps -> stride-2 transposed convolutions -> Sigmoid."""

    def __init__(self, config: ConvConfig = ConvConfig()):
        super().__init__()
        if not isinstance(config, ConvConfig):
            raise TypeError(f"config must be a ConvConfig, got {type(config).__name__}")
        self.config = config
        C, b, k = config.channels, config.base_size, config.kernel_size
        padding, output_padding = transposed_padding(k)
        self.project = nn.Linear(config.n_classes + config.z_dim, C[0] * b * b)
        widths = [*C, 1]
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, k, stride=STRIDE, padding=padding,
                               output_padding=output_padding)
            for c_in, c_out in zip(widths[:-1], widths[1:]))

    def forward(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """labels (B,) int64 in [0, n_classes), z (B, z_dim) -> images (B, 1, S, S) in (0, 1)."""
        self._check_inputs(labels, z)
        cfg = self.config
        onehot = F.one_hot(labels, cfg.n_classes).to(z.dtype)             # (B, n_classes)
        h = F.relu(self.project(torch.cat([onehot, z], dim=1)))           # (B, C_0 * b * b)
        h = h.view(-1, cfg.channels[0], cfg.base_size, cfg.base_size)     # (B, C_0, b, b)
        for layer in self.up[:-1]:
            h = F.relu(layer(h))                                          # side doubles
        return torch.sigmoid(self.up[-1](h))                              # (B, 1, S, S)

    # Chapter 01's generator takes the same inputs, so it lends its checks and sampler:
    # one implementation of the input errors and of how z is drawn for both chapters.
    sample = mlp.MLPGenerator.sample
    n_parameters = mlp.MLPGenerator.n_parameters
    _check_inputs = mlp.MLPGenerator._check_inputs


def conv_parameter_count(config: ConvConfig) -> int:
    """Weights plus biases of `ConvGenerator(config)`, from the config alone.

    The projection has (n_classes + z_dim) * C_0 b^2 weights and C_0 b^2 biases; a
    transposed convolution from C_in to C_out channels has C_in C_out k^2 weights and C_out
    biases, whatever the size of the image it slides over.
    """
    b2, k2 = config.base_size ** 2, config.kernel_size ** 2
    widths = [*config.channels, 1]
    project = (config.n_classes + config.z_dim) * config.channels[0] * b2 + config.channels[0] * b2
    return project + sum(c_in * c_out * k2 + c_out for c_in, c_out in zip(widths[:-1], widths[1:]))


def make_step(model: ConvGenerator, optimizer: torch.optim.Optimizer, pair_labels: bool = True):
    """One MSE training step for `train.fit`: step_fn((x, y)) -> loss.

    The same step as `mlp.make_step`, for a `ConvGenerator`: pair_labels=True feeds each
    target image's own label, False a uniformly random one. Labels, then z, are drawn from
    torch's global generator on x's device.
    """
    if not isinstance(model, ConvGenerator):
        raise TypeError(f"model must be a ConvGenerator, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(pair_labels, bool):
        raise TypeError(f"pair_labels must be True or False, got {pair_labels!r}")
    n_classes, z_dim = model.config.n_classes, model.config.z_dim

    def step_fn(batch) -> torch.Tensor:
        x, y = batch
        labels = y if pair_labels else torch.randint(0, n_classes, y.shape, device=x.device)
        z = torch.randn(x.shape[0], z_dim, device=x.device)
        loss = mlp.mse_loss(model(labels, z), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step_fn


RECIPE = {"config": ConvConfig(), "lr": 2e-3, "batch_size": 256, "steps": 5_000}
"""The shipped checkpoint's recipe: chapter 01's paired-MLP settings (Adam 2e-3, batch 256,
16x16 statically binarized MNIST, MSE) with fewer steps, since a conv step costs more."""


def train_recipe(minutes: float | None = None, device=None, *, progress: bool = True) -> ConvGenerator:
    """Train `ConvGenerator` with `RECIPE` (all its steps, or fewer if `minutes` run out
    first) on `device` (default `runtime.device()`); returns the model in eval mode."""
    from drawjourney import data, runtime, train

    if minutes is not None:
        bench.check_minutes(minutes)
    device = runtime.device(device)
    runtime.seed(0)
    model = ConvGenerator(RECIPE["config"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    train_data = data.mnist("train", size=16, binarize="static", device=device)
    train.fit(make_step(model, optimizer, pair_labels=True),
              data.batches(train_data, RECIPE["batch_size"]), steps=RECIPE["steps"],
              minutes=minutes, progress=progress, desc="conv")
    return model.eval()


def _bench_train(minutes: float | None, device: torch.device) -> ConvGenerator:
    return train_recipe(minutes, device)


def _bench_sample(model: ConvGenerator, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        labels = torch.arange(n) % model.config.n_classes
    return model.sample(labels[:n])


SPOT_CHECK_PER_LABEL = 100
SPOT_CHECK_SEED = 1234


def spot_check(model: ConvGenerator, recorded_metrics: dict) -> tuple[str, float, float]:
    """("label_accuracy", p, standard error) on a fixed-seed batch of 100 samples per label.

    The standard error of a proportion from n independent samples is sqrt(p (1 - p) / n);
    p is kept half a sample away from 0 and 1 so that the error is never zero.
    """
    from drawjourney import metrics

    n_classes = model.config.n_classes
    labels = torch.arange(n_classes).repeat_interleave(SPOT_CHECK_PER_LABEL)
    samples = model.sample(labels, generator=torch.Generator().manual_seed(SPOT_CHECK_SEED))
    device = next(model.parameters()).device
    p = metrics.label_accuracy(samples, labels, device=device)
    n = labels.numel()
    p_clipped = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return "label_accuracy", p, math.sqrt(p_clipped * (1 - p_clipped) / n)


FAMILY = bench.register(bench.Family(
    name="conv",
    description="transposed-convolution generator from (one-hot label, 100-d noise) to 16x16 "
                "pixels, trained with MSE (chapter 02): still draws the class mean",
    model_class=ConvGenerator,
    train=_bench_train,
    sample=_bench_sample,
    conditional=True,
    likelihood=None,
    spot_check=spot_check,
))
