"""Chapter 07's PixelCNN: causality, the blind spot, exact normalisation, sampling, bad input."""
import itertools

import pytest
import torch

from drawjourney.models import pixelcnn
from drawjourney.models.pixelcnn import MaskedConv2d, PixelCNN, PixelCNNConfig


def _input_gradient(model, size, i, j, labels=None):
    """|d logit(i, j) / d x| over the input image, (size, size), for a random binary image."""
    torch.manual_seed(0)
    x = (torch.rand(2, 1, size, size) < 0.5).float().requires_grad_(True)
    # the package checks x's range, so differentiate through a float copy kept in [0, 1]
    logits = model(x, labels)
    logits[:, 0, i, j].sum().backward()
    return x.grad.abs().sum(0)[0]


def _raster_after(size, i, j):
    index = torch.arange(size * size).view(size, size)
    return index >= i * size + j


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_no_output_sees_its_own_pixel_or_a_later_one(gated, n_classes):
    size = 7
    model = PixelCNN(PixelCNNConfig(image_size=size, n_layers=3, channels=8, gated=gated,
                                    n_classes=n_classes)).eval()
    labels = torch.tensor([3, 5]) if n_classes else None
    for i, j in [(0, 0), (2, 3), (3, 0), (6, 6), (4, 6)]:
        grad = _input_gradient(model, size, i, j, labels)
        assert torch.all(grad[_raster_after(size, i, j)] == 0), (i, j)


def test_the_plain_stack_has_a_blind_spot_and_the_gated_one_has_none():
    size, i, j = 9, 6, 4
    past = ~_raster_after(size, i, j)
    for gated, expect_blind in ((False, True), (True, False)):
        torch.manual_seed(1)
        model = PixelCNN(PixelCNNConfig(image_size=size, n_layers=8, channels=8, kernel=3,
                                        first_kernel=3, gated=gated)).eval()
        grad = _input_gradient(model, size, i, j)
        unseen = past & (grad == 0)
        assert bool(unseen.any()) == expect_blind, (gated, unseen.nonzero().tolist())
    # the plain stack's blind spot is up and to the right of the pixel
    torch.manual_seed(1)
    plain = PixelCNN(PixelCNNConfig(image_size=size, n_layers=8, channels=8, kernel=3,
                                    first_kernel=3, gated=False)).eval()
    blind = (past & (_input_gradient(plain, size, i, j) == 0)).nonzero()
    assert bool((blind[:, 0] < i).all()) and bool((blind[:, 1] > j).all())


@pytest.mark.parametrize("gated", [False, True])
def test_probabilities_of_all_3x3_binary_images_sum_to_one(gated):
    torch.manual_seed(2)
    model = PixelCNN(PixelCNNConfig(image_size=3, n_layers=2, channels=4, kernel=3,
                                    first_kernel=3, gated=gated)).eval()
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=9))).view(512, 1, 3, 3)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(images).double(), 0).exp()
    assert abs(float(total) - 1.0) < 1e-5


def test_masks_by_hand():
    torch.testing.assert_close(pixelcnn.raster_mask(3, "A"),
                               torch.tensor([[1., 1., 1.], [1., 0., 0.], [0., 0., 0.]]))
    torch.testing.assert_close(pixelcnn.raster_mask(3, "B"),
                               torch.tensor([[1., 1., 1.], [1., 1., 0.], [0., 0., 0.]]))
    conv = MaskedConv2d(1, 1, 3, "A")
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0                               # only the centre pixel is on
    out = conv(x)[0, 0]
    assert out[1, 1] == 0 and out[1, 2] == 1 and out[2, 0] == 1 and out[0, 0] == 0


def test_sampling_is_seeded_binary_and_keeps_the_given_pixels():
    torch.manual_seed(3)
    model = PixelCNN(PixelCNNConfig(image_size=5, n_layers=2, channels=4, n_classes=10)).eval()
    labels = torch.tensor([1, 7])
    a = model.sample(2, labels=labels, generator=torch.Generator().manual_seed(0))
    b = model.sample(2, labels=labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    known = torch.zeros(2, 1, 5, 5, dtype=torch.bool)
    known[:, :, :2] = True                            # the top two rows are given
    given = torch.ones(2, 1, 5, 5)
    c = model.sample(2, labels=labels, given=(given, known),
                     generator=torch.Generator().manual_seed(0))
    assert torch.equal(c[known], given[known])


@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size=1), "image_size"), (dict(kernel=4), "odd"), (dict(n_layers=0), "n_layers"),
    (dict(gated=1), "gated"), (dict(channels=True), "channels")])
