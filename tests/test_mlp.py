import pytest
import torch

from drawjourney import bench, checkpoint
from drawjourney.models import mlp


@pytest.fixture
def model():
    torch.manual_seed(0)
    return mlp.MLPGenerator(mlp.MLPConfig())


@pytest.mark.parametrize("batch", [1, 7])
def test_shapes_and_range(model, batch):
    labels = torch.arange(batch) % 10
    x_hat = model(labels, torch.randn(batch, 100))
    assert x_hat.shape == (batch, 1, 16, 16)
    assert x_hat.min() > 0 and x_hat.max() < 1


def test_other_sizes():
    cfg = mlp.MLPConfig(n_classes=3, z_dim=5, hidden=(8,), image_size=28)
    x_hat = mlp.MLPGenerator(cfg)(torch.tensor([0, 2]), torch.randn(2, 5))
    assert x_hat.shape == (2, 1, 28, 28)


def test_overfits_one_batch(overfit_one_batch):
    torch.manual_seed(0)
    first, last = overfit_one_batch(mlp.MLPGenerator(mlp.MLPConfig()), steps=60)
    assert last < 0.01 * first


def test_paired_step_learns_the_class_means():
    """Paired labels drive the output towards E[x | y]; random labels towards E[x]."""
    torch.manual_seed(0)
    means = torch.rand(3, 1, 16, 16)
    y = torch.arange(3).repeat(40)
    x = (means[y] + 0.1 * torch.randn(120, 1, 16, 16)).clamp(0, 1)
    target = mlp.mse_optimum(x, y, n_classes=3)
    for pair, far_from in ((True, 0.005), (False, 0.03)):
        torch.manual_seed(1)
        model = mlp.MLPGenerator(mlp.MLPConfig(n_classes=3, z_dim=4, hidden=(32, 32)))
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        step = mlp.make_step(model, optimizer, pair_labels=pair)
        for _ in range(300):
            step((x, y))
        gap = mlp.mse_loss(model.sample(torch.arange(3)), target).item()
        assert (gap < far_from) if pair else (gap > far_from)


def test_mse_optimum_is_the_class_mean():
    x = torch.rand(50, 1, 4, 4)
    y = torch.arange(50) % 5
    means = mlp.mse_optimum(x, y, n_classes=5)
    for k in range(5):
        torch.testing.assert_close(means[k], x[y == k].mean(0))
    torch.testing.assert_close(mlp.mse_optimum(x)[0], x.mean(0))
    # any other constant per class does worse
    base = mlp.mse_loss(means[y], x)
    assert mlp.mse_loss(means[y] + 0.01, x) > base


def test_same_seed_same_samples(model):
    labels = torch.tensor([3, 1, 4, 1, 5])
    a = model.sample(labels, generator=torch.Generator().manual_seed(7))
    b = model.sample(labels, generator=torch.Generator().manual_seed(7))
    c = model.sample(labels, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_sample_is_no_grad(model):
    assert not model.sample([0, 1]).requires_grad


@pytest.mark.parametrize("labels, z, match", [
    (torch.tensor([0, 10]), torch.randn(2, 100), "labels must lie"),
    (torch.tensor([-1, 0]), torch.randn(2, 100), "labels must lie"),
    (torch.tensor([0.0, 1.0]), torch.randn(2, 100), "int64"),
    (torch.tensor([[0, 1]]), torch.randn(2, 100), r"shape \(B,\)"),
    (torch.tensor([0, 1]), torch.randn(2, 99), "z must have shape"),
    (torch.tensor([0, 1]), torch.randn(3, 100), "z must have shape"),
])
def test_bad_inputs_raise(model, labels, z, match):
    with pytest.raises(ValueError, match=match):
        model(labels, z)


def test_mse_loss_shape_mismatch():
    with pytest.raises(ValueError, match="one shape"):
        mlp.mse_loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 16))


def test_checkpoint_round_trip(model, tmp_path):
    path = checkpoint.save(model, tmp_path / "mlp.pt", metrics={"test_mse": 0.03})
    loaded = checkpoint.load(path, device="cpu", expect=mlp.MLPGenerator)
    assert loaded.config == model.config
    labels, z = torch.tensor([0, 5, 9]), torch.randn(3, 100)
    torch.testing.assert_close(loaded(labels, z), model(labels, z), rtol=0, atol=0)
    assert loaded.checkpoint_info["metrics"]["test_mse"] == 0.03


@pytest.mark.parametrize("cfg", [mlp.MLPConfig(), mlp.MLPConfig(hidden=(64,), image_size=28),
                                 mlp.MLPConfig(n_classes=2, z_dim=3, hidden=(5, 6, 7))])
def test_parameter_count(cfg):
    model = mlp.MLPGenerator(cfg)
    assert mlp.mlp_parameter_count(cfg) == sum(p.numel() for p in model.parameters())
    assert model.n_parameters() == mlp.mlp_parameter_count(cfg)


def test_registered_with_bench(model):
    family = mlp.FAMILY
    assert bench._FAMILIES["mlp"] is family
    assert family.model_class is mlp.MLPGenerator and family.conditional
    images = family.sample(model, 4, torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 1, 16, 16)


@pytest.mark.parametrize("kwargs,match", [
    ({"z_dim": 0}, "z_dim must be a positive int"),
    ({"image_size": 16.0}, "image_size must be a positive int"),
    ({"hidden": (256, -1)}, "hidden must be a tuple of positive ints"),
    ({"n_classes": True}, "n_classes must be a positive int"),
])
def test_config_is_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp.MLPConfig(**kwargs)


@pytest.mark.parametrize("labels,z,match", [
    ("three", None, "labels must be a sequence of ints"),
    ([0.5, 1.5], None, "labels must be ints"),
    ([0, 10], None, r"labels must lie in \[0, 10\)"),
    ([0, 1], [[0.0] * 100] * 2, "z must be a tensor"),
    ([0, 1], torch.zeros(2, 99), r"z must have shape \(B, z_dim\)"),
])
def test_sample_arguments_are_checked(labels, z, match):
    model = mlp.MLPGenerator(mlp.MLPConfig())
    with pytest.raises(ValueError, match=match):
        model.sample(labels, z)


def test_mse_optimum_and_make_step_check_their_inputs():
    with pytest.raises(ValueError, match=r"labels must be an int tensor .* in \[0, 10\)"):
        mlp.mse_optimum(torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 12]))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        mlp.make_step(mlp.MLPGenerator(mlp.MLPConfig()), 0.01)
