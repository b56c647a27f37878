import pytest
import torch

from drawjourney import runtime


def test_device_override_to_cpu(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"),
                                                (False, False, "cpu")])
def test_default_device_prefers_cuda_then_mps(monkeypatch, cuda, mps, expected):
    monkeypatch.delenv("DRAWJOURNEY_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(runtime, "_mps_available", lambda: mps)
    assert runtime.device() == torch.device(expected)


@pytest.mark.parametrize("spec,match", [
    ("gpu", "device='gpu' is not a device torch knows"),
    ("tpu:0", "not a device torch knows"),
    ("meta", "the course runs on cpu, cuda, mps"),
    (3, "must be a string"),
    (None.__class__, "must be a string"),
])
def test_device_argument_is_checked_in_one_place(spec, match):
    with pytest.raises(ValueError, match=match):
        runtime.device(spec)


def test_device_argument_cuda_without_cuda_or_index_too_high(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' but CUDA is not available"):
        runtime.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device='cuda:7' but only 1 CUDA device\(s\) exist"):
        runtime.device("cuda:7")


def test_device_argument_mps_off_a_mac(monkeypatch):
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    with pytest.raises(ValueError, match="MPS .* is not available"):
        runtime.device(torch.device("mps"))


def test_device_argument_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "gpu")
    assert runtime.device("cpu") == torch.device("cpu")


def _cgroup(tmp_path, v2: str | None = None, v1: tuple[str, str] | None = None):
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0])
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1])
    return tmp_path


@pytest.mark.parametrize("v2,v1,expected", [
    ("150000 100000\n", None, 1.5),
    ("max 100000\n", None, None),
    (None, ("50000", "100000"), 0.5),
    (None, ("-1", "100000"), None),
    (None, None, None),
])
def test_cpu_quota_reads_cgroup_v2_and_v1(tmp_path, v2, v1, expected):
    assert runtime.cpu_quota(_cgroup(tmp_path, v2, v1)) == expected


def test_thread_budget_follows_the_quota_not_the_visible_cores(monkeypatch):
    monkeypatch.delenv("DRAWJOURNEY_THREADS", raising=False)
    monkeypatch.setattr(runtime, "visible_cpus", lambda: 64)   # a Binder pod sees the host
    monkeypatch.setattr(runtime, "cpu_quota", lambda: 0.8)      # ... and may use 0.8 CPU
    assert runtime.cpu_budget() == 1 and runtime.default_threads() == 1
    monkeypatch.setattr(runtime, "cpu_quota", lambda: 2.5)
    assert runtime.cpu_budget() == 3 and runtime.default_threads() == 2
    monkeypatch.setattr(runtime, "cpu_quota", lambda: None)
    assert runtime.cpu_budget() == 64 and runtime.default_threads() == 63
    monkeypatch.setenv("DRAWJOURNEY_THREADS", "2")
    assert runtime.default_threads() == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_thread_override_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("DRAWJOURNEY_THREADS", bad)
    with pytest.raises(ValueError, match="DRAWJOURNEY_THREADS"):
        runtime.default_threads()


def test_set_threads_applies_and_is_described(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert runtime.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert "CPU, 1 thread (" in runtime.describe("cpu")
        with pytest.raises(ValueError, match="threads must be a positive int"):
            runtime.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_cache_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert runtime.cache_dir("fid-mnist") == tmp_path / "drawjourney" / "fid-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runtime.cache_dir() == tmp_path / "home" / ".cache" / "drawjourney"


@pytest.mark.parametrize("bad", [1.5, -1, "3", True])
def test_seed_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        runtime.seed(bad)


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
