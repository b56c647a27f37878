"""Chapter 08's RealNVP: every layer inverts exactly and its log-det is the Jacobian's,
preprocess and bits/dim by hand, the label mixture, sampling, the recipe, bad input."""
import math

import pytest
import torch

from drawjourney import metrics
from drawjourney.models import flow
from drawjourney.models.flow import (AffineCoupling, FlowConfig, RealNVP, Scale, Sequence,
                                     Squeeze, checkerboard)


def _randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """float64, every parameter drawn at random: a fresh coupling is the identity (its last
    convolution starts at zero), which would make the Jacobian checks trivial."""
    gen = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module.eval()


def _jacobian(fn, y: torch.Tensor) -> torch.Tensor:
    """d fn(y) / d y for one input (1, ...), as a (D_out, D_in) matrix."""
    return torch.autograd.functional.jacobian(lambda v: fn(v.view_as(y)).flatten(),
                                              y.flatten())


def _check_bijection(layer, y: torch.Tensor) -> None:
    """inverse(forward(y)) == y, and log_det per image == log |det| of autograd's Jacobian."""
    z, log_det = layer(y)
    assert log_det.shape == (y.shape[0],)
    torch.testing.assert_close(layer.inverse(z), y, rtol=0, atol=1e-10)
    for b in range(y.shape[0]):
        J = _jacobian(lambda v: layer(v)[0], y[b:b + 1])
        sign, logabsdet = torch.linalg.slogdet(J)
        assert sign != 0
        torch.testing.assert_close(log_det[b], logabsdet, rtol=0, atol=1e-9)


