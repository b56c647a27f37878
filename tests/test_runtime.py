import pytest
import torch

from drawjourney import runtime


def test_device_override_to_cpu(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


def test_device_default_is_an_available_device(monkeypatch):
    monkeypatch.delenv("DRAWJOURNEY_DEVICE", raising=False)
    assert runtime.device().type in runtime.available_devices()


@pytest.mark.parametrize("bad", ["gpu", "tpu:0", "cpux"])
def test_unknown_device_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", bad)
    with pytest.raises(ValueError, match="DRAWJOURNEY_DEVICE"):
        runtime.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "cuda")
    with pytest.raises(ValueError, match="not available"):
        runtime.device()


def test_seed_makes_torch_repeatable():
    runtime.seed(7)
    a = torch.randn(5)
    runtime.seed(7)
    b = torch.randn(5)
    runtime.seed(8)
    c = torch.randn(5)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode(monkeypatch, value, expected):
    monkeypatch.setenv("DRAWJOURNEY_FAST", value)
    assert runtime.fast_mode() is expected


def test_fast_mode_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_FAST", "maybe")
    with pytest.raises(ValueError, match="DRAWJOURNEY_FAST"):
        runtime.fast_mode()


def test_describe_names_mode(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_FAST", "1")
    assert "fast mode" in runtime.describe()
