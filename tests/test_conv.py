import math

import pytest
import torch
from torch import nn

from drawjourney import bench, checkpoint
from drawjourney.models import conv, mlp


@pytest.fixture
def model():
    torch.manual_seed(0)
    return conv.ConvGenerator(conv.ConvConfig())


@pytest.mark.parametrize("batch", [1, 7])
def test_shapes_and_range(model, batch):
    labels = torch.arange(batch) % 10
    x_hat = model(labels, torch.randn(batch, 100))
    assert x_hat.shape == (batch, 1, 16, 16)
    assert x_hat.min() > 0 and x_hat.max() < 1


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5])
def test_every_kernel_doubles_the_side(kernel_size):
    cfg = conv.ConvConfig(n_classes=3, z_dim=5, channels=(8, 4, 4), kernel_size=kernel_size,
                          image_size=32)
    x_hat = conv.ConvGenerator(cfg)(torch.tensor([0, 2]), torch.randn(2, 5))
    assert x_hat.shape == (2, 1, 32, 32)


def test_transposed_convolution_of_a_2x2_input_by_hand():
    """Each input pixel stamps x[i, j] * K at (2i, 2j); overlapping stamps add up."""
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    by_hand = torch.tensor([[1.0, 1, 3, 2, 2],      # row 0: stamps of x[0, 0] and x[0, 1]
                            [1.0, 1, 3, 2, 2],
                            [4.0, 4, 10, 6, 6],     # row 2: all four stamps overlap at the centre
                            [3.0, 3, 7, 4, 4],
                            [3.0, 3, 7, 4, 4]])
    layer = nn.ConvTranspose2d(1, 1, kernel_size=3, stride=2, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    torch.testing.assert_close(layer(x[None, None])[0, 0], by_hand)


def test_checkerboard_when_the_kernel_is_not_a_multiple_of_the_stride():
    ones = torch.ones(1, 1, 6, 6)
    interiors = {}
    for k in (3, 4):
        padding, output_padding = conv.transposed_padding(k)
        layer = nn.ConvTranspose2d(1, 1, k, stride=2, padding=padding,
                                   output_padding=output_padding, bias=False)
        with torch.no_grad():
            layer.weight.fill_(1.0)
            interiors[k] = layer(ones)[0, 0, 2:-2, 2:-2]
    assert interiors[3].unique().tolist() == [1.0, 2.0, 4.0]   # stamps overlap unevenly
    assert interiors[4].unique().tolist() == [4.0]             # every pixel gets 2 x 2 stamps


@pytest.mark.parametrize("cfg", [
    conv.ConvConfig(),
    conv.ConvConfig(n_classes=3, z_dim=7, channels=(16, 8, 4), kernel_size=3, image_size=32),
    conv.ConvConfig(channels=(32,), base_size=7, kernel_size=5, image_size=14),
])
def test_parameter_formula_counts_the_model(cfg):
    real = sum(p.numel() for p in conv.ConvGenerator(cfg).parameters())
    assert conv.conv_parameter_count(cfg) == real == conv.ConvGenerator(cfg).n_parameters()


def test_parameters_hardly_grow_with_the_image():
    def count(S):
        n_up = int(math.log2(S // 4))
        return conv.conv_parameter_count(conv.ConvConfig(channels=(128,) + (64,) * (n_up - 1),
                                                         image_size=S))
    assert count(256) < 2 * count(16)
    assert mlp.mlp_parameter_count(mlp.MLPConfig(image_size=256)) > 50 * count(256)


@pytest.mark.parametrize("kwargs,match", [
    ({"image_size": 28}, r"image_size=28 does not match .* = 16"),
    ({"kernel_size": 1}, r"kernel_size must be an int >= the stride 2"),
    ({"channels": ()}, r"channels must be a non-empty tuple of positive ints"),
    ({"channels": (64, 0)}, r"channels must be a non-empty tuple"),
    ({"z_dim": 0}, r"z_dim must be a positive int"),
    ({"n_classes": True}, r"n_classes must be a positive int"),
])
def test_bad_config_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv.ConvConfig(**kwargs)


def test_bad_input_is_a_clear_error(model):
    with pytest.raises(TypeError, match="config must be a ConvConfig"):
        conv.ConvGenerator(mlp.MLPConfig())
    with pytest.raises(ValueError, match=r"z must have shape \(B, z_dim\) = \(2, 100\)"):
        model(torch.tensor([0, 1]), torch.randn(2, 10))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        model(torch.tensor([0, 10]), torch.randn(2, 100))
    with pytest.raises(ValueError, match="labels must be an int64 tensor"):
        model(torch.tensor([0.0, 1.0]), torch.randn(2, 100))
    with pytest.raises(ValueError, match="labels must be a sequence of ints"):
        model.sample("three")
    with pytest.raises(ValueError, match=r"labels must be ints in \[0, 10\)"):
        model.sample([0.5, 1.0])
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        model.sample([1, 2], generator=3)
    with pytest.raises(TypeError, match="model must be a ConvGenerator"):
        conv.make_step(mlp.MLPGenerator(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        conv.make_step(model, "adam")
    with pytest.raises(TypeError, match="pair_labels must be True or False"):
        conv.make_step(model, torch.optim.SGD(model.parameters(), lr=0.1), pair_labels="yes")


def test_same_seed_same_samples(model):
    labels = torch.tensor([3, 1, 4, 1, 5])
    a = model.sample(labels, generator=torch.Generator().manual_seed(7))
    b = model.sample(labels, generator=torch.Generator().manual_seed(7))
    c = model.sample(labels, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_overfits_one_batch(overfit_one_batch):
    torch.manual_seed(0)
    first, last = overfit_one_batch(conv.ConvGenerator(conv.ConvConfig()), steps=150)
    assert last < 0.01 * first


def test_make_step_is_the_mse_step_with_paired_labels():
    """One step equals a hand-written MSE step from the same random state."""
    torch.manual_seed(0)
    a, b = conv.ConvGenerator(conv.ConvConfig()), conv.ConvGenerator(conv.ConvConfig())
    b.load_state_dict(a.state_dict())
    x = (torch.rand(8, 1, 16, 16) > 0.7).float()
    y = torch.arange(8) % 10
    opt_a, opt_b = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (a, b))
    torch.manual_seed(1)
    loss_a = conv.make_step(a, opt_a, pair_labels=True)((x, y))
    torch.manual_seed(1)
    loss_b = ((b(y, torch.randn(8, 100)) - x) ** 2).mean()
    opt_b.zero_grad()
    loss_b.backward()
    opt_b.step()
    torch.testing.assert_close(loss_a, loss_b.detach())
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_checkpoint_round_trip(model, tmp_path):
    path = checkpoint.save(model, tmp_path / "conv.pt")
    loaded = checkpoint.load(path, device="cpu", expect=conv.ConvGenerator)
    assert loaded.config == model.config
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(4, 100, generator=gen)
    torch.testing.assert_close(loaded(torch.arange(4), z), model(torch.arange(4), z))


def test_registered_with_the_bench_and_spot_checked(model, data_root):
    family = bench.families()["conv"]
    assert family.model_class is conv.ConvGenerator and family.conditional
    key, estimate, standard_error = family.spot_check(model, {})
    assert key == "label_accuracy" and 0 <= estimate <= 1
    assert standard_error == pytest.approx(
        math.sqrt(max(estimate * (1 - estimate), 0.0005 * 0.9995) / 1000), rel=1e-6)
    assert family.spot_check(model, {}) == (key, estimate, standard_error)   # fixed seed
