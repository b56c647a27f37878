"""Shared fixtures: the real MNIST files via DRAWJOURNEY_DATA, on the CPU."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def _data_root() -> Path | None:
    env = os.environ.get("DRAWJOURNEY_DATA")
    if env:
        return Path(env)
    default = Path.home() / ".cache" / "drawjourney" / "data"
    return default if (default / "MNIST" / "raw").is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder with MNIST in torchvision's layout; tests need the real files."""
    root = _data_root()
    if root is None or not (root / "MNIST" / "raw").is_dir():
        pytest.fail("set DRAWJOURNEY_DATA to a folder with MNIST/raw/*-ubyte (e.g. ../shared/data)")
    return root


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    """Tests run on the CPU whatever the machine has, so they behave the same everywhere."""
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "cpu")


@pytest.fixture(scope="session")
def judged_test_split(data_root):
    """The shipped judge run once per run over the whole MNIST test split, on the CPU.

    `judged_test_split(size=28, binarize=None)` returns a namespace of images (N, 1, H, W),
    labels (N,), features (N, feature_dim) and predicted (N,), each variant computed on
    first use and shared by every test, so no test runs the judge over 10k digits again.
    """
    import functools
    import types

    import torch

    from drawjourney import data, judge

    cpu = torch.device("cpu")
    model = judge.judge(cpu)

    @functools.cache
    def judged(size: int = 28, binarize: str | None = None) -> types.SimpleNamespace:
        split = data.mnist("test", size=size, binarize=binarize, device=cpu)
        features = model.features(split.images)
        return types.SimpleNamespace(images=split.images, labels=split.labels, features=features,
                                     predicted=model.head(features).argmax(dim=1))

    return judged


@pytest.fixture
def overfit_one_batch():
    """A check shared by the generator tests: `fit_batch(model, steps)` trains `model` on one
    fixed batch of 16 binary 16x16 digits (labels 0..9, z ~ N(0, I)) with the MSE and
    returns (first loss, last loss)."""
    import torch

    from drawjourney.models import mlp

    def fit_batch(model, steps: int) -> tuple[float, float]:
        torch.manual_seed(0)
        x = (torch.rand(16, 1, 16, 16) > 0.7).float()
        y = torch.arange(16) % 10
        z = torch.randn(16, model.config.z_dim)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        first = mlp.mse_loss(model(y, z), x).item()
        for _ in range(steps):
            loss = mlp.mse_loss(model(y, z), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return first, loss.item()

    return fit_batch
