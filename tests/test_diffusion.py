"""Chapter 09's diffusion: the schedule, the forward process, the reverse steps, guidance."""
import math

import pytest
import torch

from drawjourney.models.diffusion import (
    Schedule, UNet, UNetConfig, ddim_sample, ddim_steps, ddpm_loss, ddpm_sample, q_sample,
    timestep_embedding, train_recipe)


def tiny(T=20, n_classes=10, seed=0, dtype=torch.float64, size=8):
    """A small U-Net with random (not zero) output weights, so it predicts real noise."""
    torch.manual_seed(seed)
    model = UNet(UNetConfig(image_size=size, channels=8, n_res=1, n_classes=n_classes, T=T))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.to(dtype).eval()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_is_the_decreasing_product_of_the_alphas(kind):
    s = Schedule(1000, kind)
    assert s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (1000,)
    assert (s.alpha_bars[1:] < s.alpha_bars[:-1]).all()
    torch.testing.assert_close(s.alphas, 1 - s.betas)
    torch.testing.assert_close(s.alpha_bars.double(), torch.cumprod(s.alphas.double(), 0),
                               rtol=1e-5, atol=1e-7)
    assert 0 < s.alpha_bars[-1] < 1e-3 < 0.99 < s.alpha_bars[0]   # from data to noise


def test_the_linear_schedule_is_ho_et_als():
    s = Schedule(1000, "linear")
    assert math.isclose(float(s.betas[0]), 1e-4, rel_tol=1e-6)
    assert math.isclose(float(s.betas[-1]), 0.02, rel_tol=1e-6)
    torch.testing.assert_close(s.betas[1:] - s.betas[:-1],
                               torch.full((999,), (0.02 - 1e-4) / 999), rtol=1e-3, atol=1e-9)


def test_the_cosine_schedule_keeps_more_signal_halfway():
    linear, cosine = Schedule(1000, "linear"), Schedule(1000, "cosine")
    assert cosine.alpha_bars[499] > 2 * linear.alpha_bars[499]
    assert (cosine.snr() > 0).all() and (cosine.snr()[1:] < cosine.snr()[:-1]).all()


def test_q_sample_has_the_closed_form_mean_and_variance():
    """Monte Carlo over 200,000 draws of the noise: mean sqrt(abar) x0, variance 1 - abar."""
    s = Schedule(1000)
    torch.manual_seed(0)
    x0 = torch.tensor([[0.7, -0.3, 1.0]]).expand(200_000, 3)
    for t in (0, 250, 999):
        xt = q_sample(s, x0, t, torch.randn(200_000, 3))
        abar = float(s.alpha_bars[t])
        torch.testing.assert_close(xt.mean(0), math.sqrt(abar) * x0[0], atol=0.01, rtol=0)
        torch.testing.assert_close(xt.var(0), torch.full((3,), 1 - abar), atol=0.01, rtol=0)


def test_q_sample_in_one_step_matches_t_noising_steps():
    """The product of Gaussians: t small steps give the distribution of one big one."""
    s = Schedule(50)
    torch.manual_seed(1)
    x = torch.full((100_000,), 0.8)
    for t in range(30):
        x = (1 - s.betas[t]).sqrt() * x + s.betas[t].sqrt() * torch.randn_like(x)
    one = q_sample(s, torch.full((100_000, 1), 0.8), 29, torch.randn(100_000, 1))[:, 0]
    assert abs(float(x.mean() - one.mean())) < 0.01
    assert abs(float(x.std() - one.std())) < 0.01


def test_one_reverse_step_with_the_true_noise_is_the_posterior_mean():
    """With an oracle eps (the noise that made x_t), DDPM's mean is that of q(x_{t-1}|x_t, x0)."""
    s = Schedule(100)
    torch.manual_seed(2)
    x0, eps = torch.randn(5, 4), torch.randn(5, 4)
    for t in (1, 40, 99):
        xt = q_sample(s, x0, t, eps)
        a, ab, ab_prev, b = s.alphas[t], s.alpha_bars[t], s.alpha_bars[t - 1], s.betas[t]
        ddpm_mean = (xt - b / (1 - ab).sqrt() * eps) / a.sqrt()
        posterior = (ab_prev.sqrt() * b / (1 - ab)) * x0 + (a.sqrt() * (1 - ab_prev) / (1 - ab)) * xt
        torch.testing.assert_close(ddpm_mean, posterior, rtol=1e-4, atol=1e-5)


