import itertools
import math

import pytest
import torch

from drawjourney import bench, data, metrics
from drawjourney.models import rbm


def _states(n: int) -> torch.Tensor:
    """All 2^n binary vectors of length n, (2^n, n), float64."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _tiny(n_visible=6, n_hidden=4, scale=1.0, seed=0) -> rbm.RBM:
    torch.manual_seed(seed)
    model = rbm.RBM(rbm.RBMConfig(n_visible, n_hidden)).double()
    with torch.no_grad():
        model.W.copy_(scale * torch.randn(n_visible, n_hidden, dtype=torch.float64))
        model.b.copy_(0.5 * torch.randn(n_visible, dtype=torch.float64))
        model.c.copy_(0.5 * torch.randn(n_hidden, dtype=torch.float64))
    return model


def _joint(model: rbm.RBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All v (2^nv, nv), all h (2^nh, nh), and the joint table p(v, h) (2^nv, 2^nh)."""
    V, H = _states(model.config.n_visible), _states(model.config.n_hidden)
    vv = V.repeat_interleave(len(H), dim=0)
    hh = H.repeat(len(V), 1)
    with torch.no_grad():
        log_p = -model.energy(vv, hh).view(len(V), len(H))
    return V, H, (log_p - torch.logsumexp(log_p.flatten(), 0)).exp()


def test_energy_is_the_formula():
    model = _tiny()
    v, h = _states(6)[[5, 40]], _states(4)[[3, 9]]
    expected = -torch.einsum("bi,ij,bj->b", v, model.W, h) - v @ model.b - h @ model.c
    torch.testing.assert_close(model.energy(v, h), expected.detach())


def test_p_h_given_v_matches_the_joint_table():
    model = _tiny()
    V, H, joint = _joint(model)
    p_h = joint / joint.sum(dim=1, keepdim=True)          # p(h | v), (2^6, 2^4)
    marginal_h1 = p_h @ H                                 # p(h_j = 1 | v), (2^6, 4)
    torch.testing.assert_close(model.p_h_given_v(V).detach(), marginal_h1)
    p_v = joint / joint.sum(dim=0, keepdim=True)          # p(v | h)
    torch.testing.assert_close(model.p_v_given_h(H).detach(), p_v.T @ V)


def test_free_energy_sums_out_h():
    model = _tiny()
    V, H = _states(6), _states(4)
    vv, hh = V.repeat_interleave(len(H), 0), H.repeat(len(V), 1)
    with torch.no_grad():
        by_enumeration = -torch.logsumexp(-model.energy(vv, hh).view(len(V), len(H)), dim=1)
        torch.testing.assert_close(model.free_energy(V), by_enumeration)
        torch.testing.assert_close(model.free_energy(V),
                                   metrics.rbm_free_energy(V, model.W, model.b, model.c))
        log_z = metrics.rbm_log_partition_exact(model.W, model.b, model.c)
        assert torch.logsumexp(-model.free_energy(V), 0).item() == pytest.approx(log_z)
        assert model.log_prob(V, log_z).exp().sum().item() == pytest.approx(1.0)


def _exact_gradient(model: rbm.RBM, v_data: torch.Tensor) -> dict[str, torch.Tensor]:
    """d/dtheta of the mean log-likelihood of v_data, by enumerating p(v)."""
    V = _states(model.config.n_visible)
    log_z = torch.logsumexp(-model._free_energy(V), 0)
    ll = (-model._free_energy(v_data) - log_z).mean()
    return dict(zip("Wbc", torch.autograd.grad(ll, [model.W, model.b, model.c])))


def _cd_gradient(model: rbm.RBM, v_data: torch.Tensor, k: int, chains: int) -> dict:
    """The CD-k estimate of the same gradient, -d cd_loss, averaged over `chains` chains
    per data vector (all in one batch)."""
    v0 = v_data.repeat(chains, 1)
    vk = model._gibbs(v0, k, torch.Generator().manual_seed(k))
    loss = rbm.cd_loss(model, v0, vk)
    grads = torch.autograd.grad(loss, [model.W, model.b, model.c])
    return {name: -g for name, g in zip("Wbc", grads)}


