import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from drawjourney import bench, checkpoint, metrics, train
from drawjourney.models import gan

TINY = gan.GANConfig(z_dim=8, g_width=4, d_width=4)
TINY_C = gan.GANConfig(z_dim=8, g_width=4, d_width=4, n_classes=10)


def _pair(n_classes: int = 0, seed: int = 0) -> tuple[gan.Generator, gan.Discriminator]:
    """A tiny G and D with DCGAN's initialization, seeded."""
    torch.manual_seed(seed)
    config = TINY_C if n_classes else TINY
    G, D = gan.Generator(config), gan.Discriminator(config)
    gan._init_weights(G)
    gan._init_weights(D)
    return G, D


def _images(batch: int, seed: int = 0) -> torch.Tensor:
    """Random grey images (batch, 1, 28, 28) in [0, 1]."""
    return torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _labels(batch: int, n_classes: int):
    return torch.arange(batch) % 10 if n_classes else None


def _state(*models: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for m in models for t in m.state_dict().values()]


# -- the networks -------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [2, 5])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_shapes_and_ranges(batch, n_classes):
    G, D = _pair(n_classes)
    labels = _labels(batch, n_classes)
    z = torch.randn(batch, 8)
    for mode in (True, False):
        G.train(mode)
        D.train(mode)
        x = G(z, labels)
        assert x.shape == (batch, 1, 28, 28)
        assert x.min() >= -1 and x.max() <= 1                      # tanh scale
        logits = D(x, labels)
        assert logits.shape == (batch,) and logits.dtype == torch.float32
        assert D(gan.to_model_scale(_images(batch)), labels).shape == (batch,)
    images = G.sample(batch, labels)
    assert images.shape == (batch, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1


def test_scales_are_inverse_and_map_unit_to_tanh():
    x = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(gan.to_model_scale(x), torch.tensor([-1.0, -0.5, 1.0]))
    torch.testing.assert_close(gan.from_model_scale(gan.to_model_scale(x)), x)


def test_discriminator_scores_each_image_alone_in_eval_mode():
    _, D = _pair()
    D.eval()
    x = gan.to_model_scale(_images(4))
    torch.testing.assert_close(D(x)[1:2], D(x[1:2]))


def test_labels_reach_both_networks():
    G, D = _pair(n_classes=10)
    G.eval()
    D.eval()
    z = torch.randn(1, 8).repeat(2, 1)
    x = G(z, [3, 7])
    assert not torch.allclose(x[0], x[1])                      # same z, other label
    same = gan.to_model_scale(_images(1)).repeat(2, 1, 1, 1)
    logits = D(same, [3, 7])
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("n_classes", [0, 10])
def test_same_seed_same_samples(n_classes):
    G, _ = _pair(n_classes)
    G.eval()
    labels = [3, 1, 4, 1, 5] if n_classes else None
    a = G.sample(5, labels, generator=torch.Generator().manual_seed(7))
    b = G.sample(5, labels, generator=torch.Generator().manual_seed(7))
    c = G.sample(5, labels, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, G.sample(5, labels, z=z))
    torch.testing.assert_close(a, (G(z, labels).detach() + 1) / 2)


def test_checkpoint_round_trip(tmp_path):
    G, _ = _pair(n_classes=10)
    gan.recalibrate_batchnorm(G, batches=2, batch_size=16)
    path = checkpoint.save(G, tmp_path / "cgan.pt")
    loaded = checkpoint.load(path, device="cpu", expect=gan.Generator)
    assert loaded.config == G.config and not loaded.training
    labels = [0, 4, 9]
    torch.testing.assert_close(loaded.sample(3, labels, generator=torch.Generator().manual_seed(0)),
                               G.sample(3, labels, generator=torch.Generator().manual_seed(0)))


# -- the losses ---------------------------------------------------------------------------------

def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


REAL = [-3.0, -0.5, 0.0, 2.0, 7.0]
FAKE = [-4.0, 0.3, 1.0, 5.0]


def test_losses_are_their_formulas_on_hand_made_logits():
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    by_hand_d = (-sum(math.log(_sigmoid(r)) for r in REAL) / len(REAL)
                 - sum(math.log(1 - _sigmoid(f)) for f in FAKE) / len(FAKE))
    by_hand_ns = -sum(math.log(_sigmoid(f)) for f in FAKE) / len(FAKE)
    by_hand_mm = sum(math.log(1 - _sigmoid(f)) for f in FAKE) / len(FAKE)
    assert gan.d_loss(real, fake).item() == pytest.approx(by_hand_d, abs=1e-12)
    assert gan.g_loss(fake).item() == pytest.approx(by_hand_ns, abs=1e-12)
    assert gan.g_loss(fake, "nonsaturating").item() == pytest.approx(by_hand_ns, abs=1e-12)
    assert gan.g_loss(fake, "minimax").item() == pytest.approx(by_hand_mm, abs=1e-12)
    # the softplus forms, written the other way round
    assert by_hand_d == pytest.approx(sum(_softplus(-r) for r in REAL) / 5
                                      + sum(_softplus(f) for f in FAKE) / 4, abs=1e-12)
    # float32 logits (2-D, as D's raw output might be) give the same numbers
    assert gan.d_loss(real.float()[None], fake.float()[:, None]).item() == pytest.approx(by_hand_d, rel=1e-6)
    # D's loss is smallest when it believes real is real and fake is fake
    assert gan.d_loss(real + 5, fake - 5) < gan.d_loss(real, fake) < gan.d_loss(real - 5, fake + 5)


def test_losses_stay_finite_with_finite_gradients_at_extreme_logits():
    real = torch.tensor([100.0, -100.0], requires_grad=True)
    fake = torch.tensor([-100.0, 100.0], requires_grad=True)
    naive = torch.log(1 - torch.sigmoid(fake.detach())).mean()
    assert not torch.isfinite(naive)                            # what the softplus form avoids
    loss_d = gan.d_loss(real, fake)
    loss_ns = gan.g_loss(fake, "nonsaturating")
    loss_mm = gan.g_loss(fake, "minimax")
    assert loss_d.item() == pytest.approx(100.0, abs=1e-4)
    assert loss_ns.item() == pytest.approx(50.0, abs=1e-4)
    assert loss_mm.item() == pytest.approx(-50.0, abs=1e-4)
    for loss in (loss_d, loss_ns, loss_mm):
        grads = torch.autograd.grad(loss, [real, fake], allow_unused=True)
        assert torch.isfinite(loss)
        assert all(g is None or torch.isfinite(g).all() for g in grads)
    fake_grad = torch.autograd.grad(gan.g_loss(fake, "nonsaturating"), fake)[0]
    torch.testing.assert_close(fake_grad, torch.tensor([-0.5, 0.0]))


def test_nonsaturating_gradient_is_strong_where_minimax_vanishes():
    logits = torch.full((8,), -8.0, requires_grad=True)         # D(G(z)) ~ 3e-4: D wins
    ns = torch.autograd.grad(gan.g_loss(logits, "nonsaturating"), logits)[0]
    mm = torch.autograd.grad(gan.g_loss(logits, "minimax"), logits)[0]
    assert (ns < 0).all() and (mm < 0).all()        # both push D(G(z)) up, by descent
    assert ns.abs().min() > 1000 * mm.abs().max()
    torch.testing.assert_close(ns, -torch.sigmoid(-logits.detach()) / 8)
    torch.testing.assert_close(mm, -torch.sigmoid(logits.detach()) / 8)
    # where D is fooled it is the other way round
    fooled = torch.full((8,), 8.0, requires_grad=True)
    ns = torch.autograd.grad(gan.g_loss(fooled, "nonsaturating"), fooled)[0]
    mm = torch.autograd.grad(gan.g_loss(fooled, "minimax"), fooled)[0]
    assert mm.abs().min() > 1000 * ns.abs().max()


def test_gan_step_grad_norm_shows_minimax_saturation():
    norms = {}
    for kind in gan.LOSS_KINDS:
        G, D = _pair()
        with torch.no_grad():
            D.net[-1].bias.fill_(-15.0)                 # D confidently rejects everything
        g_opt = torch.optim.SGD(G.parameters(), lr=0.0)
        d_opt = torch.optim.SGD(D.parameters(), lr=0.0)
        out = gan.gan_step(G, D, g_opt, d_opt, _images(8), kind=kind,
                           generator=torch.Generator().manual_seed(0))
        assert out["d_fake"] < 1e-5
        norms[kind] = out["g_grad_norm"]
    assert norms["nonsaturating"] > 1e4 * norms["minimax"] > 0, norms


# -- the game on a 1-D toy: D* and the Jensen-Shannon divergence ---------------------------------

def _quantiles(normal: torch.distributions.Normal, n: int) -> torch.Tensor:
    """n points whose mean of f is the midpoint rule for E[f] under `normal` (float64)."""
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return normal.icdf(u)


def _jsd_by_entropies(p: torch.distributions.Normal, q: torch.distributions.Normal) -> float:
    """JSD(p || q) = H((p + q) / 2) - (H(p) + H(q)) / 2: Gaussian entropies in closed form,
    the mixture's by the trapezoid rule on a grid."""
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64)
    m = 0.5 * (p.log_prob(x).exp() + q.log_prob(x).exp())
    h_m = -torch.trapezoid(torch.where(m > 0, m * m.log(), torch.zeros_like(m)), x).item()
    h = lambda s: 0.5 * math.log(2 * math.pi * math.e * s ** 2)  # noqa: E731
    return h_m - 0.5 * (h(p.scale.item()) + h(q.scale.item()))


