"""Properties of the judge: the shipped weights load from their recorded class path and
read every kind of digit the course draws; bad input and bad files raise clear errors;
training never overwrites the shipped judge unless asked. CPU, real MNIST."""
import dataclasses
import hashlib

import pytest
import torch

from drawjourney import checkpoint, data, judge, metrics

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model():
    return judge.judge(CPU)


@pytest.fixture
def fresh_caches():
    """Clear the judge's caches before and after a test that swaps its weights file."""
    judge._load_judge.cache_clear()
    judge.asset_digest.cache_clear()
    yield
    judge._load_judge.cache_clear()
    judge.asset_digest.cache_clear()


def test_shipped_asset_and_checkpoints_named_before_the_move_load(tmp_path):
    assert judge.ASSET_PATH.stat().st_size < 2_000_000
    loaded = checkpoint.load(judge.ASSET_PATH, device=CPU, expect=judge.Judge)
    assert isinstance(loaded, judge.Judge) and metrics.Judge is judge.Judge
    # Judges saved before drawjourney.judge existed name drawjourney.metrics:Judge.
    payload = torch.load(judge.ASSET_PATH, weights_only=True)
    payload["model"], payload["config_class"] = "drawjourney.metrics:Judge", "drawjourney.metrics:JudgeConfig"
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    assert isinstance(checkpoint.load(old, device=CPU, expect=judge.Judge), judge.Judge)


def test_shipped_judge_scores_99_percent_and_matches_its_record(model, judged_test_split):
    test = judged_test_split(28)
    accuracy = float((test.predicted == test.labels).float().mean())
    assert accuracy >= 0.99
    recorded = checkpoint.info(judge.ASSET_PATH)["metrics"]["test_accuracy"]
    assert accuracy == pytest.approx(recorded, abs=1e-3)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_judge_reads_16x16_and_binarized_digits(judged_test_split):
    for variant in (judged_test_split(16), judged_test_split(28, "static")):
        assert (variant.predicted == variant.labels).float().mean() >= 0.985


def test_judge_outputs_do_not_depend_on_batching(model, judged_test_split):
    test = judged_test_split(28)
    x = test.images[:50]
    f_one = model.features(x, batch_size=1000)
    f_many = model.features(x, batch_size=7)
    assert f_one.shape == (50, model.config.feature_dim)
    torch.testing.assert_close(f_one, f_many, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f_one, test.features[:50], rtol=1e-4, atol=1e-5)
    assert model.logits(x[:3]).shape == (3, 10)
    assert model.predict(x[:3]).dtype == torch.int64


