"""Properties of the metrics: the shipped judge, FID-MNIST, label accuracy, bits/dim,
IWAE and AIS. CPU, real MNIST from $DRAWJOURNEY_DATA, subsets where the property allows."""
import math
import types

import pytest
import torch
import torch.nn.functional as F

from drawjourney import checkpoint, data, metrics

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def test_set():
    return data.mnist("test", size=28, device=CPU)


@pytest.fixture(scope="module")
def judge():
    return metrics.judge(CPU)


# ----------------------------------------------------------------------------- the judge


def test_shipped_judge_is_small_and_records_its_accuracy():
    assert metrics.ASSET_PATH.is_file()
    assert metrics.ASSET_PATH.stat().st_size < 2_000_000
    info = checkpoint.info(metrics.ASSET_PATH)
    assert info["metrics"]["test_accuracy"] >= 0.99


def test_judge_accuracy_on_the_whole_test_split(judge, test_set):
    accuracy = (judge.predict(test_set.images) == test_set.labels).float().mean()
    assert accuracy >= 0.99
    assert not judge.training
    assert not any(p.requires_grad for p in judge.parameters())


def test_judge_reads_16x16_and_binarized_digits(judge):
    small = data.mnist("test", size=16, device=CPU)
    assert (judge.predict(small.images) == small.labels).float().mean() >= 0.985
    binary = data.mnist("test", size=28, binarize="static", device=CPU)
    assert (judge.predict(binary.images) == binary.labels).float().mean() >= 0.985


def test_judge_outputs_do_not_depend_on_batching(judge, test_set):
    x = test_set.images[:50]
    f_one = judge.features(x, batch_size=1000)
    f_many = judge.features(x, batch_size=7)
    assert f_one.shape == (50, judge.config.feature_dim)
    torch.testing.assert_close(f_one, f_many, rtol=1e-4, atol=1e-5)
    assert judge.logits(x[:3]).shape == (3, 10)
    assert judge.predict(x[:3]).dtype == torch.int64


def test_judge_rejects_bad_images(judge, test_set):
    x = test_set.images[:4]
    judge.predict(x * (1 + 0.5 * metrics.RANGE_TOLERANCE))   # tiny overshoot is clipped
    judge.predict(x > 0.5)                                    # bool images are binary images
    bad = {
        "above one": x + 0.5,
        "below zero": x - 0.5,
        "flat": x.view(4, 784),
        "three channels": x.expand(4, 3, 28, 28),
        "other size": x[:, :, :20, :20],
        "uint8": (x * 255).to(torch.uint8),
        "nan": x.masked_fill(x > 0.5, float("nan")),
        "empty": x[:0],
    }
    for name, value in bad.items():
        with pytest.raises(ValueError):
            judge.predict(value)
    with pytest.raises(ValueError):
        judge.predict(x.numpy())


def test_missing_judge_asset_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(metrics, "ASSET_PATH", tmp_path / "judge.pt")
    metrics._load_judge.cache_clear()
    try:
        with pytest.raises(metrics.JudgeNotFoundError, match="python -m drawjourney train judge"):
            metrics.judge(CPU)
    finally:
        metrics._load_judge.cache_clear()


# ----------------------------------------------------------------------------- FID


def _blur(x):
    kernel = torch.ones(1, 1, 5, 5) / 25
    return F.conv2d(x, kernel, padding=2)


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([2.0, 1.0, 0.5])
    expected = (mu1 - mu2).square().sum() + (s1 - s2).square().sum()
    value = metrics.frechet_distance(mu1, torch.diag(s1**2), mu2, torch.diag(s2**2))
    assert value == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_is_symmetric_and_zero_on_itself():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 6, generator=gen), torch.randn(6, 6, generator=gen)
    s1, s2 = a @ a.T + 0.1 * torch.eye(6), b @ b.T
    mu1, mu2 = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        metrics.frechet_distance(mu2, s2, mu1, s1), rel=1e-8)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) < 1e-6