def test_bad_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PixelCNNConfig(**kwargs)


def test_bad_input_gives_clear_errors():
    model = PixelCNN(PixelCNNConfig(image_size=5, n_layers=1, channels=4))
    with pytest.raises(ValueError, match=r"\(B, 1, 5, 5\)"):
        model.log_prob(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(torch.full((2, 1, 5, 5), 2.0))
    with pytest.raises(ValueError, match="unconditional"):
        model.log_prob(torch.zeros(2, 1, 5, 5), labels=[1, 2])
    with pytest.raises(ValueError, match="given must"):
        model.sample(2, given=torch.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_sample_fast_draws_the_same_images_as_sample(gated, n_classes):
    torch.manual_seed(4)
    model = PixelCNN(PixelCNNConfig(image_size=9, n_layers=3, channels=8, kernel=3,
                                    first_kernel=5, gated=gated, n_classes=n_classes)).eval()
    labels = torch.tensor([0, 4, 9]) if n_classes else None
    known = torch.zeros(3, 1, 9, 9, dtype=torch.bool)
    known[:, :, :3] = True
    known[:, :, 5, :4] = True
    given = (torch.rand(3, 1, 9, 9) < 0.5).float()
    for kwargs in ({}, {"given": (given, known)}):
        slow = model.sample(3, labels=labels, generator=torch.Generator().manual_seed(1), **kwargs)
        fast = model.sample_fast(3, labels=labels, generator=torch.Generator().manual_seed(1),
                                 **kwargs)
        assert torch.equal(slow, fast)


@pytest.mark.parametrize("gated", [False, True])
def test_the_fast_paths_row_logits_equal_the_whole_networks(gated):
    """sample_fast computes row i from a band of rows above it: exact, not approximately so."""
    torch.manual_seed(5)
    size = 12
    model = PixelCNN(PixelCNNConfig(image_size=size, n_layers=3, channels=8, kernel=3,
                                    first_kernel=5, gated=gated, n_classes=10)).eval()
    x = (torch.rand(2, 1, size, size) < 0.5).float()
    labels = torch.tensor([2, 8])
    label = model._labels(labels, 2)
    with torch.no_grad():
        full = model(x, labels)
        for i in range(size):
            lo = model._band_start(i)
            if gated:
                shifted = model._shifted_row(2 * x[:, :, lo:i] - 1, label, 2, size)
                row = model._row_logits(2 * x[:, :, i:i + 1] - 1, shifted, label)[:, :, 0]
                pixels = torch.stack([model._pixel_logit(2 * x[:, :, i:i + 1] - 1, shifted,
                                                         label, j) for j in range(size)], -1)
                torch.testing.assert_close(pixels[:, 0], full[:, :, i].squeeze(1), rtol=1e-5,
                                           atol=1e-5)    # each pixel from its columns alone
            else:
                row = model._logits(2 * x[:, :, lo:i + 1] - 1, label)[:, :, -1]
            torch.testing.assert_close(row, full[:, :, i], rtol=1e-5, atol=1e-5)


def test_a_short_recipe_run_lowers_the_nll_and_is_registered(data_root):
    from drawjourney import bench, data, runtime

    tiny = PixelCNNConfig(n_layers=2, channels=8)
    test = data.mnist("test", binarize="static")
    runtime.seed(0)                                         # the recipe's seed: the same start
    untrained = PixelCNN(tiny).eval()
    model, history = pixelcnn.train_recipe("pixelcnn", minutes=0.1, config=tiny, progress=False)
    assert not model.training and history.steps >= 1
    before = float(pixelcnn.test_nll(untrained, test.images[:200]).mean())
    after = float(pixelcnn.test_nll(model, test.images[:200]).mean())
    assert after < before                                   # a few steps of maximum likelihood
    family = bench.families()["pixelcnn"]
    assert family.model_class is PixelCNN and family.conditional
    key, estimate, standard_error = family.spot_check(model, {})
    assert key == "test_nll_nats" and standard_error > 0
    assert estimate == pytest.approx(float(pixelcnn.test_nll(model, test.images[:1000]).mean()))
    with pytest.raises(TypeError, match="unknown recipe settings"):
        pixelcnn.train_recipe("pixelcnn", minutes=0.05, layers=3)
