from dataclasses import dataclass

import pytest
import torch
from torch import nn

from drawjourney import checkpoint


@dataclass(frozen=True)
class TinyConfig:
    n_in: int = 4
    hidden: tuple = (8, 3)


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(config.n_in, config.hidden[0]), nn.ReLU(),
                                 nn.Linear(config.hidden[0], config.hidden[1]))
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x):
        return self.net(x) * self.scale


# checkpoint.load imports only drawjourney modules; register this test module under that name.
Tiny.__module__ = TinyConfig.__module__ = "drawjourney.tests_fixture"


@pytest.fixture(autouse=True)
def _fixture_module(monkeypatch):
    import sys
    import types

    module = types.ModuleType("drawjourney.tests_fixture")
    module.Tiny, module.TinyConfig = Tiny, TinyConfig
    monkeypatch.setitem(sys.modules, "drawjourney.tests_fixture", module)


def test_round_trip_keeps_config_weights_metrics(tmp_path):
    torch.manual_seed(0)
    model = Tiny(TinyConfig(n_in=4, hidden=(6, 2)))
    path = checkpoint.save(model, tmp_path / "sub" / "tiny.pt", metrics={"nll": 86.5, "k": [1, 2]},
                           note="unit test")
    loaded = checkpoint.load(path, device="cpu")
    assert loaded.config == model.config and isinstance(loaded.config.hidden, tuple)
    x = torch.randn(3, 4)
    torch.testing.assert_close(loaded(x), model(x))
    assert not loaded.training
    assert loaded.checkpoint_info["metrics"]["nll"] == 86.5
    meta = checkpoint.info(path)
    assert meta["provenance"]["note"] == "unit test"
    assert meta["provenance"]["package_version"]
    assert meta["model"].endswith(":Tiny")


def test_missing_file(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"this is not a zip file at all")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        checkpoint.load(path)


def test_truncated_file(tmp_path):
    path = checkpoint.save(Tiny(TinyConfig()), tmp_path / "t.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(path)


def test_plain_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(Tiny(TinyConfig()).state_dict(), path)
    with pytest.raises(checkpoint.CheckpointError, match="not a drawjourney checkpoint"):
        checkpoint.load(path)


def test_mismatched_weights(tmp_path):
    path = checkpoint.save(Tiny(TinyConfig()), tmp_path / "t.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["net.0.weight"] = torch.zeros(8, 5)
    torch.save(payload, path)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(path)


def test_wrong_expected_class(tmp_path):
    path = checkpoint.save(Tiny(TinyConfig()), tmp_path / "t.pt")
    with pytest.raises(checkpoint.CheckpointError, match="not a"):
        checkpoint.load(path, expect=nn.Linear)


def test_model_without_config_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="config"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "x.pt")


def test_saving_onto_a_folder_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="that is a folder"):
        checkpoint.save(Tiny(TinyConfig()), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_pickled_object_is_refused_without_advising_unsafe_loading(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": TinyConfig()}, path)
    with pytest.raises(checkpoint.CheckpointError, match="objects other than tensors") as err:
        checkpoint.read(path)
    assert "weights_only=False" not in str(err.value)


def test_corrupt_file_error_does_not_repeat_torchs_advice(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"\x80\x02not really a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="corrupt, truncated") as err:
        checkpoint.load(path)
    assert "weights_only=False" not in str(err.value)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"path": 3}, TypeError, "path must be a file path"),
    ({"path": ""}, ValueError, "path is empty"),
    ({"metrics": [1, 2]}, TypeError, "metrics must be a dict"),
    ({"metrics": {"fid": object()}}, TypeError, "cannot store object"),
    ({"note": 5}, TypeError, "note must be a string"),
])
def test_save_arguments_are_checked(tmp_path, kwargs, error, match):
    kwargs = {"path": tmp_path / "m.pt", **kwargs}
    with pytest.raises(error, match=match):
        checkpoint.save(Tiny(TinyConfig()), **kwargs)


def test_save_refuses_what_is_not_a_module(tmp_path):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        checkpoint.save({"weights": 1}, tmp_path / "m.pt")


def test_load_checks_the_device_before_reading(tmp_path):
    path = checkpoint.save(Tiny(TinyConfig()), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="device='gpu'"):
        checkpoint.load(path, device="gpu")


def test_incomplete_checkpoint_names_what_is_missing(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format": checkpoint.FORMAT, "model": "drawjourney.tests_fixture:Tiny"}, path)
    with pytest.raises(checkpoint.CheckpointError, match="incomplete .* no \\['config_class'"):
        checkpoint.load(path)
