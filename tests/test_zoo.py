"""The shipped checkpoints and the learner's mode: pretrained(name), use_pretrained()."""
import math

import pytest
import torch

import drawjourney
from drawjourney import bench, checkpoint, runtime, zoo
from drawjourney.models import mlp


@pytest.fixture
def assets(tmp_path, monkeypatch):
    """A stand-in assets folder with one model and the judge."""
    monkeypatch.setattr(zoo, "ASSETS", tmp_path)
    runtime.seed(0)
    model = mlp.MLPGenerator(mlp.MLPConfig(hidden=(8,)))
    checkpoint.save(model, tmp_path / "tiny.pt", metrics={"train_seconds": 1.0, "hardware": "CPU"},
                    command="python -m drawjourney train tiny", storage="float16")
    checkpoint.save(model, tmp_path / "judge.pt")
    return model


def test_pretrained_loads_float32_in_eval_mode_with_its_record(assets):
    model = drawjourney.pretrained("tiny", device="cpu")
    assert isinstance(model, mlp.MLPGenerator) and not model.training
    weights = model.net[0].weight
    assert weights.dtype == torch.float32
    # Stored in half precision: equal to the original rounded to float16, not bit-equal.
    torch.testing.assert_close(weights, assets.net[0].weight.half().float(), rtol=0, atol=0)
    info = model.checkpoint_info
    assert info["metrics"]["hardware"] == "CPU"
    assert info["provenance"]["command"] == "python -m drawjourney train tiny"
    assert info["provenance"]["storage"] == "float16"


def test_unknown_name_lists_what_ships_and_leaves_out_the_judge(assets):
    assert zoo.names() == ["tiny"]
    with pytest.raises(ValueError, match="no pretrained model named 'tinny'; shipped: tiny"):
        drawjourney.pretrained("tinny")
    with pytest.raises(TypeError, match="name must be a string"):
        drawjourney.pretrained(3)
    with pytest.raises(ValueError, match="device='gpu'"):
        drawjourney.pretrained("tiny", device="gpu")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("no", False)])
def test_use_pretrained_follows_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("DRAWJOURNEY_PRETRAINED", value)
    assert runtime.use_pretrained() is expected


@pytest.mark.parametrize("device,expected", [("cpu", True), ("cuda", False), ("mps", True)])
def test_use_pretrained_follows_the_device(monkeypatch, device, expected):
    monkeypatch.delenv("DRAWJOURNEY_PRETRAINED", raising=False)
    monkeypatch.setattr(runtime, "device", lambda spec=None: torch.device(device))
    assert runtime.use_pretrained() is expected


def test_use_pretrained_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_PRETRAINED", "maybe")
    with pytest.raises(ValueError, match="DRAWJOURNEY_PRETRAINED='maybe': use 1 .* or 0"):
        runtime.use_pretrained()


def test_record_metrics_adds_measurements_and_keeps_the_weights(tmp_path):
    model = mlp.MLPGenerator(mlp.MLPConfig(hidden=(8,)))
    path = checkpoint.save(model, tmp_path / "m.pt", metrics={"train_seconds": 3.0})
    checkpoint.record_metrics(path, {"fid_mnist": 135.0, "train_seconds": 4.0})
    loaded = checkpoint.load(path, device="cpu")
    assert loaded.checkpoint_info["metrics"] == {"train_seconds": 4.0, "fid_mnist": 135.0}
    torch.testing.assert_close(loaded.net[0].weight, model.net[0].weight)


def _family_of(model):
    for family in bench.families().values():
        if type(model) is family.model_class:
            return family
    raise AssertionError(f"no bench family trains a {type(model).__name__}")


@pytest.mark.parametrize("name", zoo.names())
def test_every_shipped_checkpoint_is_recorded_and_re_measures_its_metric(name, data_root):
    path = zoo.path(name)
    size_mb = path.stat().st_size / 2**20
    assert size_mb <= 8, f"{name}: {size_mb:.1f} MB, over the 8 MB budget of a checkpoint"
    model = drawjourney.pretrained(name, device="cpu")
    info = model.checkpoint_info
    assert f"python -m drawjourney train {name}" in info["provenance"]["command"], (
        f"{name}: the recorded command does not say how to reproduce it")
    for key in ("train_seconds", "hardware"):
        assert key in info["metrics"], f"{name} does not record {key}"
    family = _family_of(model)
    assert family.spot_check is not None, f"family {family.name} has no spot_check"
    key, estimate, standard_error = family.spot_check(model, info["metrics"])
    recorded = info["metrics"][key]
    # The spot check measures the same quantity on a small fixed batch, so it differs from
    # the recorded value (measured on the whole test set) by sampling error alone: 4
    # standard errors leave a 1-in-15,000 chance of a false alarm for unchanged weights,
    # while weights from another run or a broken load miss by far more.
    assert math.isfinite(estimate) and standard_error > 0
    assert abs(estimate - recorded) <= 4 * standard_error, (
        f"{name}: {key} re-measured {estimate:.3f} ± {standard_error:.3f}, recorded {recorded:.3f}")


def test_all_shipped_checkpoints_fit_the_course_budget():
    total = sum(zoo.path(n).stat().st_size for n in zoo.names()) / 2**20
    assert total <= 40, f"shipped checkpoints take {total:.1f} MB, over the 40 MB budget"