def test_fid_orders_real_blurred_and_shuffled_digits(test_set):
    train = data.mnist("train", size=28, device=CPU).images[:2000]
    x = test_set.images[:2000]
    same = metrics.fid_mnist(x, reference=x)
    real = metrics.fid_mnist(train)
    blurred = metrics.fid_mnist(_blur(train))
    order = torch.randperm(784, generator=torch.Generator().manual_seed(0))
    shuffled = metrics.fid_mnist(train.view(-1, 784)[:, order].view(-1, 1, 28, 28))
    assert same < 1e-3 * real
    assert real < 5.0
    assert blurred > 10 * real
    assert shuffled > 10 * real
    assert metrics.fid_mnist(train.to(torch.float64)) == pytest.approx(real, rel=1e-4)


def test_fid_on_16x16_uses_a_16x16_reference():
    small = data.mnist("train", size=16, device=CPU).images[:2000]
    assert metrics.fid_mnist(small) < 5.0


def test_fid_rejects_bad_inputs(test_set):
    with pytest.raises(ValueError):
        metrics.fid_mnist(test_set.images[:10] * 2)
    with pytest.raises(ValueError):
        metrics.fid_mnist(test_set.images[:1])          # no covariance from one sample
    with pytest.raises(ValueError):
        metrics.fid_mnist(test_set.images[:10], reference="validation")


# ----------------------------------------------------------------------------- labels


def test_label_accuracy_with_true_and_shuffled_labels(test_set):
    assert metrics.label_accuracy(test_set.images, test_set.labels) >= 0.99
    x, y = test_set.images[:2000], test_set.labels[:2000]
    shuffled = y[torch.randperm(2000, generator=torch.Generator().manual_seed(0))]
    assert 0.05 <= metrics.label_accuracy(x, shuffled) <= 0.15
    with pytest.raises(ValueError):
        metrics.label_accuracy(x, y[:10])
    with pytest.raises(ValueError):
        metrics.label_accuracy(x, y + 10)
    with pytest.raises(ValueError):
        metrics.label_accuracy(x, y.float())


