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