def test_judge_rejects_bad_images(model, judged_test_split):
    x = judged_test_split(28).images[:4]
    model.predict(x * (1 + 0.5 * judge.RANGE_TOLERANCE))   # tiny overshoot is clipped
    model.predict(x > 0.5)                                  # bool images are binary images
    bad = {
        "above one": (x + 0.5, r"must lie in \[0, 1\]"),
        "below zero": (x - 0.5, r"must lie in \[0, 1\]"),
        "flat": (x.view(4, 784), r"must have shape \(N, 1, H, H\)"),
        "three channels": (x.expand(4, 3, 28, 28), r"must have shape \(N, 1, H, H\)"),
        "other size": (x[:, :, :20, :20], r"must have shape \(N, 1, H, H\)"),
        "uint8": ((x * 255).to(torch.uint8), "x.float\\(\\) / 255"),
        "nan": (x.masked_fill(x > 0.5, float("nan")), "NaN"),
        "empty": (x[:0], "is empty"),
        "numpy": (x.numpy(), "must be a torch.Tensor"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            model.predict(value)
    for batch_size in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            model.features(x, batch_size=batch_size)


def test_judge_config_and_device_are_checked():
    with pytest.raises(ValueError, match="channels must be a tuple of three positive ints"):
        judge.JudgeConfig(channels=(16, 32))
    with pytest.raises(ValueError, match="feature_dim must be a positive int"):
        judge.JudgeConfig(feature_dim=0)
    with pytest.raises(TypeError, match="config must be a JudgeConfig"):
        judge.Judge({"feature_dim": 64})
    with pytest.raises(ValueError, match="device='gpu'"):
        judge.judge("gpu")


def test_missing_judge_asset_says_how_to_make_it(monkeypatch, tmp_path, fresh_caches):
    monkeypatch.setattr(judge, "ASSET_PATH", tmp_path / "judge.pt")
    with pytest.raises(judge.JudgeNotFoundError, match="python -m drawjourney train judge"):
        metrics.judge(CPU)
    with pytest.raises(judge.JudgeNotFoundError, match="weights are missing"):
        metrics.fid_reference_stats("test", 28, CPU)


def test_corrupt_judge_asset_says_how_to_remake_it(monkeypatch, tmp_path, fresh_caches):
    broken = tmp_path / "judge.pt"
    broken.write_bytes(judge.ASSET_PATH.read_bytes()[:1000])   # a truncated download
    monkeypatch.setattr(judge, "ASSET_PATH", broken)
    with pytest.raises(checkpoint.CheckpointError, match="(?s)cannot be loaded.*train judge"):
        judge.judge(CPU)


def _fake_training(monkeypatch):
    """train_and_save_judge without minutes of training: an untrained judge, 50 test digits."""
    mnist = data.mnist

    def small_mnist(*args, **kwargs):
        full = mnist(*args, **kwargs)
        return dataclasses.replace(full, images=full.images[:50], labels=full.labels[:50])

    monkeypatch.setattr(judge, "train_judge", lambda **kwargs: (judge.Judge().eval(), 0.5))
    monkeypatch.setattr(data, "mnist", small_mnist)


def test_training_writes_runs_judge_and_leaves_the_shipped_one_alone(monkeypatch, tmp_path, model):
    _fake_training(monkeypatch)
    monkeypatch.chdir(tmp_path)
    shipped = hashlib.sha256(judge.ASSET_PATH.read_bytes()).hexdigest()
    loaded_before = judge._load_judge.cache_info().currsize

    path, accuracy = judge.train_and_save_judge(device=CPU, progress=False)

    assert path.resolve() == (tmp_path / "runs" / "judge.pt").resolve() and accuracy == 0.5
    assert checkpoint.info(path)["model"] == "drawjourney.judge:Judge"
    assert hashlib.sha256(judge.ASSET_PATH.read_bytes()).hexdigest() == shipped
    assert judge._load_judge.cache_info().currsize == loaded_before   # caches kept
    assert metrics.train_and_save_judge is judge.train_and_save_judge


def test_replacing_the_asset_is_explicit_and_clears_the_caches(monkeypatch, tmp_path, fresh_caches):
    _fake_training(monkeypatch)
    asset = tmp_path / "assets" / "judge.pt"
    asset.parent.mkdir()
    asset.write_bytes(judge.ASSET_PATH.read_bytes())
    monkeypatch.setattr(judge, "ASSET_PATH", asset)
    old = judge.judge(CPU)
    old_digest = judge.asset_digest()

    judge.train_and_save_judge(path=asset, device=CPU, progress=False)

    assert judge.judge(CPU) is not old and judge.asset_digest() != old_digest


def test_training_rejects_bad_arguments_before_it_starts(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        judge.train_and_save_judge(path=tmp_path)
    with pytest.raises(TypeError, match="path must be a file path"):
        judge.train_and_save_judge(path=3)
    out = tmp_path / "judge.pt"
    cases = [
        (dict(minutes=-1), ValueError, "minutes must be a positive finite number"),
        (dict(minutes="5"), TypeError, "minutes must be a number"),
        (dict(epochs=0), ValueError, "epochs must be a positive int"),
        (dict(epochs=1.5), ValueError, "epochs must be a positive int"),
        (dict(device="gpu"), ValueError, "device='gpu'"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            judge.train_and_save_judge(path=out, progress=False, **kwargs)
    for kwargs, error, message in [
        (dict(batch_size=0), ValueError, "batch_size must be a positive int"),
        (dict(lr=float("nan")), ValueError, "lr must be a positive finite number"),
        (dict(config=judge.JudgeConfig(n_classes=5)), ValueError, "n_classes must be 10"),
        (dict(config="small"), TypeError, "config must be a JudgeConfig"),
    ]:
        with pytest.raises(error, match=message):
            judge.train_judge(epochs=1, progress=False, **kwargs)
    assert not out.exists()