def _logit_input(batch: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    return 1.5 * torch.randn(batch, channels, size, size, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(seed))


def _digits(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random 8-bit images k / 255 (n, 1, size, size), including the extremes 0 and 1."""
    k = torch.randint(0, 256, (n, 1, size, size), generator=torch.Generator().manual_seed(seed))
    k[0, 0, 0, 0], k[0, 0, 0, 1] = 0, 255
    return k / 255


# -- the layers --------------------------------------------------------------------------------

def test_checkerboard_by_hand():
    torch.testing.assert_close(checkerboard(2, 3, 0),
                               torch.tensor([[[[1., 0., 1.], [0., 1., 0.]]]]))
    torch.testing.assert_close(checkerboard(2, 3, 1),
                               torch.tensor([[[[0., 1., 0.], [1., 0., 1.]]]]))


@pytest.mark.parametrize("mask, channels", [("checkerboard", 1), ("checkerboard", 2),
                                            ("channel", 4)])
@pytest.mark.parametrize("parity", [0, 1])
def test_coupling_inverts_and_its_log_det_is_the_jacobians(mask, channels, parity):
    layer = _randomize(AffineCoupling(channels, 6, 1, mask, parity), seed=parity)
    _check_bijection(layer, _logit_input(2, channels, 4, seed=parity))


@pytest.mark.parametrize("mask, channels", [("checkerboard", 2), ("channel", 4)])
@pytest.mark.parametrize("parity", [0, 1])
def test_coupling_jacobian_is_triangular_with_the_kept_part_passed_through(mask, channels,
                                                                          parity):
    """In the order (kept a, changed b): dy_a/dx = identity rows, dy_b/dx_b is diagonal
    (exp(s) > 0), so log|det| is the sum of the logs of that diagonal."""
    size = 4
    layer = _randomize(AffineCoupling(channels, 6, 1, mask, parity), seed=10 + parity)
    y = _logit_input(1, channels, size, seed=3)
    if mask == "checkerboard":
        kept = checkerboard(size, size, parity).bool().expand(1, channels, size, size)
    else:
        kept = torch.zeros(1, channels, size, size, dtype=torch.bool)
        half = channels // 2
        kept[:, :half] = parity == 0
        kept[:, half:] = parity == 1
    kept = kept.flatten()
    J = _jacobian(lambda v: layer(v)[0], y)
    eye = torch.eye(J.shape[0], dtype=J.dtype)
    assert torch.equal(J[kept], eye[kept])                      # the kept part, unchanged
    block = J[~kept][:, ~kept]
    diagonal = torch.diagonal(block)
    assert torch.equal(block, torch.diag(diagonal))             # each changed value alone
    assert bool((diagonal > 0).all()) and not torch.allclose(diagonal, torch.ones_like(diagonal))
    torch.testing.assert_close(layer(y)[1][0], diagonal.log().sum(), rtol=0, atol=1e-10)


def test_squeeze_is_a_permutation_by_hand():
    y = torch.arange(16.).view(1, 1, 4, 4)
    z, log_det = Squeeze()(y)
    # each 2x2 block becomes 4 channels: (top left, top right, bottom left, bottom right)
    expected = torch.tensor([[[0., 2.], [8., 10.]], [[1., 3.], [9., 11.]],
                             [[4., 6.], [12., 14.]], [[5., 7.], [13., 15.]]])[None]
    assert torch.equal(z, expected) and torch.equal(log_det, torch.zeros(1))
    assert torch.equal(Squeeze().inverse(z), y)
    y2 = torch.randn(3, 2, 6, 4, dtype=torch.float64)
    z2, log_det2 = Squeeze()(y2)
    assert z2.shape == (3, 8, 3, 2) and torch.equal(log_det2, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(Squeeze().inverse(z2), y2)
    assert torch.equal(z2.flatten(1).sort(1).values, y2.flatten(1).sort(1).values)
    _check_bijection(Squeeze(), _logit_input(2, 1, 4))


def test_scale_and_sequence_invert_and_their_log_dets_are_the_jacobians():
    inner = Sequence(AffineCoupling(2, 6, 1, "checkerboard", i % 2) for i in range(2))
    scale = _randomize(Scale(1, 6, 2, 1, inner), seed=4)
    _check_bijection(scale, _logit_input(2, 1, 4, seed=5))
    z, _ = scale(_logit_input(2, 1, 4, seed=5))
    assert z.shape == (2, 1, 4, 4)                              # put back in the input's shape
    sequence = _randomize(Sequence([AffineCoupling(1, 6, 1, "checkerboard", 0), Squeeze(),
                                    AffineCoupling(4, 6, 1, "channel", 1)]), seed=6)
    _check_bijection(sequence, _logit_input(2, 1, 4, seed=7))


@pytest.mark.parametrize("image_size, n_scales", [(4, 1), (8, 2)])
def test_whole_realnvp_inverts_and_its_log_det_is_the_jacobians(image_size, n_scales):
    config = FlowConfig(image_size=image_size, n_scales=n_scales, n_couplings=2, channels=4,
                        n_blocks=1)
    model = _randomize(RealNVP(config), seed=n_scales)
    y = _logit_input(2, 1, image_size, seed=8)
    z, _ = model(y)
    assert z.shape == y.shape and not torch.allclose(z, y)
    _check_bijection(model, y)


def test_a_fresh_flow_is_the_identity():
    model = RealNVP(FlowConfig(image_size=8, n_scales=2, n_couplings=1, channels=4))
    y = _logit_input(3, 1, 8).float()
    z, log_det = model(y)
    assert torch.equal(z, y) and torch.equal(log_det, torch.zeros(3))


# -- images <-> the logit scale, densities ------------------------------------------------------

def test_preprocess_dequantizes_into_the_right_bin_and_its_log_det_is_the_derivatives():
    config = FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2, alpha=0.1)
    model = RealNVP(config).double()
    x = _digits(3, 4).double()
    y, log_det = model.preprocess(x, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape and log_det.shape == (3,)
    # the noise the generator gave: u = (k + noise) / 256, y = logit(alpha + (1 - 2 alpha) u)
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)).double()
    k = torch.round(x * 255)
    u = (k + noise) / 256
    a = config.alpha
    torch.testing.assert_close(y, torch.logit(a + (1 - 2 * a) * u), rtol=0, atol=1e-10)
    # u lies in k's bin [k / 256, (k + 1) / 256), read back through postprocess
    back = model.postprocess(y)
    assert bool((back * 256 >= k - 1e-9).all()) and bool((back * 256 < k + 1 + 1e-9).all())
    # log |dy/du| per image = -sum log du/dy, du/dy from autograd through postprocess
    y_leaf = y.detach().requires_grad_(True)
    (du_dy,) = torch.autograd.grad(model.postprocess(y_leaf).sum(), y_leaf)
    torch.testing.assert_close(log_det, -du_dy.log().flatten(1).sum(1), rtol=0, atol=1e-9)
    # another seed, another draw
    other, _ = model.preprocess(x, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(other, y)


def test_bits_per_dim_of_a_fresh_flow_by_hand_includes_the_dequantization_term():
    """A fresh flow is the identity, so log p(u) = log N(y; 0, I) + log |dy/du|."""
    config = FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2)
    model = RealNVP(config).double()
    x, D = _digits(5, 4).double(), 16
    y, log_det_pre = model.preprocess(x, generator=torch.Generator().manual_seed(3))
    log_normal = (-0.5 * y.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    by_hand = (-(log_normal + log_det_pre) + D * math.log(256)) / (D * math.log(2))
    bpd = model.bits_per_dim(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(bpd, by_hand, rtol=0, atol=1e-9)
    log_prob = model.log_prob(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(log_prob, log_normal + log_det_pre, rtol=0, atol=1e-9)
    torch.testing.assert_close(bpd, metrics.bits_per_dim(log_prob, D, dequantized_8bit=True),
                               rtol=0, atol=1e-9)


def test_log_prob_of_a_trained_looking_flow_is_change_of_variables():
    """log p(u) = log N(f(y); 0, I) + log|det df/dy| + log|dy/du| with random weights."""
    config = FlowConfig(image_size=4, n_scales=1, n_couplings=2, channels=4, n_blocks=1)
    model = _randomize(RealNVP(config), seed=11)
    x = _digits(3, 4, seed=2).double()
    y, log_det_pre = model.preprocess(x, generator=torch.Generator().manual_seed(4))
    z, log_det = model(y)
    log_normal = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x, generator=torch.Generator().manual_seed(4)),
                               log_normal + log_det + log_det_pre, rtol=0, atol=1e-9)


def _conditional_flow(seed: int = 12, prior=(0.2, 0.5, 0.3)) -> RealNVP:
    config = FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=4, n_blocks=1,
                        n_classes=len(prior))
    model = _randomize(RealNVP(config), seed=seed)
    with torch.no_grad():
        model.log_label_prior.copy_(torch.tensor(prior, dtype=torch.float64).log())
    return model


def test_a_conditional_flow_given_no_labels_is_the_exact_label_mixture():
    model = _conditional_flow()
    x = _digits(4, 4, seed=5).double()
    per_label = torch.stack([
        model.log_prob(x, torch.full((4,), c), generator=torch.Generator().manual_seed(6))
        for c in range(3)], dim=1)                                           # (B, C)
    assert not torch.allclose(per_label[:, 0], per_label[:, 1])    # the labels matter
    mixture = torch.logsumexp(per_label + model.log_label_prior, dim=1)
    torch.testing.assert_close(model.log_prob(x, generator=torch.Generator().manual_seed(6)),
                               mixture, rtol=0, atol=1e-9)
    torch.testing.assert_close(
        model.log_prob(x, [2, 0, 1, 2], generator=torch.Generator().manual_seed(6)),
        per_label[torch.arange(4), torch.tensor([2, 0, 1, 2])], rtol=0, atol=1e-9)


# -- sampling -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 5])
def test_samples_have_the_shape_and_range_and_follow_the_seed(n):
    model = _randomize(RealNVP(FlowConfig(image_size=8, n_scales=2, n_couplings=1,
                                          channels=4)), seed=13)
    a = model.sample(n, generator=torch.Generator().manual_seed(0))
    b = model.sample(n, generator=torch.Generator().manual_seed(0))
    c = model.sample(n, generator=torch.Generator().manual_seed(1))
    assert a.shape == (n, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sampling_in_chunks_gives_the_images_of_one_pass(monkeypatch):
    model = _conditional_flow()
    labels = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    whole = model.sample(7, labels=labels, generator=torch.Generator().manual_seed(3))
    monkeypatch.setattr(flow, "SAMPLE_CHUNK", 3)          # 7 = 3 + 3 + 1
    chunked = model.sample(7, labels=labels, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


def test_temperature_zero_decodes_each_class_mean():
    model = _conditional_flow()
    with torch.no_grad():
        model.class_means.copy_(torch.randn(model.class_means.shape, dtype=torch.float64,
                                            generator=torch.Generator().manual_seed(7)))
    labels = torch.tensor([0, 1, 2, 1, 0, 2])
    x = model.sample(6, temperature=0.0, labels=labels, generator=torch.Generator().manual_seed(0))
    means = model.postprocess(model.inverse(model.class_means.detach()))   # (C, 1, S, S)
    torch.testing.assert_close(x, means[labels], rtol=0, atol=1e-12)
    assert not torch.allclose(means[0], means[1])
    unconditional = _randomize(RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1,
                                                  channels=4)), seed=14)
    x0 = unconditional.sample(3, temperature=0)
    zero = unconditional.postprocess(unconditional.inverse(torch.zeros(1, 1, 4, 4,
                                                                       dtype=torch.float64)))
    torch.testing.assert_close(x0, zero.expand(3, 1, 4, 4), rtol=0, atol=1e-12)
    hot = unconditional.sample(3, temperature=2.0, generator=torch.Generator().manual_seed(0))
    warm = unconditional.sample(3, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(hot, warm)


def test_a_conditional_flow_given_no_labels_draws_them_from_its_prior():
    model = _conditional_flow(prior=(0.0, 0.5, 0.5))             # label 0 is never drawn
    with torch.no_grad():
        model.class_means.copy_(torch.randn(model.class_means.shape, dtype=torch.float64,
                                            generator=torch.Generator().manual_seed(8)))
    means = model.postprocess(model.inverse(model.class_means.detach()))
    x = model.sample(40, temperature=0.0, generator=torch.Generator().manual_seed(0))
    distance = (x[:, None] - means[None]).abs().flatten(2).amax(2)           # (n, C)
    drawn = distance.argmin(1)
    assert bool((distance.amin(1) < 1e-12).all())             # each sample is one class's mean
    assert set(drawn.tolist()) == {1, 2}                       # both likely labels, never 0
    again = model.sample(40, temperature=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


# -- the recipe and the bench ------------------------------------------------------------------

TINY = FlowConfig(image_size=16, n_scales=1, n_couplings=1, channels=4, n_blocks=0,
                  n_classes=10)


def test_a_short_recipe_run_lowers_test_bits_per_dim_and_is_registered(data_root):
    from drawjourney import bench, data, runtime

    test = data.mnist("test", size=16, device="cpu")
    runtime.seed(0)                                              # the recipe's seed and start
    untrained = RealNVP(TINY).eval()
    model, history = flow.train_recipe("flow", minutes=0.03, config=TINY, progress=False)
    assert not model.training and history.steps >= 1
    before = float(flow.test_bits_per_dim(untrained, test.images[:300]).mean())
    after = float(flow.test_bits_per_dim(model, test.images[:300]).mean())
    assert after < before                                        # maximum likelihood works
    # the label prior is the training labels' frequencies
    train_labels = data.mnist("train", device="cpu").labels       # the same at any size
    frequencies = torch.bincount(train_labels, minlength=10) / len(train_labels)
    torch.testing.assert_close(model.log_label_prior.exp(), frequencies.float())
    assert not torch.allclose(frequencies, torch.full((10,), 0.1))
    family = bench.families()["flow"]
    assert family.model_class is RealNVP and family.conditional
    key, estimate, standard_error = family.spot_check(model, {})
    assert key == "test_bits_per_dim" and standard_error > 0
    assert estimate == pytest.approx(float(flow.test_bits_per_dim(model,
                                                                  test.images[::10]).mean()))
    samples = family.sample(model, 4, torch.tensor([0, 3, 5, 9]))
    assert samples.shape == (4, 1, 16, 16) and samples.min() >= 0 and samples.max() <= 1
    with pytest.raises(TypeError, match="unknown recipe settings"):
        flow.train_recipe("flow", minutes=0.01, n_layers=3)


def test_the_bench_likelihood_is_bits_per_dim_of_the_label_mixture(data_root, monkeypatch):
    """Measured on 50 test digits (the family reads the whole split through data.mnist)."""
    import dataclasses

    from drawjourney import bench, data

    test = data.mnist("test", size=16, device="cpu").subset(50)
    few = dataclasses.replace(test, labels=test.labels % 3)         # a 3-class flow's labels
    monkeypatch.setattr(data, "mnist", lambda *args, **kwargs: few)
    model = RealNVP(FlowConfig(image_size=16, n_scales=1, n_couplings=1, channels=4,
                               n_classes=3))
    with torch.no_grad():
        model.log_label_prior.copy_(torch.tensor([0.2, 0.5, 0.3]).log())
        model.class_means.copy_(0.3 * torch.randn(model.class_means.shape,
                                                  generator=torch.Generator().manual_seed(9)))
    value, unit, extras = bench.families()["flow"].likelihood(model)
    assert unit == "bits/dim"
    assert value == pytest.approx(float(flow.test_bits_per_dim(model, few.images).mean()))
    given_label = float(flow.test_bits_per_dim(model, few.images, few.labels).mean())
    assert extras["test_bits_per_dim_given_label"] == pytest.approx(given_label)
    assert value != pytest.approx(given_label)


def test_test_bits_per_dim_is_reproducible_for_a_seed():
    model = _conditional_flow()
    x = _digits(7, 4, seed=9).double()
    a = flow.test_bits_per_dim(model, x, seed=3)
    b = flow.test_bits_per_dim(model, x, seed=3)
    c = flow.test_bits_per_dim(model, x, seed=4)
    assert a.dtype == torch.float64 and a.shape == (7,)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(
        a, model.bits_per_dim(x, generator=torch.Generator().manual_seed(3)), rtol=0, atol=1e-12)


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size=6, n_scales=2), "divisible"), (dict(image_size=12, n_scales=3), "divisible"),
    (dict(alpha=0.0), "alpha"), (dict(alpha=0.5), "alpha"), (dict(alpha=-0.1), "alpha"),
    (dict(alpha=True), "alpha"), (dict(alpha=float("nan")), "alpha"),
    (dict(n_scales=True), "n_scales"), (dict(image_size=28.0), "image_size"),
    (dict(n_couplings=0), "n_couplings"), (dict(channels=0), "channels"),
    (dict(n_blocks=-1), "n_blocks"), (dict(n_classes=-1), "n_classes")])
def test_bad_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowConfig(**kwargs)


def test_bad_layers_are_refused():
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(2, 4, 1, "diagonal", 0)
    with pytest.raises(ValueError, match="parity"):
        AffineCoupling(2, 4, 1, "checkerboard", 2)
    with pytest.raises(ValueError, match="even"):
        AffineCoupling(3, 4, 1, "channel", 0)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        AffineCoupling(2, 4, 1, "checkerboard", 0)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="even"):
        Squeeze()(torch.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="4C"):
        Squeeze().inverse(torch.zeros(1, 3, 2, 2))
    with pytest.raises(TypeError, match="FlowConfig"):
        RealNVP(dict(image_size=4))


def _images_with_nan():
    x = torch.zeros(2, 1, 4, 4)
    x[1, 0, 2, 2] = float("nan")
    return x


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(2, 1, 5, 5), ValueError, r"\(B, 1, 4, 4\)"),
    (torch.zeros(2, 4, 4), ValueError, r"\(B, 1, 4, 4\)"),
    (torch.zeros(0, 1, 4, 4), ValueError, "B >= 1"),
    (torch.full((2, 1, 4, 4), 1.5), ValueError, r"\[0, 1\]"),
    (torch.full((2, 1, 4, 4), -0.2), ValueError, r"\[0, 1\]"),
    (_images_with_nan(), ValueError, r"\[0, 1\]"),
    ([[0.5] * 4] * 4, TypeError, "tensor")])
def test_bad_images_give_clear_errors(x, error, match):
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    for call in (model.log_prob, model.bits_per_dim, model.preprocess):
        with pytest.raises(error, match=match):
            call(x)


@pytest.mark.parametrize("y, match", [
    (torch.zeros(2, 1, 8, 8), r"\(B, 1, 4, 4\)"), (torch.zeros(1, 4, 4), r"\(B, 1, 4, 4\)"),
    (torch.full((2, 1, 4, 4), float("nan")), "NaN"), (torch.full((2, 1, 4, 4), math.inf), "inf")])
def test_bad_logit_inputs_give_clear_errors(y, match):
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    for call in (model.forward, model.inverse):
        with pytest.raises(ValueError, match=match):
            call(y)


@pytest.mark.parametrize("labels, match", [
    ([0, 3], r"\[0, 3\)"), ([-1, 0], r"\[0, 3\)"), (torch.tensor([0.0, 1.0]), "int"),
    ([0, 1, 2], r"shape \(2,\)"), ("ab", "labels"), (torch.tensor([True, False]), "int")])
def test_bad_labels_give_clear_errors(labels, match):
    model = _conditional_flow()
    x = _digits(2, 4).double()
    with pytest.raises(ValueError, match=match):
        model.log_prob(x, labels)
    with pytest.raises(ValueError, match=match):
        model.sample(2, labels=labels)


def test_labels_to_an_unconditional_flow_are_refused():
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    with pytest.raises(ValueError, match="unconditional"):
        model.log_prob(_digits(2, 4), [0, 1])
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=[0, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n=0), ValueError, r"\bn\b"), (dict(n=2.5), ValueError, r"\bn\b"),
    (dict(n=True), ValueError, r"\bn\b"), (dict(n="3"), ValueError, r"\bn\b"),
    (dict(n=2, temperature=-1.0), ValueError, "temperature"),
    (dict(n=2, temperature=float("nan")), ValueError, "temperature"),
    (dict(n=2, temperature=math.inf), ValueError, "temperature"),
    (dict(n=2, temperature=True), ValueError, "temperature"),
    (dict(n=2, temperature="1"), ValueError, "temperature"),
    (dict(n=2, generator=0), TypeError, "generator")])
def test_bad_sampling_arguments_give_clear_errors(kwargs, error, match):
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    with pytest.raises(error, match=match):
        model.sample(**kwargs)


@pytest.mark.parametrize("generator", [3, "seed", torch.Generator().manual_seed(0).get_state()])
def test_a_bad_dequantization_generator_gives_a_clear_error(generator):
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    x = _digits(2, 4)
    for call in (model.preprocess, model.log_prob, model.bits_per_dim):
        with pytest.raises(TypeError, match="generator must be a torch.Generator"):
            call(x, generator=generator)


@pytest.mark.parametrize("images, kwargs, error, match", [
    (None, dict(batch_size=0), ValueError, "batch_size"),
    (None, dict(batch_size=2.5), ValueError, "batch_size"),
    (None, dict(batch_size=True), ValueError, "batch_size"),
    (None, dict(seed=1.5), ValueError, "seed"),
    (None, dict(seed="0"), ValueError, "seed"),
    ([[0.5] * 4] * 4, {}, TypeError, "tensor"),
    (torch.zeros(0, 1, 4, 4), {}, ValueError, "B >= 1")])
def test_bad_arguments_to_test_bits_per_dim_give_clear_errors(images, kwargs, error, match):
    model = RealNVP(FlowConfig(image_size=4, n_scales=1, n_couplings=1, channels=2))
    with pytest.raises(error, match=match):
        flow.test_bits_per_dim(model, _digits(3, 4) if images is None else images, **kwargs)