def test_cd_k_gradient_approaches_the_exact_gradient():
    model = _tiny(6, 4, scale=2.0, seed=0)   # strong weights: Gibbs chains mix slowly
    v_data = _states(6)[torch.tensor([0, 7, 21, 42, 63])]
    exact = _exact_gradient(model, v_data)
    scale = sum(exact[n].square().sum() for n in "Wbc").sqrt().item()
    errors = []
    for k in (1, 3, 10, 100):
        cd = _cd_gradient(model, v_data, k, chains=40_000)
        errors.append(sum((cd[n] - exact[n]).square().sum() for n in "Wbc").sqrt().item())
    assert errors == sorted(errors, reverse=True), errors
    assert errors[0] > 0.1 * scale, errors       # CD-1 is biased here...
    assert errors[-1] < 0.02 * scale, errors     # ...CD-100 is not, up to Monte Carlo noise


def test_long_gibbs_run_matches_the_exact_marginal():
    model = _tiny(6, 4, scale=1.0, seed=1)
    V = _states(6)
    log_z = metrics.rbm_log_partition_exact(model.W, model.b, model.c)
    with torch.no_grad():
        p_exact = model.log_prob(V, log_z).exp()
    samples = model.gibbs(torch.zeros(100_000, 6, dtype=torch.float64), k=100,
                          generator=torch.Generator().manual_seed(0))
    index = (samples.long() * (2 ** torch.arange(5, -1, -1))).sum(dim=1)   # row of V
    p_gibbs = torch.bincount(index, minlength=64).double() / len(samples)
    assert 0.5 * (p_gibbs - p_exact).abs().sum().item() < 0.03


def test_cd_training_on_mnist_raises_the_log_likelihood(data_root):
    """300 CD-1 steps of a 256 x 16 RBM on 16x16 digits, exact log Z before and after."""
    torch.manual_seed(0)
    train = data.mnist("train", size=16, binarize="static", device="cpu").subset(3000)
    test = data.mnist("test", size=16, binarize="static", device="cpu").images[:1000]
    model = rbm.RBM(rbm.RBMConfig(256, 16))
    rbm.init_visible_bias(model, train.images)

    def mean_log_prob():
        with torch.no_grad():
            log_z = metrics.rbm_log_partition_exact(model.W, model.b, model.c)
            return model.log_prob(test, log_z).mean().item()

    before = mean_log_prob()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = rbm.cd_step(model, optimizer, k=1, generator=torch.Generator().manual_seed(0))
    losses = [step(batch) for _, batch in zip(range(300), itertools.cycle(data.batches(train, 50)))]
    after = mean_log_prob()
    assert after > before + 5, (before, after)   # -67.3 -> -58.0 nats when written
    assert set(losses[0]) == {"loss", "recon"}
    assert losses[-1]["recon"] < losses[0]["recon"]