def test_class_histogram_sees_mode_collapse(test_set):
    x, y = test_set.images[:2000], test_set.labels[:2000]
    spread = metrics.class_histogram(x)
    assert spread.n == 2000 and int(spread.counts.sum()) == 2000
    assert spread.entropy_bits > 3.2 and spread.max_fraction < 0.15
    collapsed = metrics.class_histogram(x[y == 3])
    assert collapsed.entropy_bits < 0.2 and collapsed.max_fraction > 0.98
    assert float(collapsed.fractions.sum()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- units


def test_bits_per_dim_conversions_round_trip():
    nats = torch.tensor([80.0, 100.0, 543.21])
    for dims in (1, 256, 784):
        bpd = metrics.nats_to_bits_per_dim(nats, dims)
        torch.testing.assert_close(metrics.bits_per_dim_to_nats(bpd, dims), nats)
    assert metrics.nats_to_bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    log_p = torch.tensor([-1234.5, 310.0])
    direct = metrics.bits_per_dim(log_p, 784, dequantized_8bit=True)
    torch.testing.assert_close(direct, metrics.nats_to_bits_per_dim(-log_p + 784 * math.log(256), 784))
    torch.testing.assert_close(metrics.bits_per_dim(log_p, 784, dequantized_8bit=False),
                               metrics.nats_to_bits_per_dim(-log_p, 784))


def test_a_uniform_model_has_8_bits_per_dim_in_both_conventions():
    dims = 784
    assert metrics.bits_per_dim(0.0, dims, dequantized_8bit=True) == pytest.approx(8.0)
    assert metrics.bits_per_dim(-dims * math.log(256), dims, dequantized_8bit=False) == pytest.approx(8.0)


def test_bits_per_dim_rejects_ambiguous_calls():
    with pytest.raises(TypeError):
        metrics.bits_per_dim(-100.0, 784)                # the convention must be stated
    with pytest.raises(ValueError):
        metrics.bits_per_dim(-100.0, 784, dequantized_8bit="yes")
    for dims in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            metrics.nats_to_bits_per_dim(1.0, dims)


# ----------------------------------------------------------------------------- IWAE


class ToyLatentModel:
    """z ~ N(0, 1), x | z ~ N(z, sigma^2), so p(x) = N(0, 1 + sigma^2); q(z | x) = N(a x, s^2)
    is deliberately not the posterior N(x / (1 + sigma^2), sigma^2 / (1 + sigma^2))."""

    def __init__(self, sigma=0.5, a=0.6, s=0.8, seed=0):
        self.sigma, self.a, self.s = sigma, a, s
        self.gen = torch.Generator().manual_seed(seed)
        self.bank = None

    def use_noise_bank(self, k, batch, seed):
        """Draw all k x batch noises up front and hand them out in order."""
        self.bank = torch.randn(k, batch, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def log_importance_weights(self, x, k):
        if self.bank is not None:
            eps, self.bank = self.bank[:k], self.bank[k:]
        else:
            eps = torch.randn(k, x.shape[0], generator=self.gen, dtype=torch.float64)
        z = self.a * x + self.s * eps
        log_pz = -0.5 * (math.log(2 * math.pi) + z**2)
        log_px_z = -0.5 * (math.log(2 * math.pi * self.sigma**2) + (x - z) ** 2 / self.sigma**2)
        log_qz = -0.5 * (math.log(2 * math.pi * self.s**2) + eps**2)
        return log_px_z + log_pz - log_qz

    def true_nll(self, x):
        var = 1 + self.sigma**2
        return 0.5 * (math.log(2 * math.pi * var) + x**2 / var)

    def negative_elbo(self, x):
        m, s2, v = self.a * x, self.s**2, self.sigma**2
        e_log_px_z = -0.5 * math.log(2 * math.pi * v) - ((x - m) ** 2 + s2) / (2 * v)
        e_log_pz = -0.5 * math.log(2 * math.pi) - (m**2 + s2) / 2
        entropy = 0.5 * math.log(2 * math.pi * math.e * s2)
        return -(e_log_px_z + e_log_pz + entropy)


def test_iwae_k1_is_the_elbo_and_tightens_towards_the_true_nll():
    model = ToyLatentModel()
    x0 = torch.tensor([-2.0, -0.5, 0.0, 1.0, 2.5], dtype=torch.float64)
    reps = 4000
    x = x0.repeat(reps)                                   # (reps * 5,): average over repeats
    def mean_estimate(k, chunk=None):
        return metrics.iwae_nll(model, x, k, chunk=chunk).view(reps, 5).mean(0)

    k1 = mean_estimate(1)
    standard_error = metrics.iwae_nll(model, x, 1).view(reps, 5).std(0) / math.sqrt(reps)
    assert (k1 - model.negative_elbo(x0)).abs().max() < 4 * standard_error.max()
    k10, k100, k1000 = mean_estimate(10), mean_estimate(100), mean_estimate(1000, chunk=250)
    truth = model.true_nll(x0)
    assert (k1 > k10).all() and (k10 > k100).all() and (k100 > k1000 - 1e-3).all()
    assert (k1000 - truth).abs().max() < 0.01
    assert (k1 - truth).min() > 0.05                       # q is imperfect: the ELBO is loose


def test_iwae_chunking_does_not_change_the_estimate():
    model = ToyLatentModel()
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)
    model.use_noise_bank(300, 7, seed=1)
    whole = metrics.iwae_nll(model, x, 300)
    model.use_noise_bank(300, 7, seed=1)
    chunked = metrics.iwae_nll(model, x, 300, chunk=64)
    assert whole.shape == (7,) and whole.dtype == torch.float64
    torch.testing.assert_close(whole, chunked, rtol=0, atol=1e-10)


def test_iwae_rejects_models_without_weights_or_with_wrong_shapes():
    with pytest.raises(TypeError, match="log_importance_weights"):
        metrics.iwae_nll(object(), torch.zeros(3), 5)
    wrong = types.SimpleNamespace(log_importance_weights=lambda x, k: torch.zeros(x.shape[0], k))
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        metrics.iwae_nll(wrong, torch.zeros(3), 5)
    with pytest.raises(ValueError):
        metrics.iwae_nll(ToyLatentModel(), torch.zeros(3), 0)
    with pytest.raises(ValueError):
        metrics.iwae_nll(ToyLatentModel(), torch.zeros(3), 4, chunk=0)


# ----------------------------------------------------------------------------- RBM


def _tiny_rbm(n_visible, n_hidden, scale=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return types.SimpleNamespace(
        W=scale * torch.randn(n_visible, n_hidden, generator=gen, dtype=torch.float64),
        b=0.5 * torch.randn(n_visible, generator=gen, dtype=torch.float64),
        c=0.5 * torch.randn(n_hidden, generator=gen, dtype=torch.float64))


def _all_states(n):
    return ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()


@pytest.mark.parametrize("n_visible,n_hidden", [(4, 3), (3, 5)])
def test_exact_log_partition_matches_brute_force(n_visible, n_hidden):
    rbm = _tiny_rbm(n_visible, n_hidden)
    v, h = _all_states(n_visible), _all_states(n_hidden)
    neg_energy = (v @ rbm.W @ h.T) + (v @ rbm.b)[:, None] + (h @ rbm.c)[None, :]
    brute = float(torch.logsumexp(neg_energy.flatten(), dim=0))
    assert metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c) == pytest.approx(brute, abs=1e-10)
    log_p = -metrics.rbm_free_energy(v, rbm.W, rbm.b, rbm.c) - brute
    assert float(torch.logsumexp(log_p, dim=0)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("schedule", ["linear", "geometric"])
def test_ais_matches_exact_log_partition_on_a_tiny_rbm(schedule):
    rbm = _tiny_rbm(10, 6, scale=1.0, seed=3)
    exact = metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c)
    data_like = torch.bernoulli(torch.sigmoid(rbm.b).expand(200, 10),
                                generator=torch.Generator().manual_seed(0))
    result = metrics.ais_log_partition(rbm, n_chains=300, n_betas=500, schedule=schedule,
                                       data=data_like, seed=0)
    assert abs(result.log_z - exact) < 0.1
    assert result.log_z_lower <= result.log_z <= result.log_z_upper
    assert 1 <= result.ess <= 300 and result.log_weights.shape == (300,)


def test_ais_is_deterministic_for_a_seed():
    rbm = _tiny_rbm(10, 6)
    first, second, other = (metrics.ais_log_partition(rbm, n_chains=20, n_betas=50, seed=s)
                            for s in (7, 7, 8))
    assert first.log_z == second.log_z != other.log_z


def test_ais_with_no_annealing_steps_is_exact_for_the_base_model():
    rbm = _tiny_rbm(10, 6)
    base = types.SimpleNamespace(W=torch.zeros(10, 6, dtype=torch.float64), b=rbm.b, c=torch.zeros(6, dtype=torch.float64))
    result = metrics.ais_log_partition(base, n_chains=10, n_betas=2, base_visible_bias=rbm.b)
    exact = metrics.rbm_log_partition_exact(base.W, base.b, base.c)
    assert result.log_z == pytest.approx(exact, abs=1e-9) and result.log_w_std < 1e-9


def test_rbm_helpers_reject_bad_inputs():
    rbm = _tiny_rbm(5, 4)
    with pytest.raises(TypeError):
        metrics.ais_log_partition(types.SimpleNamespace(W=rbm.W, b=rbm.b))
    with pytest.raises(ValueError):
        metrics.ais_log_partition(types.SimpleNamespace(W=rbm.W, b=rbm.b, c=rbm.b))
    with pytest.raises(ValueError):
        metrics.ais_log_partition(rbm, schedule="cosine")
    with pytest.raises(ValueError):
        metrics.ais_log_partition(rbm, schedule=torch.tensor([0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(ValueError):
        metrics.ais_log_partition(rbm, data=torch.zeros(3, 5), base_visible_bias=torch.zeros(5))
    with pytest.raises(ValueError):
        metrics.rbm_free_energy(torch.zeros(3, 6), rbm.W, rbm.b, rbm.c)
    with pytest.raises(ValueError, match="ais_log_partition"):
        metrics.rbm_log_partition_exact(torch.zeros(40, 30), torch.zeros(40), torch.zeros(30))
