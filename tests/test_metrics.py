"""Properties of the metrics: FID-MNIST, label accuracy, bits/dim, IWAE and AIS, their
errors on bad input, and float64 kept off accelerators. CPU, real MNIST from
$DRAWJOURNEY_DATA, subsets where the property allows; the judge's own properties are in
test_judge.py, and its pass over the whole test split is shared (`judged_test_split`)."""
import dataclasses
import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from drawjourney import data, judge, metrics

CPU = torch.device("cpu")


def test_the_judge_is_still_reachable_through_metrics():
    for name in ("judge", "train_judge", "train_and_save_judge", "ASSET_PATH", "JudgeNotFoundError",
                 "RANGE_TOLERANCE", "check_images", "Judge", "JudgeConfig", "IMAGE_SIZES"):
        assert getattr(metrics, name) is getattr(judge, name), name


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


def test_feature_statistics_and_frechet_distance_reject_bad_input():
    mu, sigma = torch.zeros(3), torch.eye(3)
    cases = [
        (lambda: metrics.frechet_distance(mu.tolist(), sigma, mu, sigma), TypeError, "mu1 must be a torch.Tensor"),
        (lambda: metrics.frechet_distance(mu, sigma, torch.zeros(4), torch.eye(4)), ValueError, "shapes differ.*same dimension D"),
        (lambda: metrics.frechet_distance(mu, torch.ones(3), mu, sigma), ValueError, r"sigma1 shape \(D, D\)"),
        (lambda: metrics.frechet_distance(mu, sigma, mu + float("nan"), sigma), ValueError, "mu2 contains NaN"),
        (lambda: metrics.frechet_distance(mu, torch.triu(torch.ones(3, 3)), mu, sigma), ValueError,
         "sigma1 must be a symmetric"),
        (lambda: metrics.frechet_distance(mu, sigma, mu, -sigma), ValueError, "sigma2 must be a covariance"),
        (lambda: metrics.frechet_distance(torch.zeros(0), torch.zeros(0, 0), mu, sigma), ValueError, r"\(D,\)"),
        (lambda: metrics.feature_statistics(np.zeros((5, 3))), TypeError, "features must be a torch.Tensor"),
        (lambda: metrics.feature_statistics(torch.zeros(5)), ValueError, r"shape \(N, D\)"),
        (lambda: metrics.feature_statistics(torch.zeros(1, 3)), ValueError, "N >= 2"),
        (lambda: metrics.feature_statistics(torch.zeros(5, 3, dtype=torch.int64)), ValueError, "float"),
        (lambda: metrics.feature_statistics(torch.full((5, 3), float("inf"))), ValueError, "NaN or infinite"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


@pytest.fixture
def reference_stats(judged_test_split):
    """FID reference statistics of the test split, from the judge's shared pass over it.

    `fid_reference_stats` computes exactly these (the test below checks it on a subset),
    so FID tests may start from them instead of running the judge over 10k digits again.
    """
    for size in (16, 28):
        key = ("test", size, judge.asset_digest())
        metrics._REFERENCE_STATS[key] = metrics.feature_statistics(judged_test_split(size).features)


def test_fid_reference_stats_are_cached_under_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(metrics, "_REFERENCE_STATS", {})
    mnist = data.mnist

    def first_200(*args, **kwargs):   # the statistics of a split, at a fraction of the cost
        split = mnist(*args, **kwargs)
        return dataclasses.replace(split, images=split.images[:200], labels=split.labels[:200])

    monkeypatch.setattr(data, "mnist", first_200)
    mu, sigma = metrics.fid_reference_stats("test", 16, CPU)
    files = list((tmp_path / "drawjourney" / "fid-mnist").glob("*.pt"))
    assert len(files) == 1 and "test-16" in files[0].name
    expected_mu, expected_sigma = metrics.feature_statistics(
        metrics.judge(CPU).features(first_200("test", size=16).images))
    torch.testing.assert_close(mu, expected_mu)
    torch.testing.assert_close(sigma, expected_sigma)
    # A new process finds them on disk: it needs no data and no pass of the judge.
    metrics._REFERENCE_STATS.clear()
    monkeypatch.setattr(data, "mnist", lambda *a, **k: pytest.fail("recomputed instead of read"))
    torch.testing.assert_close(metrics.fid_reference_stats("test", 16, CPU)[1], sigma)
    # A corrupt or foreign cache file is never trusted.
    files[0].write_bytes(b"not a tensor file")
    assert metrics._cached_stats(files[0], 64) is None
    torch.save({"mu": mu[:3], "sigma": sigma}, files[0])
    assert metrics._cached_stats(files[0], 64) is None


def test_fid_orders_real_blurred_and_shuffled_digits(judged_test_split, reference_stats):
    train = data.mnist("train", size=28, device=CPU).images[:2000]
    x = judged_test_split(28).images[:2000]
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


def test_fid_on_16x16_uses_a_16x16_reference(reference_stats):
    small = data.mnist("train", size=16, device=CPU).images[:2000]
    assert metrics.fid_mnist(small) < 5.0


def test_fid_rejects_bad_inputs(judged_test_split):
    x = judged_test_split(28).images[:10]
    small = judged_test_split(16).images[:10]
    cases = [
        (dict(samples=x * 2), ValueError, r"samples must lie in \[0, 1\]"),
        (dict(samples=x[:1]), ValueError, "at least 2 samples.*10,000"),
        (dict(samples=x, reference="validation"), ValueError, "reference split must be one of"),
        (dict(samples=small, reference=x), ValueError, "reference images are 28x28 but samples are 16x16"),
        (dict(samples=x, reference=x[:1]), ValueError, "reference needs at least 2"),
        (dict(samples=x, reference=x.view(10, 784)), ValueError, r"reference must have shape"),
        (dict(samples=x, reference=[x]), TypeError, "reference must be 'test', 'train' or a tensor"),
        (dict(samples=x, device="gpu"), ValueError, "device='gpu'"),
        (dict(samples=x, disk_cache="yes"), ValueError, "disk_cache must be True or False"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            metrics.fid_mnist(**kwargs)
    with pytest.raises(ValueError, match="size must be one of"):
        metrics.fid_reference_stats("test", 28.0)


# ----------------------------------------------------------------------------- labels


def test_label_accuracy_is_the_share_of_judge_predictions_that_match(judged_test_split):
    test = judged_test_split(28)
    x, y = test.images[:2000], test.labels[:2000]
    expected = float((test.predicted[:2000] == y).float().mean())
    assert metrics.label_accuracy(x, y) == pytest.approx(expected, abs=1e-6)
    assert metrics.label_accuracy(x[:20], y[:20].tolist()) == pytest.approx(
        float((test.predicted[:20] == y[:20]).float().mean()))
    shuffled = y[torch.randperm(2000, generator=torch.Generator().manual_seed(0))]
    assert 0.05 <= metrics.label_accuracy(x, shuffled) <= 0.15


def test_label_accuracy_rejects_bad_labels(judged_test_split):
    test = judged_test_split(28)
    x, y = test.images[:20], test.labels[:20]
    cases = [
        (None, TypeError, "labels must be the digits asked for"),
        ("3", TypeError, "labels must be the digits asked for"),
        ([object()] * 20, TypeError, "labels must be 20 integers"),
        (y[:10], ValueError, r"labels must have shape \(20,\)"),
        (y.view(4, 5), ValueError, r"labels must have shape \(20,\)"),
        (y + 10, ValueError, r"labels must lie in 0..9, got values in \[10, 19\]"),
        (y - 10, ValueError, "labels must lie in 0..9"),
        (y.float(), ValueError, "labels must be integers.*float32"),
        (y > 4, ValueError, "labels must be integers.*bool"),
    ]
    for labels, error, message in cases:
        with pytest.raises(error, match=message):
            metrics.label_accuracy(x, labels)
    with pytest.raises(ValueError, match="samples must have shape"):
        metrics.label_accuracy(x.view(20, 784), y)


def test_class_histogram_sees_mode_collapse(judged_test_split):
    test = judged_test_split(28)
    x, y = test.images[:2000], test.labels[:2000]
    spread = metrics.class_histogram(x)
    assert spread.n == 2000 and int(spread.counts.sum()) == 2000
    assert spread.entropy_bits > 3.2 and spread.max_fraction < 0.15
    collapsed = metrics.class_histogram(x[y == 3])
    assert collapsed.entropy_bits < 0.2 and collapsed.max_fraction > 0.98
    assert float(collapsed.fractions.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"samples must lie in \[0, 1\]"):
        metrics.class_histogram(x * 255)
    with pytest.raises(ValueError, match="samples is empty"):
        metrics.class_histogram(x[:0])


# ----------------------------------------------------------------------------- units


def test_bits_per_dim_conversions_round_trip():
    nats = torch.tensor([80.0, 100.0, 543.21])
    for dims in (1, 256, 784):
        bpd = metrics.nats_to_bits_per_dim(nats, dims)
        torch.testing.assert_close(metrics.bits_per_dim_to_nats(bpd, dims), nats)
    assert metrics.nats_to_bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    assert metrics.nats_to_bits_per_dim(np.array([784 * math.log(4)]), 784)[0] == pytest.approx(2.0)


def test_the_two_bits_per_dim_conventions_agree_on_one_model():
    # A discrete model P(x) spread uniformly over each dequantization cell has density
    # p(y) = P(x) * 256^D, so both conventions must report the same bits/dim.
    dims = 784
    log_p_discrete = torch.tensor([-1234.5, -4000.0])
    log_p_density = log_p_discrete + dims * math.log(256)
    torch.testing.assert_close(metrics.bits_per_dim(log_p_density, dims, dequantized_8bit=True),
                               metrics.bits_per_dim(log_p_discrete, dims, dequantized_8bit=False))


def test_a_uniform_model_has_8_bits_per_dim_in_both_conventions():
    dims = 784
    assert metrics.bits_per_dim(0.0, dims, dequantized_8bit=True) == pytest.approx(8.0)
    assert metrics.bits_per_dim(-dims * math.log(256), dims, dequantized_8bit=False) == pytest.approx(8.0)


def test_bits_per_dim_rejects_ambiguous_calls():
    with pytest.raises(TypeError, match="dequantized_8bit"):
        metrics.bits_per_dim(-100.0, 784)                # the convention must be stated
    with pytest.raises(ValueError, match="dequantized_8bit must be True or False"):
        metrics.bits_per_dim(-100.0, 784, dequantized_8bit="yes")
    for dims in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="dims must be a positive int"):
            metrics.nats_to_bits_per_dim(1.0, dims)
    with pytest.raises(ValueError, match="nats contains NaN"):
        metrics.nats_to_bits_per_dim(torch.tensor([1.0, float("nan")]), 784)
    with pytest.raises(ValueError, match="log_prob_nats contains NaN"):
        metrics.bits_per_dim(float("nan"), 784, dequantized_8bit=False)
    with pytest.raises(TypeError, match="nats must be a number, numpy array or tensor"):
        metrics.nats_to_bits_per_dim("80", 784)
    with pytest.raises(TypeError, match="bits_per_dim_value must hold real numbers"):
        metrics.bits_per_dim_to_nats(torch.tensor([True]), 784)
    assert metrics.nats_to_bits_per_dim(math.inf, 784) == math.inf   # p(x) = 0 is a valid answer


# ----------------------------------------------------------------------------- IWAE


class ToyLatentModel:
    """z ~ N(0, 1), x | z ~ N(z, sigma^2), so p(x) = N(0, 1 + sigma^2); q(z | x) = N(a x, s^2)
    is deliberately not the posterior N(x / (1 + sigma^2), sigma^2 / (1 + sigma^2)).
    Computes in the dtype of x (float64 for accuracy, float32 like a model on a GPU)."""

    def __init__(self, sigma=0.5, a=0.6, s=0.8, seed=0):
        self.sigma, self.a, self.s = sigma, a, s
        self.gen = torch.Generator().manual_seed(seed)
        self.bank = None

    def use_noise_bank(self, k, batch, seed):
        """Draw all k x batch noises up front and hand them out in order."""
        self.bank = torch.randn(k, batch, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def log_importance_weights(self, x, k):
        if self.bank is not None:
            eps, self.bank = self.bank[:k].to(x.dtype), self.bank[k:]
        else:
            eps = torch.randn(k, x.shape[0], generator=self.gen, dtype=x.dtype)
        eps = eps.to(x.device)
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
    assert whole.shape == (7,) and whole.dtype == torch.float64 and whole.device == CPU
    torch.testing.assert_close(whole, chunked, rtol=0, atol=1e-10)


def test_iwae_from_float32_weights_matches_float64():
    model = ToyLatentModel()
    x = torch.linspace(-3, 3, 50, dtype=torch.float64)
    model.use_noise_bank(5000, 50, seed=2)
    exact = metrics.iwae_nll(model, x, 5000, chunk=1000)
    model.use_noise_bank(5000, 50, seed=2)
    single = metrics.iwae_nll(model, x.float(), 5000, chunk=1000)
    assert single.dtype == torch.float64
    torch.testing.assert_close(single, exact, rtol=0, atol=1e-5)


def test_iwae_rejects_bad_models_inputs_and_weights():
    x = torch.zeros(3)
    with pytest.raises(TypeError, match="log_importance_weights"):
        metrics.iwae_nll(object(), x, 5)
    wrong = types.SimpleNamespace(log_importance_weights=lambda x, k: torch.zeros(x.shape[0], k))
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        metrics.iwae_nll(wrong, x, 5)

    def returning(value):
        return types.SimpleNamespace(log_importance_weights=lambda x, k: torch.full((k, x.shape[0]), value))

    with pytest.raises(ValueError, match=r"log_importance_weights returned \+inf"):
        metrics.iwae_nll(returning(math.inf), x, 5)
    with pytest.raises(ValueError, match="log_importance_weights returned NaN"):
        metrics.iwae_nll(returning(math.nan), x, 5)
    with pytest.raises(ValueError, match="must return float log weights"):
        metrics.iwae_nll(returning(1), x, 5)
    assert metrics.iwae_nll(returning(-math.inf), x, 5).eq(math.inf).all()   # every weight 0

    model = ToyLatentModel()
    cases = [
        (dict(x=[0.0, 1.0], k=5), TypeError, "x must be a torch.Tensor"),
        (dict(x=torch.zeros(0), k=5), ValueError, "B >= 1"),
        (dict(x=torch.tensor(0.0), k=5), ValueError, "B >= 1"),
        (dict(x=x, k=0), ValueError, "k must be an int >= 1"),
        (dict(x=x, k=2.5), ValueError, "k must be an int >= 1"),
        (dict(x=x, k=4, chunk=0), ValueError, "chunk must be an int >= 1"),
        (dict(x=x, k=4, chunk="2"), ValueError, "chunk must be an int >= 1"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            metrics.iwae_nll(model, **kwargs)


# ----------------------------------------------------------------------------- RBM


def _tiny_rbm(n_visible, n_hidden, scale=1.0, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return types.SimpleNamespace(
        W=(scale * torch.randn(n_visible, n_hidden, generator=gen, dtype=torch.float64)).to(dtype),
        b=(0.5 * torch.randn(n_visible, generator=gen, dtype=torch.float64)).to(dtype),
        c=(0.5 * torch.randn(n_hidden, generator=gen, dtype=torch.float64)).to(dtype))


def _all_states(n):
    return ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()


@pytest.mark.parametrize("n_visible,n_hidden", [(4, 3), (3, 5)])
def test_exact_log_partition_matches_brute_force(n_visible, n_hidden):
    rbm = _tiny_rbm(n_visible, n_hidden)
    v, h = _all_states(n_visible), _all_states(n_hidden)
    neg_energy = (v @ rbm.W @ h.T) + (v @ rbm.b)[:, None] + (h @ rbm.c)[None, :]
    brute = float(torch.logsumexp(neg_energy.flatten(), dim=0))
    assert metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c) == pytest.approx(brute, abs=1e-10)
    assert metrics.rbm_log_partition_exact(rbm.W.float(), rbm.b.float(), rbm.c.float()) == pytest.approx(
        brute, abs=1e-5)
    log_p = -metrics.rbm_free_energy(v, rbm.W, rbm.b, rbm.c) - brute
    assert float(torch.logsumexp(log_p, dim=0)) == pytest.approx(0.0, abs=1e-10)


def test_exact_log_partition_is_the_same_in_memory_sized_chunks():
    # 784 pixels and 13 hidden units: 8,192 states, enumerated in chunks (of 4,096) so no
    # (states, 784) matrix outgrows about 32 MB; the chunks must add up to the one-pass sum.
    rbm = _tiny_rbm(784, 13, scale=0.05)
    h = _all_states(13)
    one_pass = float(torch.logsumexp(h @ rbm.c + torch.nn.functional.softplus(h @ rbm.W.T + rbm.b).sum(1), 0))
    assert metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c) == pytest.approx(one_pass, abs=1e-9)


@pytest.mark.parametrize("schedule", ["linear", "geometric"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ais_matches_exact_log_partition_on_a_tiny_rbm(schedule, dtype):
    rbm = _tiny_rbm(10, 6, scale=1.0, seed=3, dtype=dtype)
    exact = metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c)
    data_like = torch.bernoulli(torch.sigmoid(rbm.b).expand(200, 10),
                                generator=torch.Generator().manual_seed(0))
    result = metrics.ais_log_partition(rbm, n_chains=300, n_betas=500, schedule=schedule,
                                       data=data_like, seed=0)
    assert abs(result.log_z - exact) < 0.1
    assert result.log_z_lower <= result.log_z <= result.log_z_upper
    assert 1 <= result.ess <= 300 and result.log_weights.shape == (300,)
    assert result.log_weights.dtype == torch.float64


def test_ais_in_float32_accumulates_weights_to_float64_accuracy():
    # With W = 0 and b equal to the base bias, every chain's weight is exactly Z whatever
    # the chain does, so any spread or offset is rounding, summed over 10^4 steps of
    # 200 hidden units with inputs up to +-30.
    gen = torch.Generator().manual_seed(0)
    c = 60 * torch.rand(200, generator=gen) - 30
    b = torch.randn(10, generator=gen)
    rbm = types.SimpleNamespace(W=torch.zeros(10, 200), b=b, c=c)
    exact = metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c)
    result = metrics.ais_log_partition(rbm, n_chains=4, n_betas=10_000, base_visible_bias=b)
    assert exact > 1000 and (result.log_weights - exact).abs().max() < 1e-4


def test_ais_blocks_of_increments_give_the_same_weights(monkeypatch):
    rbm = _tiny_rbm(10, 6, dtype=torch.float32)
    whole = metrics.ais_log_partition(rbm, n_chains=8, n_betas=100, seed=1)
    monkeypatch.setattr(metrics, "_AIS_BUFFER_ELEMENTS", 8 * 7)   # 7 steps a block
    blocked = metrics.ais_log_partition(rbm, n_chains=8, n_betas=100, seed=1)
    torch.testing.assert_close(blocked.log_weights, whole.log_weights, rtol=0, atol=1e-9)


def test_ais_float32_and_float64_agree_on_a_larger_rbm():
    rbm64 = _tiny_rbm(30, 16, scale=0.5, seed=4)
    rbm32 = types.SimpleNamespace(W=rbm64.W.float(), b=rbm64.b.float(), c=rbm64.c.float())
    exact = metrics.rbm_log_partition_exact(rbm64.W, rbm64.b, rbm64.c)
    results = [metrics.ais_log_partition(rbm, n_chains=200, n_betas=1000, seed=0) for rbm in (rbm32, rbm64)]
    for result in results:
        assert abs(result.log_z - exact) < 0.05
    assert abs(results[0].log_z - results[1].log_z) < 0.05


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
    W, b, c = rbm.W, rbm.b, rbm.c
    ais = metrics.ais_log_partition
    cases = [
        (lambda: ais(types.SimpleNamespace(W=W, b=b)), TypeError, "has no tensor 'c'"),
        (lambda: ais(types.SimpleNamespace(W=W, b=b, c=b)), ValueError, r"rbm.c \(n_hidden,\)"),
        (lambda: ais(types.SimpleNamespace(W=W.float(), b=b, c=c.float())), TypeError,
         "rbm.W, rbm.b and rbm.c must share one dtype.*b torch.float64"),
        (lambda: ais(types.SimpleNamespace(W=W.half(), b=b.half(), c=c.half())), TypeError,
         "rbm.W must be float32 or float64"),
        (lambda: ais(types.SimpleNamespace(W=W * math.nan, b=b, c=c)), ValueError, "rbm.W contains NaN"),
        (lambda: ais(rbm, schedule="cosine"), ValueError, "schedule must be 'linear', 'geometric'"),
        (lambda: ais(rbm, schedule=np.linspace(0, 1, 5)), ValueError, "schedule must be"),
        (lambda: ais(rbm, schedule=torch.tensor([0.0, 0.7, 0.5, 1.0])), ValueError, "increasing"),
        (lambda: ais(rbm, schedule=torch.tensor([0.0, math.nan, 1.0])), ValueError, "finite"),
        (lambda: ais(rbm, n_betas=1), ValueError, "n_betas must be an int >= 2"),
        (lambda: ais(rbm, n_betas=100.0), ValueError, "n_betas must be an int >= 2"),
        (lambda: ais(rbm, n_betas=2, schedule="geometric"), ValueError, r"n_betas \(geometric schedule\)"),
        (lambda: ais(rbm, n_chains=0), ValueError, "n_chains must be an int >= 1"),
        (lambda: ais(rbm, seed=-1), ValueError, "seed must be a non-negative int"),
        (lambda: ais(rbm, data=torch.zeros(3, 5), base_visible_bias=torch.zeros(5)), ValueError, "not both"),
        (lambda: ais(rbm, data=torch.full((3, 5), math.nan)), ValueError, "data contains NaN"),
        (lambda: ais(rbm, data=torch.full((3, 5), 255.0)), ValueError, r"data must lie in \[0, 1\]"),
        (lambda: ais(rbm, data=torch.zeros(3, 6)), ValueError, r"data must have shape \(N, 5\)"),
        (lambda: ais(rbm, data=torch.zeros(0, 5)), ValueError, "N >= 1"),
        (lambda: ais(rbm, data=[[0.0] * 5]), TypeError, "data must be a torch.Tensor"),
        (lambda: ais(rbm, base_visible_bias=torch.zeros(4)), ValueError, r"base_visible_bias must be a float tensor of shape \(5,\)"),
        (lambda: ais(rbm, base_visible_bias=torch.full((5,), math.inf)), ValueError, "base_visible_bias contains NaN"),
        (lambda: metrics.rbm_free_energy(torch.zeros(3, 6), W, b, c), ValueError, r"v must have shape \(N, 5\)"),
        (lambda: metrics.rbm_free_energy(torch.full((3, 5), 2.0), W, b, c), ValueError, r"v must lie in \[0, 1\]"),
        (lambda: metrics.rbm_free_energy(torch.zeros(0, 5), W, b, c), ValueError, "N >= 1"),
        (lambda: metrics.rbm_free_energy(np.zeros((3, 5)), W, b, c), TypeError, "v must be a torch.Tensor"),
        (lambda: metrics.rbm_free_energy(torch.zeros(3, 5), W.numpy(), b, c), TypeError, "W must be a torch.Tensor"),
        (lambda: metrics.rbm_log_partition_exact(torch.zeros(40, 30), torch.zeros(40), torch.zeros(30)),
         ValueError, "ais_log_partition"),
        (lambda: metrics.rbm_log_partition_exact(W, b, c, max_states_log2=0), ValueError, "max_states_log2"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    binary_images = torch.ones(3, 1, 1, 5, dtype=torch.bool)
    assert metrics.rbm_free_energy(binary_images, W, b, c).shape == (3,)


# ----------------------------------------------------------------------------- float64 stays on the CPU


class Float64Watch(TorchDispatchMode):
    """Records every op that makes a float64 tensor where the package's rule forbids it:
    on a device other than the CPU, or from non-float64 data without naming the CPU
    (``x.double()``, ``x.sum(dtype=torch.float64)``, promotion by a float64 operand),
    which on a GPU would be float64 on the GPU."""

    def __init__(self):
        super().__init__()
        self.offences = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if any(t.dtype == torch.float64 for t in outputs):
            inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            promoted = any(t.is_floating_point() and t.dtype != torch.float64 and t.dim() > 0
                           for t in inputs)
            made = not any(t.dtype == torch.float64 for t in inputs)
            on_cpu_by_name = kwargs.get("device") == CPU
            if any(t.device.type != "cpu" for t in outputs):
                self.offences.append(f"{func} made float64 on {outputs[0].device}")
            elif not on_cpu_by_name and (made or promoted):
                self.offences.append(f"{func} made float64 without naming the CPU ({kwargs})")
        return out


def test_float64_watch_catches_what_it_should():
    x = torch.ones(3)
    for offence in (lambda: x.double(), lambda: x.sum(dtype=torch.float64),
                    lambda: x + torch.ones(3, dtype=torch.float64)):
        with Float64Watch() as watch:
            offence()
        assert watch.offences
    with Float64Watch() as watch:
        x.to("cpu", torch.float64).sum() + torch.zeros(3, dtype=torch.float64, device="cpu")
    assert not watch.offences


DEVICES = [CPU.type, pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
def test_estimators_make_float64_only_on_the_cpu(device, judged_test_split):
    images = judged_test_split(28).images[:20].to(device)
    labels = judged_test_split(28).labels[:20].to(device)
    rbm = types.SimpleNamespace(**{k: v.to(device) for k, v in vars(_tiny_rbm(10, 6, dtype=torch.float32)).items()})
    model = ToyLatentModel()
    x = torch.linspace(-2, 2, 5, device=device)
    metrics.judge(device)                                   # loading is not under test
    with Float64Watch() as watch:
        metrics.iwae_nll(model, x, 20, chunk=8)
        metrics.rbm_free_energy(images[:, :, 0, :10], rbm.W, rbm.b, rbm.c)
        metrics.rbm_log_partition_exact(rbm.W, rbm.b, rbm.c)
        metrics.ais_log_partition(rbm, n_chains=4, n_betas=20, data=images[:, 0, 0, :10], seed=0)
        metrics.ais_log_partition(rbm, n_chains=4, n_betas=20, schedule="geometric")
        metrics.fid_mnist(images, reference=images[:10], device=device)
        metrics.label_accuracy(images, labels, device=device)
        metrics.class_histogram(images, device=device).fractions
    assert not watch.offences, "\n".join(watch.offences[:10])