def test_pcd_step_keeps_its_chains_and_trains():
    torch.manual_seed(0)
    model = rbm.RBM(rbm.RBMConfig(20, 5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = rbm.pcd_step(model, optimizer, k=2, n_chains=7)
    assert step.chains.shape == (7, 20)
    x = (torch.rand(10, 20) < 0.3).float()
    before = model.W.detach().clone()
    out = step((x, torch.zeros(10)))
    assert step.chains.shape == (7, 20) and set(out) == {"loss", "recon"}
    assert not torch.equal(before, model.W)


@pytest.mark.parametrize("batch", [1, 5])
def test_shapes(batch):
    model = rbm.RBM(rbm.RBMConfig(784, 30))
    images = (torch.rand(batch, 1, 28, 28) < 0.5).float()
    flat = images.view(batch, 784)
    h = (torch.rand(batch, 30) < 0.5).float()
    assert model.energy(images, h).shape == (batch,)
    assert model.free_energy(images).shape == (batch,)
    torch.testing.assert_close(model.free_energy(images), model.free_energy(flat))
    assert model.p_h_given_v(images).shape == (batch, 30)
    assert model.p_v_given_h(h).shape == (batch, 784)
    assert model.gibbs(images, k=2).shape == (batch, 1, 28, 28)
    assert model.gibbs(flat, k=2).shape == (batch, 784)
    assert model.log_prob(flat, 12.0).shape == (batch,)
    samples = model.sample(batch, steps=3)
    assert samples.shape == (batch, 1, 28, 28)
    assert set(samples.unique().tolist()) <= {0.0, 1.0}


def test_same_seed_same_samples():
    model = rbm.RBM(rbm.RBMConfig(784, 30))
    a = model.sample(6, steps=5, generator=torch.Generator().manual_seed(7))
    b = model.sample(6, steps=5, generator=torch.Generator().manual_seed(7))
    c = model.sample(6, steps=5, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("call, match", [
    (lambda m: m.free_energy(torch.zeros(3, 783)), r"v must have shape \(B, 784\)"),
    (lambda m: m.free_energy(torch.zeros(3, 1, 27, 28)), r"v must have shape"),
    (lambda m: m.free_energy(torch.zeros(0, 784)), r"B >= 1"),
    (lambda m: m.free_energy(torch.full((2, 784), 0.5)), r"binary values in \{0, 1\}"),
    (lambda m: m.p_h_given_v(2 * torch.ones(2, 784)), r"binary values"),
    (lambda m: m.p_v_given_h(torch.zeros(2, 784)), r"h must have shape \(B, 30\)"),
    (lambda m: m.p_v_given_h(torch.full((2, 30), -1.0)), r"binary values"),
    (lambda m: m.energy(torch.zeros(2, 784), torch.zeros(3, 30)), r"one batch size"),
    (lambda m: m.free_energy([0, 1]), r"must be a torch.Tensor"),
    (lambda m: m.gibbs(torch.zeros(2, 784), k=0), r"k must be a positive int"),
    (lambda m: m.sample(0, steps=3), r"n must be a positive int"),
    (lambda m: m.sample(2, steps=2.5), r"steps must be a positive int"),
    (lambda m: m.log_prob(torch.zeros(2, 784), float("nan")), r"log_z must be a finite number"),
    (lambda m: rbm.RBMConfig(0, 5), r"RBMConfig.n_visible must be a positive int"),
    (lambda m: rbm.RBMConfig(784, 2.0), r"RBMConfig.n_hidden must be a positive int"),
    (lambda m: rbm.cd_step(m, "sgd"), r"optimizer must be a torch.optim.Optimizer"),
    (lambda m: rbm.pcd_step(m, torch.optim.SGD(m.parameters(), lr=0.1), n_chains=0),
     r"n_chains must be a positive int"),
])
def test_bad_input_gives_clear_errors(call, match):
    model = rbm.RBM(rbm.RBMConfig(784, 30))
    with pytest.raises((ValueError, TypeError), match=match):
        call(model)


def test_bool_and_int_inputs_are_accepted():
    model = rbm.RBM(rbm.RBMConfig(784, 30))
    v = torch.rand(3, 784) < 0.5
    torch.testing.assert_close(model.free_energy(v), model.free_energy(v.float()))
    torch.testing.assert_close(model.free_energy(v.long()), model.free_energy(v.float()))


def test_registered_with_the_bench():
    family = bench.families()["rbm"]
    assert family.model_class is rbm.RBM and family.likelihood is not None
    assert not family.conditional


def test_ais_matches_exact_log_z_for_a_small_rbm():
    model = _tiny(12, 8, scale=0.5, seed=2).float()
    exact = metrics.rbm_log_partition_exact(model.W, model.b, model.c)
    test = (torch.rand(50, 12, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    nll, lower, upper, ais = rbm.ais_test_nll(model, test, n_chains=200, n_betas=500)
    with torch.no_grad():
        exact_nll = -model.log_prob(test, exact).mean().item()
    assert math.isclose(nll, exact_nll, abs_tol=0.05)
    assert lower <= nll <= upper