def test_ddim_with_every_step_and_eta_1_is_the_ddpm_update():
    """Same mean and variance at every step, so with the same noise the same images."""
    model = tiny()
    s = model.schedule
    kwargs = dict(labels=[3, 1, 4], guidance=0.7)
    a = ddpm_sample(model, s, 3, generator=torch.Generator().manual_seed(5), **kwargs)
    b = ddim_sample(model, s, 3, steps=s.T, eta=1.0, generator=torch.Generator().manual_seed(5),
                    **kwargs)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    c = ddim_sample(model, s, 3, steps=s.T, eta=0.0, generator=torch.Generator().manual_seed(5),
                    **kwargs)
    assert (a - c).abs().max() > 1e-3            # eta = 0 is another (deterministic) process


def test_ddim_visits_evenly_spaced_steps_ending_at_zero():
    assert ddim_steps(1000, 1000).tolist() == list(range(1000))
    v = ddim_steps(1000, 50)
    assert v[0] == 0 and v[-1] == 999 and len(set(v.tolist())) == 50
    with pytest.raises(ValueError, match="steps"):
        ddim_steps(10, 11)


def test_guidance_zero_is_the_conditional_model_and_guidance_mixes_the_two():
    model = tiny()
    s = model.schedule
    gen = lambda: torch.Generator().manual_seed(7)
    plain = ddim_sample(model, s, 4, steps=5, labels=[0, 1, 2, 3], guidance=0.0, generator=gen())
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    from drawjourney.models.diffusion import _guided_eps
    tokens = model.label_tokens([0, 1, 2, 3], 4)
    t = torch.full((4,), 9)
    cond, uncond = model(x, t, [0, 1, 2, 3]), model(x, t)
    torch.testing.assert_close(_guided_eps(model, x, 9, tokens, 0.0), cond)
    torch.testing.assert_close(_guided_eps(model, x, 9, tokens, 2.0), 3 * cond - 2 * uncond)
    assert (plain - ddim_sample(model, s, 4, steps=5, labels=[0, 1, 2, 3], guidance=2.0,
                                generator=gen())).abs().max() > 1e-4


@pytest.mark.parametrize("batch", [1, 5])
def test_the_unet_keeps_the_input_shape(batch):
    model = UNet(UNetConfig(image_size=28, channels=8, n_res=1, T=10)).eval()
    x = torch.randn(batch, 1, 28, 28)
    assert model(x, torch.randint(0, 10, (batch,))).shape == x.shape
    assert model(x, 3, labels=torch.zeros(batch, dtype=torch.long)).shape == x.shape


def test_the_label_and_the_step_change_the_prediction():
    model = tiny()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    a = model(x, 5, [1, 1])
    assert (a - model(x, 5, [2, 2])).abs().max() > 1e-6
    assert (a - model(x, 6, [1, 1])).abs().max() > 1e-6
    assert (a - model(x, 5)).abs().max() > 1e-6          # the no-label token is its own


def test_timestep_embedding_tells_steps_apart():
    e = timestep_embedding(torch.arange(1000), 32)
    assert e.shape == (1000, 32) and torch.isfinite(e).all()
    d = torch.cdist(e, e) + torch.eye(1000)
    assert d.min() > 1e-3