def test_value_at_the_optimal_discriminator_is_twice_the_jsd_minus_log_4():
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64),
                                   torch.tensor(1.0, dtype=torch.float64))     # the data
    q = torch.distributions.Normal(torch.tensor(1.5, dtype=torch.float64),
                                   torch.tensor(0.7, dtype=torch.float64))     # G's samples
    x_data, x_g = _quantiles(p, 200_000), _quantiles(q, 200_000)

    def logit(shift: float = 0.0, scale: float = 1.0):
        """D's logits; shift 0, scale 1 is D* = p / (p + q), logit log p - log q."""
        f = lambda x: scale * (p.log_prob(x) - q.log_prob(x)) + shift  # noqa: E731
        return f(x_data), f(x_g)

    real, fake = logit()
    value = -gan.d_loss(real, fake).item()          # E_data[log D*] + E_g[log(1 - D*)]
    assert value == pytest.approx(-F.softplus(-real).mean().item()
                                  + gan.g_loss(fake, "minimax").item(), abs=1e-12)
    jsd = _jsd_by_entropies(p, q)
    assert 0.1 < jsd < math.log(2)
    assert value == pytest.approx(2 * jsd - math.log(4), abs=2e-4)
    # D* maximizes the value: any other D scores less
    for shift, scale in ((0.5, 1.0), (-0.5, 1.0), (0.0, 0.7), (0.0, 1.4)):
        assert -gan.d_loss(*logit(shift, scale)).item() < value - 1e-3
    # and when G matches the data D* = 1/2 everywhere: the value is -log 4, its minimum
    half = torch.zeros(10, dtype=torch.float64)
    assert -gan.d_loss(half, half).item() == pytest.approx(-math.log(4), abs=1e-12)


