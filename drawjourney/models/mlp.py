"""Chapter 01's first attempt: an MLP that maps (one-hot label, noise) to a 16x16 image.

    x_hat = f(y, z) = sigmoid(W3 relu(W2 relu(W1 [onehot(y); z])))      (B, 1, S, S)

trained with the pixel-wise mean squared error against a real image. The chapter shows
why this fails: the MSE-optimal output is the mean of the targets given the inputs, so
with labels paired to their images the net draws the blurry class mean and ignores z,
and with labels drawn independently of the images (the seed's training code,
``make_step(..., pair_labels=False)``) it draws the global mean and ignores the label too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench


@dataclass(frozen=True)
class MLPConfig:
    """n_classes labels, z_dim noise dimensions, hidden layer widths, S = image_size."""

    n_classes: int = 10
    z_dim: int = 100
    hidden: tuple[int, ...] = (256, 512)
    image_size: int = 16

    def __post_init__(self):
        for name in ("n_classes", "z_dim", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MLPConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.hidden, (tuple, list)) or not all(
                isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.hidden):
            raise ValueError(f"MLPConfig.hidden must be a tuple of positive ints (layer widths), "
                             f"got {self.hidden!r}")


class MLPGenerator(nn.Module):
    """Linear -> ReLU -> ... -> Linear -> Sigmoid from [onehot(y); z] to S*S pixels."""

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        if not isinstance(config, MLPConfig):
            raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}")
        self.config = config
        widths = [config.n_classes + config.z_dim, *config.hidden]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers += [nn.Linear(widths[-1], config.image_size ** 2), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """labels (B,) int64 in [0, n_classes), z (B, z_dim) -> images (B, 1, S, S) in (0, 1)."""
        self._check_inputs(labels, z)
        onehot = F.one_hot(labels, self.config.n_classes).to(z.dtype)   # (B, n_classes)
        x_hat = self.net(torch.cat([onehot, z], dim=1))                  # (B, S*S)
        S = self.config.image_size
        return x_hat.view(-1, 1, S, S)

    @torch.no_grad()
    def sample(self, labels, z: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (B, 1, S, S) for `labels` (B ints), with z ~ N(0, I) unless z is given.

        z is drawn on the generator's device (the model's if no generator is given) and
        moved to the model's device, so a CPU generator gives the same z on every device.
        """
        device = next(self.parameters()).device
        try:
            labels = torch.as_tensor(labels, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"labels must be a sequence of ints in [0, {self.config.n_classes}), "
                             f"got {type(labels).__name__} {labels!r:.40}") from None
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be ints in [0, {self.config.n_classes}), got {labels.dtype}")
        labels = labels.long()
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if z is not None and not isinstance(z, torch.Tensor):
            raise ValueError(f"z must be a tensor of shape (B, {self.config.z_dim}), got "
                             f"{type(z).__name__}")
        if z is None:
            gen_device = generator.device if generator is not None else device
            z = torch.randn(labels.shape[0], self.config.z_dim, generator=generator,
                            device=gen_device).to(device)
        return self(labels, z.to(device))

    def n_parameters(self) -> int:
        """Number of trainable numbers in the model."""
        return sum(p.numel() for p in self.parameters())

    def _check_inputs(self, labels: torch.Tensor, z: torch.Tensor) -> None:
        cfg = self.config
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            raise ValueError(f"z must be a float tensor of shape (B, {cfg.z_dim}), got "
                             f"{getattr(z, 'dtype', type(z).__name__)}")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
            raise ValueError(f"labels must be an int64 tensor of shape (B,), got "
                             f"{getattr(labels, 'dtype', type(labels).__name__)}")
        if labels.ndim != 1:
            raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= cfg.n_classes):
            raise ValueError(f"labels must lie in [0, {cfg.n_classes}), got values in "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        if z.ndim != 2 or z.shape != (labels.shape[0], cfg.z_dim):
            raise ValueError(f"z must have shape (B, z_dim) = ({labels.shape[0]}, {cfg.z_dim}), "
                             f"got {tuple(z.shape)}")


def mse_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over pixels and batch: mean((x_hat - x)^2), a scalar."""
    if not isinstance(x_hat, torch.Tensor) or not isinstance(x, torch.Tensor):
        raise TypeError(f"x_hat and x must be tensors, got {type(x_hat).__name__} and "
                        f"{type(x).__name__}")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must have one shape")
    return ((x_hat - x) ** 2).mean()


def mse_optimum(images: torch.Tensor, labels: torch.Tensor | None = None,
                n_classes: int = 10) -> torch.Tensor:
    """The output that minimises the MSE when it may depend on the label only.

    images (N, 1, H, W), labels (N,) -> the class means (n_classes, 1, H, W), since
    E||x - c||^2 = E||x - mu_y||^2 + ||mu_y - c||^2 is smallest at c = mu_y = E[x | y].
    With labels=None: the global mean (1, 1, H, W). A class with no images gives NaN.
    """
    if not isinstance(images, torch.Tensor) or images.dim() < 2 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty tensor (N, 1, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    if labels is None:
        return images.mean(0, keepdim=True)
    if (not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1]
            or labels.is_floating_point() or int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"labels must be an int tensor of shape ({images.shape[0]},) with values "
                         f"in [0, {n_classes})")
    onehot = F.one_hot(labels, n_classes).to(images.dtype)               # (N, K)
    sums = onehot.T @ images.flatten(1)                                   # (K, H*W)
    return (sums / onehot.sum(0)[:, None]).view(n_classes, *images.shape[1:])


def make_step(model: MLPGenerator, optimizer: torch.optim.Optimizer, pair_labels: bool = True):
    """One MSE training step for `train.fit`: step_fn((x, y)) -> loss.

    pair_labels=True: the generator gets each target image's own label y.
    pair_labels=False: the seed's step; it gets labels drawn uniformly at random, which
    carry no information about the target x. Labels, then z, are drawn from torch's
    global generator on x's device.
    """
    if not isinstance(model, MLPGenerator):
        raise TypeError(f"model must be an MLPGenerator, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    n_classes, z_dim = model.config.n_classes, model.config.z_dim

    def step_fn(batch) -> torch.Tensor:
        x, y = batch
        labels = y if pair_labels else torch.randint(0, n_classes, y.shape, device=x.device)
        z = torch.randn(x.shape[0], z_dim, device=x.device)
        loss = mse_loss(model(labels, z), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step_fn


def mlp_parameter_count(config: MLPConfig) -> int:
    """Weights plus biases of `MLPGenerator(config)`, from the layer widths alone."""
    widths = [config.n_classes + config.z_dim, *config.hidden, config.image_size ** 2]
    return sum(d_in * d_out + d_out for d_in, d_out in zip(widths[:-1], widths[1:]))


def _bench_train(minutes: float | None, device: torch.device) -> MLPGenerator:
    """The chapter's recipe: paired labels, 16x16 binary MNIST, Adam 2e-3, batch 256, MSE,
    20,000 steps (or fewer if `minutes` run out first)."""
    from drawjourney import data, runtime, train

    runtime.seed(0)
    model = MLPGenerator(MLPConfig()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    train_data = data.mnist("train", size=16, binarize="static", device=device)
    train.fit(make_step(model, optimizer, pair_labels=True), data.batches(train_data, 256),
              minutes=minutes, steps=20_000, desc="mlp")
    return model.eval()


def _bench_sample(model: MLPGenerator, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        labels = torch.arange(n) % model.config.n_classes
    return model.sample(labels[:n])


FAMILY = bench.register(bench.Family(
    name="mlp",
    description="MLP from (one-hot label, 100-d noise) to 16x16 pixels, trained with MSE "
                "(chapter 01): draws the class mean",
    model_class=MLPGenerator,
    train=_bench_train,
    sample=_bench_sample,
    conditional=True,
    likelihood=None,
))