def test_sampling_is_seeded_and_returns_images():
    model = tiny()
    s = model.schedule
    a = ddpm_sample(model, s, 3, labels=[1, 2, 3], generator=torch.Generator().manual_seed(1))
    b = ddpm_sample(model, s, 3, labels=[1, 2, 3], generator=torch.Generator().manual_seed(1))
    c = ddpm_sample(model, s, 3, labels=[1, 2, 3], generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    images, traj = ddpm_sample(model, s, 2, generator=torch.Generator().manual_seed(1),
                               return_trajectory=True)
    assert traj["x_t"].shape == traj["x0_hat"].shape == (s.T, 2, 1, 8, 8)
    assert traj["t"].tolist() == list(range(s.T - 1, -1, -1))
    first = ddpm_sample(model, s, 2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(images, first)


def test_dropping_the_noise_term_changes_the_samples_not_the_start():
    model = tiny()
    s = model.schedule
    _, with_noise = ddpm_sample(model, s, 4, generator=torch.Generator().manual_seed(3),
                                return_trajectory=True)
    _, without = ddpm_sample(model, s, 4, generator=torch.Generator().manual_seed(3),
                             return_trajectory=True, noise=False)
    torch.testing.assert_close(with_noise["x_t"][0], without["x_t"][0])     # the same x_T
    assert (with_noise["x_t"][-1] - without["x_t"][-1]).abs().max() > 1e-3


def test_ddpm_loss_is_the_noise_mse_at_the_drawn_steps():
    """The package's loss equals the formula written out with the same draws."""
    model = tiny()
    s = model.schedule
    x0 = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    loss = ddpm_loss(model, s, x0, labels, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    t = torch.randint(0, s.T, (6,), generator=g)
    eps = torch.randn(x0.shape, generator=g).double()
    xt = s.alpha_bars[t].sqrt().view(-1, 1, 1, 1) * (2 * x0 - 1) \
        + (1 - s.alpha_bars[t]).sqrt().view(-1, 1, 1, 1) * eps
    torch.testing.assert_close(loss, ((model(xt, t, labels) - eps) ** 2).mean())


def test_p_uncond_one_trains_only_the_no_label_prediction():
    model = tiny()
    s = model.schedule
    x0 = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    dropped = ddpm_loss(model, s, x0, torch.arange(6), p_uncond=1.0,
                        generator=torch.Generator().manual_seed(4))
    unlabelled = ddpm_loss(model, s, x0, None, generator=torch.Generator().manual_seed(4))
    # the drop draws come after t and eps, so both losses see the same x_t
    torch.testing.assert_close(dropped, unlabelled)


def test_a_few_hundred_steps_on_a_toy_move_samples_toward_the_data():
    """Two-point data (4x4 images all 0.25 or all 0.75): training lowers the loss, and
    samples end near one of the two points; the untrained network's do not."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=4, channels=8, n_res=1, n_classes=0, T=50))
    s = model.schedule
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = (0.25 + 0.5 * (torch.rand(256, 1, 1, 1) < 0.5).float()).expand(256, 1, 4, 4)
    losses = []
    gen = torch.Generator().manual_seed(0)
    for step in range(300):
        loss = ddpm_loss(model, s, data[torch.randint(0, 256, (64,), generator=gen)],
                         generator=gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
    model.eval()
    before = ddpm_sample(UNet(model.config).eval(), s, 200,
                         generator=torch.Generator().manual_seed(1))
    after = ddpm_sample(model, s, 200, generator=torch.Generator().manual_seed(1))
    distance = lambda x: torch.minimum((x - 0.25).abs(), (x - 0.75).abs()).mean()
    assert distance(after) < 0.5 * distance(before)


def test_a_short_recipe_run_trains_and_returns_the_average(data_root):
    model, history = train_recipe(epochs=1, minutes=0.05, progress=False,
                                  config=UNetConfig(channels=8, n_res=1, T=100))
    assert not model.training and history.steps >= 1
    assert isinstance(model.schedule, Schedule) and model.schedule.T == 100
    images = ddim_sample(model, model.schedule, 2, steps=3, labels=[1, 2], guidance=1.0)
    assert images.shape == (2, 1, 28, 28)


def test_bad_input_gives_clear_errors():
    model = tiny(T=10)
    s = model.schedule
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model(x, 10)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        q_sample(s, x, -1, x)
    with pytest.raises(ValueError, match="integer"):
        model(x, 1.5)
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 3, 8, 8), 1)
    with pytest.raises(ValueError, match="labels must lie"):
        model(x, 1, [0, 10])
    with pytest.raises(ValueError, match="labels must have shape"):
        model(x, 1, [0])
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((1, 1, 8, 8), float("nan")), 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ddpm_loss(model, s, torch.full((2, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="p_uncond"):
        ddpm_loss(model, s, torch.rand(2, 1, 8, 8), p_uncond=1.5)
    with pytest.raises(ValueError, match="guidance needs labels"):
        ddim_sample(model, s, 2, steps=2, guidance=1.0)
    with pytest.raises(ValueError, match="guidance"):
        ddim_sample(model, s, 2, steps=2, labels=[1, 2], guidance=-1.0)
    with pytest.raises(ValueError, match="eta"):
        ddim_sample(model, s, 2, steps=2, eta=-0.5)
    with pytest.raises(ValueError, match="n must"):
        ddpm_sample(model, s, 0)
    with pytest.raises(TypeError, match="Schedule"):
        ddpm_sample(model, "linear", 2)
    with pytest.raises(ValueError, match="kind"):
        Schedule(10, "quadratic")
    with pytest.raises(ValueError, match="divisible by 4"):
        UNetConfig(image_size=30)
    with pytest.raises(ValueError, match="unconditional"):
        tiny(n_classes=0)(x, 1, [1, 2])


def test_the_bench_family_samples_guided_images_and_spot_checks_the_test_loss(data_root):
    from drawjourney import bench, data
    from drawjourney.models import diffusion

    family = bench.families()["diffusion"]
    assert family.model_class is UNet and family.conditional and family.likelihood is None
    model = UNet(UNetConfig(channels=8, n_res=1, T=50)).eval()
    images = family.sample(model, 4, torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 1, 28, 28) and 0 <= images.min() <= images.max() <= 1
    test = data.mnist("test")
    a = diffusion.test_eps_mse(model, test.images[:50], test.labels[:50])
    b = diffusion.test_eps_mse(model, test.images[:50], test.labels[:50])
    assert torch.equal(a, b) and a.shape == (50,)
    # an untrained network predicts zero noise: the error is the noise's variance, about 1
    assert abs(float(a.mean()) - 1.0) < 0.1
    key, value, se = family.spot_check(model, {})
    assert key == "test_eps_mse" and se > 0 and abs(value - 1.0) < 4 * se + 0.05


def test_the_bench_compares_ddpm_with_ddim_on_the_same_labels(data_root):
    from drawjourney import bench
    from drawjourney.models import diffusion

    family = bench.families()["diffusion"]
    model = UNet(UNetConfig(channels=8, n_res=1, T=60)).eval()
    out = family.sampler_metrics(model, 12)
    assert out["sampler_comparison_samples"] == 12
    for name in ("ddpm60", "ddim50"):
        assert out[f"{name}_w0_seconds_per_image"] > 0
        assert math.isfinite(out[f"{name}_w0_fid_mnist"]) and out[f"{name}_w0_fid_mnist"] > 0
        assert 0 <= out[f"{name}_w0_label_accuracy"] <= 1
    assert out["guidance_w"] == diffusion.BENCH_GUIDANCE and out["ddim_steps"] == 50
    assert set(out) == {"guidance_w", "ddim_steps", "sampler_comparison_samples", "ddpm60_w0_seconds_per_image",
                        "ddpm60_w0_fid_mnist", "ddpm60_w0_label_accuracy",
                        "ddim50_w0_seconds_per_image", "ddim50_w0_fid_mnist",
                        "ddim50_w0_label_accuracy"}


def test_sampling_in_cpu_chunks_gives_the_same_images(monkeypatch):
    from drawjourney.models import diffusion

    model = tiny(T=5)
    whole = ddim_sample(model, model.schedule, 7, 5, labels=list(range(7)), guidance=1.5,
                        generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(diffusion, "CPU_CHUNK", 3)
    chunked = ddim_sample(model, model.schedule, 7, 5, labels=list(range(7)), guidance=1.5,
                          generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(chunked, whole)