# -- training -----------------------------------------------------------------------------------

def _mlp(n_in: int, n_out: int, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                         nn.LeakyReLU(0.2), nn.Linear(hidden, n_out))


def _energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """2 E|X - Y| - E|X - X'| - E|Y - Y'|: 0 only for equal distributions."""
    return (2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()).item()


@pytest.mark.parametrize("kind", gan.LOSS_KINDS)
def test_losses_move_a_toy_generator_onto_a_gaussian_mixture(kind):
    # gan_step checks for 28x28 images, so the 2-D toy repeats its few lines with MLPs
    centers = torch.tensor([[-2.0, 3.0], [2.0, 3.0]])
    g = torch.Generator().manual_seed(0)

    def data(n: int) -> torch.Tensor:
        return centers[torch.randint(2, (n,), generator=g)] + 0.3 * torch.randn(n, 2, generator=g)

    torch.manual_seed(0)
    G, D = _mlp(2, 2), _mlp(2, 1)
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    z_test, x_test = torch.randn(1000, 2, generator=g), data(1000)
    with torch.no_grad():
        before = _energy_distance(G(z_test), x_test)
    for _ in range(300):
        x, z = data(128), torch.randn(128, 2, generator=g)
        fake = G(z)
        loss_d = gan.d_loss(D(x)[:, 0], D(fake.detach())[:, 0])
        d_opt.zero_grad()
        loss_d.backward()
        d_opt.step()
        loss_g = gan.g_loss(D(fake)[:, 0], kind)
        g_opt.zero_grad()
        loss_g.backward()
        g_opt.step()
    with torch.no_grad():
        samples = G(z_test)
        after = _energy_distance(samples, x_test)
    assert before > 3 and after < 0.15 * before, (before, after)
    assert (samples.mean(0) - x_test.mean(0)).norm() < 0.5


def _reference_step(G, D, real, labels, z, kind, lr):
    """The alternating update written out, with plain gradient descent at rate lr."""
    x = real * 2 - 1
    fake = G(z, labels)
    real_logits, fake_logits = D(x, labels), D(fake.detach(), labels)
    loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    grads = torch.autograd.grad(loss_d, list(D.parameters()))
    with torch.no_grad():
        for p, g in zip(D.parameters(), grads):
            p -= lr * g
    logits = D(fake, labels)
    loss_g = F.softplus(-logits).mean() if kind == "nonsaturating" else -F.softplus(logits).mean()
    grads = torch.autograd.grad(loss_g, list(G.parameters()))
    with torch.no_grad():
        for p, g in zip(G.parameters(), grads):
            p -= lr * g
    return {"d_loss": loss_d.item(), "g_loss": loss_g.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
            "g_grad_norm": torch.cat([g.flatten() for g in grads]).norm().item()}


