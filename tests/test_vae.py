import math

import pytest
import torch

from drawjourney import bench, checkpoint, data, metrics, train
from drawjourney.models import vae


def _model(n_classes: int = 0, z_dim: int = 4, hidden=(32,), seed: int = 0) -> vae.VAE:
    torch.manual_seed(seed)
    return vae.VAE(vae.VAEConfig(z_dim=z_dim, hidden=hidden, n_classes=n_classes))


def _binary(batch: int, seed: int = 0) -> torch.Tensor:
    """Random binary images (batch, 1, 28, 28), about 30% ink."""
    return (torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


def _trained(model: vae.VAE, x: torch.Tensor, steps: int = 40) -> vae.VAE:
    """`model` after a few Adam steps on the -ELBO of `x`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model.loss(x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """16 statically binarized real test digits, (16, 1, 28, 28)."""
    return data.mnist("test", binarize="static", device="cpu").images[:16]


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_shapes_and_ranges(batch, n_classes):
    model = _model(n_classes)
    x = _binary(batch)
    labels = torch.arange(batch) % 10 if n_classes else None
    mu, logvar = model.encode(x, labels)
    assert mu.shape == logvar.shape == (batch, 4)
    assert model.decode(mu, labels).shape == (batch, 1, 28, 28)
    rec, kl = model.elbo_terms(x, labels)
    assert rec.shape == kl.shape == (batch,)
    assert (rec <= 0).all() and (kl >= 0).all()         # Bernoulli log-likelihood, a KL
    torch.testing.assert_close(kl, vae.kl_normal(mu, logvar))
    elbo = model.elbo(x, labels)
    assert elbo.shape == (batch,) and (elbo <= 0).all()   # a bound on log p(x) <= 0
    assert model.log_importance_weights(x, 3, labels).shape == (3, batch)
    assert model.log_importance_weights(x, 1, labels).shape == (1, batch)
    images = model.sample(batch, labels)
    assert images.shape == (batch, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1


def test_labels_reach_the_decoder():
    model = _model(n_classes=10)
    z = torch.randn(2, 4)
    assert not torch.allclose(model.decode(z, [3, 3]), model.decode(z, [3, 7]))
    # log_importance_weights repeats the labels once per sample, in z's (k, B) order
    x = _binary(2)
    g = torch.Generator().manual_seed(0)
    log_w = model.log_importance_weights(x, 3, labels=[1, 8], generator=g)
    for b, label in enumerate([1, 8]):
        g = torch.Generator().manual_seed(0)
        alone = model.log_importance_weights(x, 3, labels=[label, label], generator=g)
        torch.testing.assert_close(log_w[:, b], alone[:, b])


class _LinearGaussian:
    """A toy with known marginal: p(z) = N(0, 1), p(x | z) = N(z, 1), so p(x) = N(0, 2) and
    p(z | x) = N(x / 2, 1 / 2); the guide q(z | x) = N(a x, s^2) is deliberately not that
    posterior. x is (B, 1), float64."""

    def __init__(self, a: float = 0.25, s2: float = 1.2, seed: int = 0):
        self.a, self.logvar = a, math.log(s2)
        self.generator = torch.Generator().manual_seed(seed)

    def log_importance_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        mu = self.a * x
        logvar = torch.full_like(mu, self.logvar)
        eps = torch.randn((k, *mu.shape), generator=self.generator, dtype=torch.float64)
        z = vae.reparameterize(mu, logvar, eps)                               # (k, B, 1)
        return vae.log_normal(x, z) + vae.log_normal(z) - vae.log_normal(z, mu, logvar)

    def true_nll(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (math.log(2 * math.pi * 2) + x[:, 0] ** 2 / 2)

    def gap(self, x: torch.Tensor) -> torch.Tensor:
        """KL(q(z | x) || p(z | x)) = log p(x) - ELBO(x), closed form."""
        s2, m = math.exp(self.logvar), (self.a - 0.5) * x[:, 0]
        return 0.5 * (math.log(0.5 / s2) + (s2 + m ** 2) / 0.5 - 1)


def test_iwae_bound_orders_and_tightens_on_a_linear_gaussian_toy():
    toy = _LinearGaussian()
    x = torch.tensor([[-1.5], [0.0], [0.7], [2.0]], dtype=torch.float64)
    true = toy.true_nll(x).mean().item()
    means, ses = {}, {}
    for k, draws in ((1, 50000), (10, 20000), (100, 10000), (1000, 2000)):
        nll = metrics.iwae_nll(toy, x.repeat(draws, 1), k, chunk=min(k, 100)).view(draws, 4)
        means[k] = nll.mean().item()
        ses[k] = (nll.var(dim=0) / draws).sum().sqrt().item() / 4     # of the mean over x
    # k = 1 is the -ELBO: the truth plus KL(q || posterior), in expectation
    assert abs(means[1] - (true + toy.gap(x).mean().item())) < 4 * ses[1]
    for k, bigger in ((1, 10), (10, 100), (100, 1000)):
        assert means[k] - means[bigger] > 2 * math.hypot(ses[k], ses[bigger]), (k, means)
    for k in (1, 10, 100):
        assert means[k] > true + 3 * ses[k], (k, means, true)
    assert means[1000] > true - 3 * ses[1000]
    assert abs(means[1000] - true) < 0.005


def _spread_encoder(model: vae.VAE) -> vae.VAE:
    """Give q(z | x) a nonzero mean and a small variance, so KL(q || p) matters."""
    D = model.config.z_dim
    with torch.no_grad():
        model.encoder[-1].bias[:D] = 0.5
        model.encoder[-1].bias[D:] = -2.0
    return model


def test_one_importance_weight_is_an_elbo_on_average():
    model = _spread_encoder(_model())
    x = _binary(3)
    draws = 4000
    log_w = model.log_importance_weights(x.repeat(draws, 1, 1, 1), 1,
                                         generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        elbo = model.elbo(x.repeat(draws, 1, 1, 1), generator=torch.Generator().manual_seed(2))
        log_w = log_w.detach().view(draws, 3)
    elbo = elbo.view(draws, 3)
    se = (log_w.var(0) / draws + elbo.var(0) / draws).sqrt()
    assert ((log_w.mean(0) - elbo.mean(0)).abs() < 4 * se).all()
    # the KL is a large part of the bound here, so a wrong log q or log p(z) would show
    assert (vae.kl_normal(*model.encode(x)) > 2).all()


def test_iwae_is_tighter_than_the_mean_elbo_of_a_trained_model(digits):
    x = digits[:4]
    model = _trained(_model(), digits, steps=40)
    with torch.no_grad():
        torch.manual_seed(0)
        log_w = model.log_importance_weights(x, 2000)                         # (2000, 4)
        iwae = -(torch.logsumexp(log_w, 0) - math.log(2000))
        bounds = vae.test_bound(model, x.repeat(500, 1, 1, 1)).view(500, 4)
    neg_elbo, se = bounds.mean(0), bounds.std(0) / math.sqrt(500)
    assert (iwae.double() < neg_elbo - 3 * se).all()


def test_kl_normal_is_the_monte_carlo_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(200_000, 4, 3, generator=g, dtype=torch.float64)
    z = vae.reparameterize(mu, logvar, eps)
    log_ratio = vae.log_normal(z, mu, logvar) - vae.log_normal(z)            # (200k, 4)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(200_000)
    kl = vae.kl_normal(mu, logvar)
    assert kl.shape == (4,)
    assert ((kl - mc).abs() < 4 * se).all()
    assert vae.kl_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0
    assert (vae.kl_normal(mu, logvar) > 0).all()


def test_kl_normal_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"mu and logvar must share one shape"):
        vae.kl_normal(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="mu and logvar must be tensors"):
        vae.kl_normal([0.0, 0.0], torch.zeros(2))


def test_reparameterization_scales_eps_by_sigma_not_the_variance():
    mu, sigma = 1.5, 2.0
    eps = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    wrong = mu + sigma ** 2 * eps                       # the seed slide's z = mu + sigma^2 eps
    assert wrong.var().item() == pytest.approx(16, rel=0.02)
    mu_t = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    logvar_t = torch.tensor(math.log(sigma ** 2), dtype=torch.float64, requires_grad=True)
    z = vae.reparameterize(mu_t, logvar_t, eps)
    assert z.var().item() == pytest.approx(4, rel=0.02)
    assert z.mean().item() == pytest.approx(mu, abs=4 * sigma / math.sqrt(len(eps)))
    # pathwise gradients of E[z^2] = mu^2 + sigma^2: d/dmu = 2 mu, d/dlogvar = sigma^2
    z.pow(2).mean().backward()
    assert mu_t.grad.item() == pytest.approx(2 * mu, rel=0.02)
    assert logvar_t.grad.item() == pytest.approx(sigma ** 2, rel=0.02)


def test_overfits_one_batch_of_digits(digits):
    model = _model(z_dim=8, hidden=(64,))
    first = vae.test_bound(model, digits).mean().item()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss = model.loss(digits)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = vae.test_bound(model, digits).mean().item()
    assert first > 500 and last < 0.2 * first, (first, last)


@pytest.mark.parametrize("n_classes", [0, 10])
def test_same_seed_same_samples(n_classes):
    model = _model(n_classes)
    labels = [3, 1, 4, 1, 5] if n_classes else None
    a = model.sample(5, labels, generator=torch.Generator().manual_seed(7))
    b = model.sample(5, labels, generator=torch.Generator().manual_seed(7))
    c = model.sample(5, labels, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, model.sample(5, labels, z=z))
    torch.testing.assert_close(a, torch.sigmoid(model.decode(z, labels)).detach())


def test_seeded_bounds_are_deterministic():
    model, x = _model(), _binary(3)
    for bound in (lambda g: model.elbo(x, generator=g),
                  lambda g: model.log_importance_weights(x, 4, generator=g)):
        a = bound(torch.Generator().manual_seed(3))
        torch.testing.assert_close(a, bound(torch.Generator().manual_seed(3)))
        assert not torch.allclose(a, bound(torch.Generator().manual_seed(4)))
    torch.testing.assert_close(vae.test_bound(model, x, seed=5), vae.test_bound(model, x, seed=5))


_U = _model()
_C = _model(n_classes=10)
_X = _binary(2)


@pytest.mark.parametrize("call,error,match", [
    (lambda: _U.encode(torch.rand(2, 784)), ValueError, r"x must be images of shape \(B, 1, 28, 28\)"),
    (lambda: _U.elbo(torch.rand(2, 1, 16, 16)), ValueError, r"x must be images of shape \(B, 1, 28, 28\)"),
    (lambda: _U.elbo(_X[:0]), ValueError, r"B >= 1"),
    (lambda: _U.encode([0.5] * 784), TypeError, r"x must be an image tensor"),
    (lambda: _U.elbo(_X * 2), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.elbo(_X - 1), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.elbo(_X * float("nan")), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.elbo(_X, [0, 1]), ValueError, r"this VAE is unconditional"),
    (lambda: _U.sample(2, [0, 1]), ValueError, r"this VAE is unconditional"),
    (lambda: _C.elbo(_X), ValueError, r"this VAE is conditional: pass labels"),
    (lambda: _C.sample(2), ValueError, r"this VAE is conditional: pass labels"),
    (lambda: _C.log_importance_weights(_X, 2), ValueError, r"this VAE is conditional"),
    (lambda: _C.elbo(_X, [0, 10]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _C.elbo(_X, [-1, 0]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _C.elbo(_X, torch.tensor([0.0, 1.0])), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _C.elbo(_X, [True, False]), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _C.elbo(_X, "ab"), ValueError, r"labels must be 2 ints"),
    (lambda: _C.elbo(_X, [0, 1, 2]), ValueError, r"labels must have shape \(2,\)"),
    (lambda: _C.sample(3, [1, 2]), ValueError, r"labels must have shape \(3,\)"),
    (lambda: _U.decode(torch.randn(2, 5)), ValueError, r"z must have shape \(B, z_dim\) = \(B, 4\)"),
    (lambda: _U.decode(torch.randn(4)), ValueError, r"z must have shape \(B, z_dim\)"),
    (lambda: _U.decode(torch.zeros(2, 4, dtype=torch.long)), ValueError, r"z must be a float tensor"),
    (lambda: _U.sample(2, z=torch.randn(3, 4)), ValueError, r"z must be a tensor of shape \(n, z_dim\)"),
    (lambda: _U.sample(2, z=[[0.0] * 4] * 2), ValueError, r"z must be a tensor of shape \(n, z_dim\)"),
    (lambda: _U.log_importance_weights(_X, 0), ValueError, r"k must be a positive int, got 0"),
    (lambda: _U.log_importance_weights(_X, 2.5), ValueError, r"k must be a positive int"),
    (lambda: _U.loss(_X, k=True), ValueError, r"k must be a positive int"),
    (lambda: _U.sample(0), ValueError, r"n must be a positive int"),
    (lambda: _U.sample(2, generator=3), TypeError, r"generator must be a torch.Generator"),
    (lambda: _U.elbo(_X, generator="seed"), TypeError, r"generator must be a torch.Generator"),
    (lambda: vae.VAEConfig(z_dim=0), ValueError, r"VAEConfig.z_dim must be an int >= 1, got 0"),
    (lambda: vae.VAEConfig(z_dim=True), ValueError, r"VAEConfig.z_dim must be an int"),
    (lambda: vae.VAEConfig(z_dim=2.0), ValueError, r"VAEConfig.z_dim must be an int"),
    (lambda: vae.VAEConfig(hidden=()), ValueError, r"VAEConfig.hidden must be a non-empty tuple"),
    (lambda: vae.VAEConfig(hidden=(64, 0)), ValueError, r"VAEConfig.hidden must be a non-empty tuple"),
    (lambda: vae.VAEConfig(hidden=64), ValueError, r"VAEConfig.hidden must be a non-empty tuple"),
    (lambda: vae.VAEConfig(n_classes=-1), ValueError, r"VAEConfig.n_classes must be an int >= 0"),
    (lambda: vae.VAEConfig(image_size=0), ValueError, r"VAEConfig.image_size must be an int >= 1"),
    (lambda: vae.VAE({"z_dim": 4}), TypeError, r"config must be a VAEConfig"),
    (lambda: vae.init_output_bias(_U, torch.rand(3, 1, 16, 16)), ValueError, r"x must be images of shape"),
    (lambda: vae.active_units(_U, _X[:1]), ValueError, r"at least 2 images"),
    (lambda: vae.active_units(_U, [0.5] * 784), TypeError, r"x must be an image tensor"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_loss_is_the_negative_elbo_or_the_iwae_bound(digits):
    model = _trained(_model(), digits, steps=20)
    x = digits[:8]
    with pytest.raises(ValueError, match=r"beta weights the KL .* beta=1"):
        model.loss(x, k=5, beta=0.5)
    torch.manual_seed(1)
    out = model.loss(x, beta=0.5)
    assert set(out) == {"loss", "-elbo", "kl"} and out["loss"].requires_grad
    assert not out["-elbo"].requires_grad and not out["kl"].requires_grad
    torch.manual_seed(1)
    rec, kl = model.elbo_terms(x)
    torch.testing.assert_close(out["loss"], -(rec - 0.5 * kl).mean())
    torch.testing.assert_close(out["-elbo"], (kl - rec).mean().detach())
    torch.testing.assert_close(out["kl"], kl.mean().detach())
    for seed in range(5):
        torch.manual_seed(seed)
        out = model.loss(x, k=5)
        torch.manual_seed(seed)
        log_w = model.log_importance_weights(x, 5)
        torch.testing.assert_close(out["loss"], -(torch.logsumexp(log_w, 0) - math.log(5)).mean())
        torch.testing.assert_close(out["-elbo"], -log_w.mean().detach())
        assert out["loss"].item() < out["-elbo"].item()          # log-mean-exp >= mean log
    out["loss"].backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("n_classes", [0, 10])
def test_active_units_are_the_variances_of_mu(n_classes):
    model = _model(n_classes, z_dim=5)
    x = _binary(20)
    labels = torch.arange(20) % 10 if n_classes else None
    with torch.no_grad():
        model.encoder[-1].weight[2].zero_()          # mu_2 no longer depends on x
        mu = model.encode(x, labels)[0]
    variances = vae.active_units(model, x, labels)
    assert variances.shape == (5,)
    torch.testing.assert_close(variances, mu.var(0))
    torch.testing.assert_close(vae.active_units(model, x, labels, batch_size=3), variances)
    assert variances[2] < 1e-12 and (variances[[0, 1, 3, 4]] > 0).all()


def test_init_output_bias_draws_the_mean_image(digits):
    model = _model()
    grey = data.mnist("test", device="cpu").images[:50]
    vae.init_output_bias(model, grey)
    mean = grey.mean(0).flatten()
    torch.testing.assert_close(torch.sigmoid(model.decoder[-1].bias),
                               mean.clamp(1e-3, 1 - 1e-3), rtol=1e-4, atol=1e-6)
    assert (mean == 0).any()                           # the empty border: clamped, finite bias
    assert torch.isfinite(model.decoder[-1].bias).all()


def test_train_recipe_runs_and_refuses_unknown_settings(data_root):
    before = {name: dict(recipe) for name, recipe in vae.RECIPES.items()}
    model, history = vae.train_recipe("cvae", minutes=0.02, progress=False, batch_size=32)
    assert isinstance(model, vae.VAE) and not model.training
    assert model.config == vae.RECIPES["cvae"]["config"]
    assert isinstance(history, train.History) and history.steps >= 1
    assert {"loss", "-elbo", "kl"} <= set(history.losses)
    assert all(math.isfinite(v) for v in history.losses["-elbo"])
    assert vae.RECIPES == before                        # overrides leave the record alone
    with pytest.raises(ValueError, match=r"no VAE recipe named 'gan'; recipes: vae, cvae"):
        vae.train_recipe("gan")
    with pytest.raises(TypeError, match=r"unknown recipe settings \['learning_rate'\]"):
        vae.train_recipe("vae", learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"epochs must be a positive int"):
        vae.train_recipe("vae", epochs=0)


def test_registered_with_the_bench_and_spot_checked(data_root):
    families = bench.families()
    assert families["vae"].model_class is vae.VAE and not families["vae"].conditional
    assert families["cvae"].model_class is vae.VAE and families["cvae"].conditional
    model = _model()
    key, estimate, standard_error = families["vae"].spot_check(model, {})
    assert key == "test_nll_bound_nats"
    assert math.isfinite(estimate) and 0 < estimate < 784 * math.log(2) * 2
    assert 0 < standard_error < 0.1 * estimate
    assert vae.spot_check(model, {}) == (key, estimate, standard_error)      # fixed seed
    key, estimate, standard_error = vae.spot_check(_model(n_classes=10), {})
    assert math.isfinite(estimate) and standard_error > 0


def test_checkpoint_round_trip(tmp_path):
    model = _model(n_classes=10)
    path = checkpoint.save(model, tmp_path / "cvae.pt")
    loaded = checkpoint.load(path, device="cpu", expect=vae.VAE)
    assert loaded.config == model.config
    x, labels = _binary(3), [0, 4, 9]
    torch.testing.assert_close(loaded.elbo(x, labels, generator=torch.Generator().manual_seed(0)),
                               model.elbo(x, labels, generator=torch.Generator().manual_seed(0)))
