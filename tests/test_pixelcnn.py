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
@pytest.mark.parametrize("chunk", [1000, 2])
def test_sample_fast_draws_the_same_images_as_sample(gated, n_classes, chunk, monkeypatch):
    monkeypatch.setattr(pixelcnn, "FAST_CHUNK", chunk)    # 2: images 0-1 then 2, for memory
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
    assert estimate == pytest.approx(float(pixelcnn.test_nll(model, test.images[::10]).mean()))
    with pytest.raises(TypeError, match="unknown recipe settings"):
        pixelcnn.train_recipe("pixelcnn", minutes=0.05, layers=3)


# -- the label prior: a conditional network is also an exact model of p(x) ---------------------

def _conditional_3x3(gated: bool, prior=(0.15, 0.6, 0.25)) -> PixelCNN:
    """A tiny class-conditional network on 3x3 images with a non-uniform label prior."""
    torch.manual_seed(6)
    model = PixelCNN(PixelCNNConfig(image_size=3, n_layers=2, channels=4, kernel=3,
                                    first_kernel=3, gated=gated, n_classes=len(prior))).eval()
    with torch.no_grad():
        model.log_label_prior.copy_(torch.tensor(prior).log())
    return model


@pytest.mark.parametrize("gated", [False, True])
def test_without_labels_log_prob_is_the_label_mixture_and_sums_to_one(gated):
    model = _conditional_3x3(gated)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=9))).view(512, 1, 3, 3)
    with torch.no_grad():
        per_label = torch.stack([model.log_prob(images, torch.full((512,), c)).double()
                                 for c in range(3)], dim=1)                   # (512, C)
        mixture = model.log_prob(images).double()
    assert not torch.allclose(per_label[:, 0], per_label[:, 1])     # the label matters
    prior = torch.tensor([0.15, 0.6, 0.25], dtype=torch.float64)
    torch.testing.assert_close(mixture.exp(), (per_label.exp() * prior).sum(1),
                               rtol=1e-5, atol=1e-9)
    assert abs(float(torch.logsumexp(mixture, 0).exp()) - 1.0) < 1e-5


@pytest.mark.parametrize("gated", [False, True])
def test_without_labels_both_samplers_draw_the_labels_from_the_prior(gated):
    torch.manual_seed(7)
    model = PixelCNN(PixelCNNConfig(image_size=5, n_layers=2, channels=8, kernel=3,
                                    first_kernel=3, gated=gated, n_classes=3)).eval()
    with torch.no_grad():
        model.log_label_prior.copy_(torch.tensor([0.2, 0.3, 0.5]).log())
    n = 16
    slow = model.sample(n, generator=torch.Generator().manual_seed(2))
    again = model.sample(n, generator=torch.Generator().manual_seed(2))
    fast = model.sample_fast(n, generator=torch.Generator().manual_seed(2))
    assert torch.equal(slow, again) and torch.equal(slow, fast)
    assert not torch.equal(slow, model.sample(n, generator=torch.Generator().manual_seed(3)))
    # a prior on one label: the same images as that label given (labels come after the
    # per-pixel uniforms from the generator, so the draws are otherwise the same)
    by_label = {}
    for c in (0, 2):
        with torch.no_grad():
            model.log_label_prior.copy_(torch.eye(3)[c].log())
        given = model.sample(n, labels=torch.full((n,), c),
                             generator=torch.Generator().manual_seed(2))
        for sampler in (model.sample, model.sample_fast):
            assert torch.equal(sampler(n, generator=torch.Generator().manual_seed(2)), given)
        by_label[c] = given
    assert not torch.equal(by_label[0], by_label[2])               # so the label was used


def test_a_conditional_recipe_run_sets_the_prior_to_the_training_label_frequencies(data_root):
    from drawjourney import data

    tiny = PixelCNNConfig(n_layers=1, channels=4, n_classes=10)
    model, _ = pixelcnn.train_recipe("pixelcnn", minutes=0.01, config=tiny, progress=False)
    labels = data.mnist("train", device="cpu").labels
    frequencies = torch.bincount(labels, minlength=10).double() / len(labels)
    prior = model.log_label_prior.exp().double()
    assert abs(float(prior.sum()) - 1.0) < 1e-6
    torch.testing.assert_close(prior, frequencies, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(prior, torch.full((10,), 0.1, dtype=torch.float64))
    assert "log_label_prior" not in dict(model.named_parameters())   # a buffer, not learned


def test_a_conditional_completion_without_labels_draws_the_label_given_the_prefix():
    """With the known pixels a raster prefix, y ~ p(y | prefix) by Bayes' rule: the prefix's
    log-likelihood per label is exact (all pixels known: log p(x | y)), the label is drawn
    from prior x prefix likelihood with the sampler's generator, and a non-prefix is refused."""
    torch.manual_seed(8)
    model = PixelCNN(PixelCNNConfig(image_size=5, n_layers=2, channels=8, kernel=3,
                                    first_kernel=3, gated=True, n_classes=3)).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.label_bias.weight.mul_(10.0)       # labels that disagree
        model.log_label_prior.copy_(torch.tensor([0.2, 0.3, 0.5]).log())
    n = 400
    images = (torch.rand(n, 1, 5, 5) < 0.5).float()
    everything = torch.ones(n, 1, 5, 5, dtype=torch.bool)
    with torch.no_grad():
        full = model._prefix_log_likelihoods(images, everything)
        per_label = torch.stack([model.log_prob(images, torch.full((n,), c)) for c in range(3)], 1)
    torch.testing.assert_close(full, per_label)
    known = torch.zeros(n, 1, 5, 5, dtype=torch.bool)
    known[:, :, :2] = True                                     # the top two rows
    known[:, :, 2, :3] = True                                  # and three more pixels
    with torch.no_grad():
        posterior = torch.softmax(model._prefix_log_likelihoods(images, known)
                                  + model.log_label_prior, 1)
    assert (posterior - model.log_label_prior.exp()).abs().max() > 0.01   # the prefix counts
    seeded = lambda: torch.Generator().manual_seed(3)
    gen = seeded()
    torch.rand(n, 1, 5, 5, generator=gen)                      # the pixels' uniforms come first
    labels = torch.multinomial(posterior, 1, generator=gen)[:, 0]
    gen = seeded()
    torch.rand(n, 1, 5, 5, generator=gen)
    from_prior = torch.multinomial(model.log_label_prior.exp().expand(n, -1), 1, generator=gen)[:, 0]
    assert (labels != from_prior).any()            # so the check below can tell them apart
    with torch.no_grad():
        drawn = model._start(n, None, (images, known), seeded())[3]
    assert torch.equal(drawn, labels)
    slow = model.sample(n, given=(images, known), generator=seeded())
    assert torch.equal(slow, model.sample_fast(n, given=(images, known), generator=seeded()))
    assert torch.equal(slow, model.sample(n, labels=labels, given=(images, known),
                                          generator=seeded()))
    hole = known.clone()
    hole[:, :, 0, 0] = False
    with pytest.raises(ValueError, match="raster prefix"):
        model.sample(n, given=(images, hole))