@pytest.mark.parametrize("n_classes", [0, 10])
@pytest.mark.parametrize("kind", gan.LOSS_KINDS)
def test_gan_step_is_the_alternating_update(kind, n_classes):
    G, D = _pair(n_classes)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    before = _state(G, D)
    real, labels = _images(6), _labels(6, n_classes)
    g_opt = torch.optim.SGD(G.parameters(), lr=0.1)
    d_opt = torch.optim.SGD(D.parameters(), lr=0.1)
    out = gan.gan_step(G, D, g_opt, d_opt, real, labels, kind=kind,
                       generator=torch.Generator().manual_seed(3))
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"}
    assert all(type(v) is float and math.isfinite(v) for v in out.values()), out
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1 and out["g_grad_norm"] > 0
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    expected = _reference_step(G_ref, D_ref, real, labels, z, kind, lr=0.1)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    for m, m_ref in ((G, G_ref), (D, D_ref)):
        for (name, a), b in zip(m.state_dict().items(), m_ref.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    changed = [not torch.equal(a, b) for a, b in zip(before, _state(G, D))]
    n_g = len(G.state_dict())
    assert any(changed[:n_g]) and any(changed[n_g:])            # both networks moved


def test_seeded_gan_steps_are_deterministic():
    def run(seed: int) -> list[torch.Tensor]:
        G, D = _pair(n_classes=10)
        g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        gen = torch.Generator().manual_seed(seed)
        for i in range(3):
            gan.gan_step(G, D, g_opt, d_opt, _images(4, seed=i), [1, 2, 3, 4], generator=gen)
        return _state(G, D)

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_a_diverging_run_stops_with_a_clear_message():
    G, D = _pair()
    g_opt = torch.optim.SGD(G.parameters(), lr=1e6)
    d_opt = torch.optim.SGD(D.parameters(), lr=1e6)
    gen = torch.Generator().manual_seed(0)
    real = _images(8)

    def step_fn(batch):
        return gan.gan_step(G, D, g_opt, d_opt, batch, generator=gen)

    with pytest.raises(train.TrainingDiverged,
                       match=r"loss '(d_loss|g_loss|g_grad_norm)' became (nan|inf|-inf) at step "
                             r"\d+; training stopped"):
        train.fit(step_fn, [real], steps=20, progress=False)


@pytest.mark.parametrize("n_classes", [0, 10])
def test_recalibrate_batchnorm_sets_the_batch_statistics_of_the_noise(n_classes):
    G, _ = _pair(n_classes)
    for _ in range(3):                                  # stale statistics from "training"
        G(torch.randn(4, 8) + 3, _labels(4, n_classes))
    norms = [G.net[1], G.net[4]]
    assert gan.recalibrate_batchnorm(G, batches=2, batch_size=32, seed=3) is G
    assert not G.training
    # the same noise again, through a copy that records what each batch norm reads
    probe = copy.deepcopy(G).train()
    seen = {m: [] for m in (probe.net[1], probe.net[4])}
    hooks = [m.register_forward_hook(lambda m, args, out: seen[m].append(args[0]))
             for m in (probe.net[1], probe.net[4])]
    gen = torch.Generator().manual_seed(3)
    for _ in range(2):
        z = torch.randn(32, 8, generator=gen)
        labels = torch.randint(10, (32,), generator=gen) if n_classes else None
        probe(z, labels)
    for h in hooks:
        h.remove()
    for m, m_probe in zip(norms, (probe.net[1], probe.net[4])):
        h = seen[m_probe]
        means = torch.stack([b.mean((0, 2, 3)) for b in h])
        variances = torch.stack([b.var((0, 2, 3), unbiased=True) for b in h])
        torch.testing.assert_close(m.running_mean, means.mean(0))      # exact, not momentum
        torch.testing.assert_close(m.running_var, variances.mean(0))
        assert m.momentum == 0.1
    # the noise is fixed by the seed: a second recalibration finds the same statistics
    G2 = copy.deepcopy(G)
    gan.recalibrate_batchnorm(G2, batches=2, batch_size=32, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(G.buffers(), G2.buffers()))


def test_train_recipe_runs_and_averages_the_generator(data_root, monkeypatch):
    before = {name: dict(recipe) for name, recipe in gan.RECIPES.items()}
    live, shown = [], []
    step = gan.gan_step

    def recorded_step(G, *args, **kwargs):
        if not live:
            live.append([p.detach().clone() for p in G.parameters()])      # the initialization
        out = step(G, *args, **kwargs)
        live.append([p.detach().clone() for p in G.parameters()])
        return out

    def callback(step, history, G, D):
        assert not G.training and not D.training
        shown.append((step, [p.detach().clone() for p in G.parameters()]))

    monkeypatch.setattr(gan, "gan_step", recorded_step)
    G, D, history = gan.train_recipe("cgan", minutes=0.02, progress=False, config=TINY_C,
                                     batch_size=32, ema=0.9, every=1, callback=callback)
    assert isinstance(G, gan.Generator) and isinstance(D, gan.Discriminator)
    assert not G.training and not D.training
    assert G.config == D.config == TINY_C
    assert isinstance(history, train.History) and history.steps >= 2
    assert history.stopped_by == "minutes"
    assert {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"} <= set(history.losses)
    assert all(math.isfinite(v) for v in history.losses["g_loss"])
    assert len(history.losses["d_loss"]) == history.steps == len(live) - 1 == len(shown)
    # the generator shown and returned is the average: a_k = 0.9 a_(k-1) + 0.1 g_k
    average = live[0]
    for k, (step_k, params) in enumerate(shown, start=1):
        assert step_k == k
        average = [0.9 * a + 0.1 * g for a, g in zip(average, live[k])]
        for a, b in zip(params, average):
            torch.testing.assert_close(a, b)
    for a, b in zip(G.parameters(), average):
        torch.testing.assert_close(a, b)
    assert not all(torch.allclose(a, b) for a, b in zip(live[-1], average))
    images = G.sample(4, [0, 1, 2, 3])
    assert images.shape == (4, 1, 28, 28) and torch.isfinite(images).all()
    assert gan.RECIPES == before                        # overrides leave the record alone


def test_train_recipe_refuses_bad_settings():
    # a short budget and a tiny net: a missing check costs a second, not a whole training
    quick = dict(minutes=0.005, config=TINY, batch_size=32, progress=False)
    with pytest.raises(ValueError, match=r"no GAN recipe named 'vae'; recipes: gan, cgan"):
        gan.train_recipe("vae", **quick)
    with pytest.raises(TypeError, match=r"unknown recipe settings \['learning_rate'\]"):
        gan.train_recipe("gan", learning_rate=1e-3, **quick)
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        gan.train_recipe("gan", ema=1.0, **quick)
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        gan.train_recipe("gan", ema=-0.1, **quick)
    with pytest.raises(ValueError, match=r"epochs must be a positive int"):
        gan.train_recipe("gan", epochs=0, **quick)


def test_train_recipe_without_averaging_returns_the_trained_generator(data_root, monkeypatch):
    trained = []
    step = gan.gan_step

    def recorded_step(G, *args, **kwargs):
        trained.append(G)
        return step(G, *args, **kwargs)

    monkeypatch.setattr(gan, "gan_step", recorded_step)
    G, D, history = gan.train_recipe("gan", epochs=1, minutes=0.01, progress=False, config=TINY,
                                     batch_size=32, ema=0.0, seed=5)
    assert not G.training and not D.training and history.steps == len(trained) >= 1
    assert all(g is G for g in trained)


# -- latent space -------------------------------------------------------------------------------

def _vectors(*shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), 1.5 * torch.randn(*shape, generator=g)


def test_slerp_hits_its_ends_and_keeps_the_norm_between_theirs():
    z0, z1 = _vectors(4, 100)
    torch.testing.assert_close(gan.slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(gan.slerp(z0, z1, 1.0), z1)
    n0, n1 = z0.norm(dim=-1), z1.norm(dim=-1)
    cos = (z0 * z1).sum(-1) / (n0 * n1)
    omega = torch.acos(cos)
    for t in torch.linspace(0, 1, 11).tolist():
        z = gan.slerp(z0, z1, t)
        assert z.shape == (4, 100)
        norm = z.norm(dim=-1)
        assert (norm >= torch.minimum(n0, n1) - 1e-4).all()
        assert (norm <= torch.maximum(n0, n1) + 1e-4).all()
        torch.testing.assert_close(norm, (1 - t) * n0 + t * n1)
        # on the great circle at constant angular speed: angle t * omega from z0
        angle_0 = torch.acos(((z * z0).sum(-1) / (norm * n0)).clamp(-1, 1))
        angle_1 = torch.acos(((z * z1).sum(-1) / (norm * n1)).clamp(-1, 1))
        torch.testing.assert_close(angle_0, t * omega, atol=1e-3, rtol=0)
        torch.testing.assert_close(angle_1, (1 - t) * omega, atol=1e-3, rtol=0)


def test_slerp_moves_at_constant_angular_speed_at_small_angles():
    # small angles, but far from parallel in float64: no reason to fall back to a lerp, whose
    # angle misses t * omega by 2e-8 at omega = 0.01
    for omega in (0.3, 0.01):
        e0 = torch.zeros(100, dtype=torch.float64)
        e1 = torch.zeros(100, dtype=torch.float64)
        e0[0], e1[0], e1[1] = 1.0, math.cos(omega), math.sin(omega)
        for t in (0.1, 0.25, 0.8):
            z = gan.slerp(2 * e0, 3 * e1, t)
            assert z.dtype == torch.float64
            assert math.atan2(z[1].item(), z[0].item()) == pytest.approx(t * omega, abs=1e-10)
            assert z.norm().item() == pytest.approx(2 + t, abs=1e-12)


def test_slerp_takes_a_1d_tensor_of_times():
    z0, z1 = _vectors(3, 100)
    t = torch.tensor([0.0, 0.3, 0.5, 1.0, 0.8])
    path = gan.slerp(z0, z1, t)
    assert path.shape == (5, 3, 100)
    for i, t_i in enumerate(t.tolist()):
        torch.testing.assert_close(path[i], gan.slerp(z0, z1, t_i))
    assert gan.slerp(z0[0], z1[0], t).shape == (5, 100)
    assert gan.slerp(z0, z1, torch.tensor(0.5)).shape == (3, 100)


def test_slerp_takes_a_list_of_times_like_a_tensor():
    z0, z1 = _vectors(100)
    assert gan.slerp(z0, z1, [0.0, 0.5, 1.0]).shape == (3, 100)


def test_slerp_of_near_parallel_vectors_is_finite():
    z0, _ = _vectors(100)
    for z1 in (z0 + 1e-7 * torch.randn(100), 2 * z0, z0.clone()):
        for t in (0.0, 0.3, 1.0):
            z = gan.slerp(z0, z1, t)
            assert torch.isfinite(z).all()
            torch.testing.assert_close(z, (1 - t) * z0 + t * z1, rtol=1e-4, atol=1e-4)


def test_slerp_midpoint_keeps_the_norm_that_a_lerp_loses():
    z0, z1 = _vectors(500, 100, seed=1)
    z1 = z1 / 1.5                                               # both N(0, I)
    ends = 0.5 * (z0.norm(dim=-1) + z1.norm(dim=-1))
    lerp = (0.5 * (z0 + z1)).norm(dim=-1) / ends
    slerp = gan.slerp(z0, z1, 0.5).norm(dim=-1) / ends
    assert abs(lerp.mean().item() - 1 / math.sqrt(2)) < 0.02
    torch.testing.assert_close(slerp, torch.ones(500))
    assert lerp.max() < 0.9


# -- the bench ----------------------------------------------------------------------------------

def test_registered_with_the_bench():
    families = bench.families()
    for name, conditional in (("gan", False), ("cgan", True)):
        family = families[name]
        assert family.model_class is gan.Generator and family.conditional is conditional
        assert family.likelihood is None and family.spot_check is gan.spot_check
    G, _ = _pair()
    Gc, _ = _pair(n_classes=10)
    x = families["gan"].sample(G.eval(), 3, None)
    assert x.shape == (3, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    x = families["cgan"].sample(Gc.eval(), 3, torch.tensor([1, 2, 3]))
    assert x.shape == (3, 1, 28, 28)


def test_spot_check_of_a_conditional_generator_is_label_accuracy(data_root, monkeypatch):
    Gc, _ = _pair(n_classes=10)
    Gc.eval()
    seen = []
    label_accuracy = metrics.label_accuracy

    def spy(samples, labels, **kwargs):
        seen.append((samples, torch.as_tensor(labels)))
        return label_accuracy(samples, labels, **kwargs)

    monkeypatch.setattr(metrics, "label_accuracy", spy)
    key, p, se = gan.spot_check(Gc, {})
    assert key == "label_accuracy" and 0 <= p <= 1 and 0 < se < 0.05
    assert se == pytest.approx(math.sqrt(max(p, 5e-4) * (1 - max(p, 5e-4)) / 1000))
    assert gan.spot_check(Gc, {}) == (key, p, se)
    # 100 fixed-seed samples per label, the same ones every time
    (samples, labels), again = seen[0], seen[1][0]
    assert torch.equal(labels, torch.arange(10).repeat_interleave(100))
    assert torch.equal(samples, again)
    expected = Gc.sample(1000, labels, generator=torch.Generator().manual_seed(gan.SPOT_CHECK_SEED))
    assert torch.equal(samples, expected)


def test_spot_check_of_an_unconditional_generator_is_fid(data_root):
    G, _ = _pair()
    G.eval()
    with pytest.raises(ValueError, match=r"records no fid_mnist_seed_sd"):
        gan.spot_check(G, {})
    key, fid, se = gan.spot_check(G, {"fid_mnist_seed_sd": 0.7})
    assert key == "fid_mnist" and math.isfinite(fid) and fid > 10 and se == 0.7


# -- bad input ----------------------------------------------------------------------------------

_G, _D = _pair()
_GC, _DC = _pair(n_classes=10)
_Z = torch.randn(2, 8)
_X = gan.to_model_scale(_images(2))


def _step(real, kind="nonsaturating", G=_G, D=_D, labels=None):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    return gan.gan_step(G, D, opt, opt, real, labels, kind=kind)


@pytest.mark.parametrize("call,error,match", [
    (lambda: _G(torch.randn(2, 9)), ValueError, r"z must have shape \(B, z_dim\) = \(B, 8\)"),
    (lambda: _G(torch.randn(8)), ValueError, r"z must have shape \(B, z_dim\)"),
    (lambda: _G(torch.randn(0, 8)), ValueError, r"B >= 1"),
    (lambda: _G([[0.0] * 8] * 2), ValueError, r"z must be a float tensor"),
    (lambda: _G(torch.zeros(2, 8, dtype=torch.long)), ValueError, r"z must be a float tensor"),
    (lambda: _G.sample(2, z=torch.randn(3, 8)), ValueError, r"z must be a tensor of shape \(n, z_dim\)"),
    (lambda: _G.sample(2, z=[[0.0] * 8] * 2), ValueError, r"z must be a tensor of shape \(n, z_dim\)"),
    (lambda: _G.sample(0), ValueError, r"n must be a positive int"),
    (lambda: _G.sample(True), ValueError, r"n must be a positive int"),
    (lambda: _G.sample(2.0), ValueError, r"n must be a positive int"),
    (lambda: _G.sample(2, generator=3), TypeError, r"generator must be a torch.Generator"),
    (lambda: _D(torch.rand(2, 784)), ValueError, r"images must have shape \(B, 1, 28, 28\)"),
    (lambda: _D(torch.rand(2, 1, 16, 16)), ValueError, r"images must have shape \(B, 1, 28, 28\)"),
    (lambda: _D(torch.rand(2, 3, 28, 28)), ValueError, r"images must have shape \(B, 1, 28, 28\)"),
    (lambda: _D(_X[:0]), ValueError, r"B >= 1"),
    (lambda: _D(_X.tolist()), TypeError, r"images must be a tensor"),
    (lambda: _D(_X * 1.5), ValueError, r"images must hold finite values in \[-1, 1\]"),
    (lambda: _D(_X * float("nan")), ValueError, r"images must hold finite values"),
    (lambda: _step(_X), ValueError, r"images must hold finite values in \[0, 1\]"),
    (lambda: _step(_images(2) * 255), ValueError, r"images must hold finite values in \[0, 1\]"),
    (lambda: _step(_images(2)[:, 0]), ValueError, r"images must have shape \(B, 1, 28, 28\)"),
    (lambda: _step(_images(2), kind="wasserstein"), ValueError, r"kind must be one of"),
    (lambda: _step(_images(2), G=_GC, D=_DC), ValueError, r"conditional: pass labels"),
    (lambda: _step(_images(2), labels=[0, 1]), ValueError, r"unconditional"),
    (lambda: _G(_Z, [0, 1]), ValueError, r"this generator is unconditional"),
    (lambda: _G.sample(2, [0, 1]), ValueError, r"this generator is unconditional"),
    (lambda: _D(_X, [0, 1]), ValueError, r"this discriminator is unconditional"),
    (lambda: _GC(_Z), ValueError, r"this generator is conditional: pass labels"),
    (lambda: _GC.sample(2), ValueError, r"this generator is conditional: pass labels"),
    (lambda: _DC(_X), ValueError, r"this discriminator is conditional: pass labels"),
    (lambda: _GC(_Z, [0, 10]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _DC(_X, [-1, 0]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _GC(_Z, torch.tensor([0.0, 1.0])), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _DC(_X, [1.0, 2.0]), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _GC(_Z, [True, False]), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _GC(_Z, "ab"), ValueError, r"labels must be 2 ints"),
    (lambda: _GC(_Z, [0, 1, 2]), ValueError, r"labels must have shape \(2,\)"),
    (lambda: _GC.sample(3, [1, 2]), ValueError, r"labels must have shape \(3,\)"),
    (lambda: gan.d_loss([0.0], torch.zeros(1)), TypeError, r"real_logits must be a float tensor"),
    (lambda: gan.d_loss(torch.zeros(1), torch.zeros(1, dtype=torch.long)), TypeError,
     r"fake_logits must be a float tensor"),
    (lambda: gan.d_loss(torch.zeros(0), torch.zeros(1)), ValueError, r"real_logits is empty"),
    (lambda: gan.g_loss(torch.zeros(0)), ValueError, r"fake_logits is empty"),
    (lambda: gan.g_loss(torch.zeros(2), "wasserstein"), ValueError,
     r"kind must be one of \('nonsaturating', 'minimax'\), got 'wasserstein'"),
    (lambda: gan.g_loss(torch.zeros(2), "Minimax"), ValueError, r"kind must be one of"),
    (lambda: gan.slerp([0.0, 1.0], torch.zeros(2), 0.5), TypeError, r"z0 and z1 must be tensors"),
    (lambda: gan.slerp(torch.zeros(3), torch.zeros(4), 0.5), ValueError, r"must share one shape"),
    (lambda: gan.slerp(torch.tensor(1.0), torch.tensor(2.0), 0.5), ValueError, r"must share one shape"),
    (lambda: gan.noise((2, 8), "seed", _Z), TypeError, r"generator must be a torch.Generator"),
    (lambda: gan.GANConfig(z_dim=0), ValueError, r"GANConfig.z_dim must be an int >= 1, got 0"),
    (lambda: gan.GANConfig(z_dim=True), ValueError, r"GANConfig.z_dim must be an int"),
    (lambda: gan.GANConfig(z_dim=8.0), ValueError, r"GANConfig.z_dim must be an int"),
    (lambda: gan.GANConfig(g_width=0), ValueError, r"GANConfig.g_width must be an int >= 1"),
    (lambda: gan.GANConfig(d_width=-2), ValueError, r"GANConfig.d_width must be an int >= 1"),
    (lambda: gan.GANConfig(n_classes=-1), ValueError, r"GANConfig.n_classes must be an int >= 0"),
    (lambda: gan.GANConfig(n_classes=False), ValueError, r"GANConfig.n_classes must be an int"),
    (lambda: gan.GANConfig(embed_dim=0), ValueError, r"GANConfig.embed_dim must be an int >= 1"),
    (lambda: gan.GANConfig(image_size=32), ValueError, r"GANConfig.image_size must be 28"),
    (lambda: gan.GANConfig(image_size=16), ValueError, r"GANConfig.image_size must be 28"),
    (lambda: gan.Generator({"z_dim": 8}), TypeError, r"config must be a GANConfig"),
    (lambda: gan.Discriminator(None), TypeError, r"config must be a GANConfig"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_config_refuses_a_float_image_size():
    with pytest.raises(ValueError, match=r"GANConfig.image_size"):
        gan.GANConfig(image_size=28.0)


def test_recalibrate_batchnorm_refuses_no_batches():
    with pytest.raises(ValueError, match=r"batches must be a positive int"):
        gan.recalibrate_batchnorm(_pair()[0], batches=0)


def test_slerp_refuses_opposite_vectors_and_two_dimensional_times():
    z0, _ = _vectors(100)
    with pytest.raises(ValueError, match="opposite directions"):
        gan.slerp(z0, -z0, 0.5)
    with pytest.raises(ValueError, match="1-D tensor of times"):
        gan.slerp(z0, z0 + 1, torch.zeros(2, 2))


def test_sample_uses_the_running_statistics_and_keeps_the_mode():
    G = gan.Generator(TINY).train()
    for _ in range(3):                                  # running statistics away from their start
        G(torch.randn(16, 8) + 2)
    before = [b.clone() for b in G.buffers()]
    gen = lambda: torch.Generator().manual_seed(0)      # noqa: E731
    in_train_mode = G.sample(6, generator=gen())
    assert G.training                                   # the mode is restored
    for a, b in zip(before, G.buffers()):               # and the statistics are left alone
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(in_train_mode, G.eval().sample(6, generator=gen()))
    # each sample is its own: the first 2 of a batch of 6 equal a batch of 2
    torch.testing.assert_close(in_train_mode[:2], G.sample(2, generator=gen()))


def test_recalibrate_batchnorm_restores_each_layers_momentum():
    G = gan.Generator(TINY)
    G.net[1].momentum, G.net[4].momentum = 0.3, None
    gan.recalibrate_batchnorm(G, batches=1, batch_size=8)
    assert (G.net[1].momentum, G.net[4].momentum) == (0.3, None)


@pytest.mark.parametrize("n_classes", [0, 10])
def test_sample_in_chunks_draws_the_same_images(monkeypatch, n_classes):
    # Generator.sample feeds G at most SAMPLE_CHUNK images per pass (memory); the images
    # must be those of one pass, labels split along with z.
    G = gan.Generator(gan.GANConfig(n_classes=n_classes, g_width=8))
    z = torch.randn(20, G.config.z_dim, generator=torch.Generator().manual_seed(0))
    labels = (torch.arange(20) % 10) if n_classes else None
    whole = G.sample(20, labels=labels, z=z)
    monkeypatch.setattr(gan, "SAMPLE_CHUNK", 7)          # 20 = 7 + 7 + 6
    torch.testing.assert_close(G.sample(20, labels=labels, z=z), whole, rtol=0, atol=1e-6)
    if n_classes:
        with pytest.raises(ValueError, match=r"labels must have shape \(20,\)"):
            G.sample(20, labels=labels[:3], z=z)
