import math

import pytest
import torch
import torch.nn.functional as F

from drawjourney import bench, data, train
from drawjourney.models import draw, vae


def _bank(g_x, g_y, sigma2, delta_tilde, N, A, B):
    """filterbank for one image from plain numbers (sigma^2 and delta~, not their logs),
    float64; returns F_x (N, A), F_y (N, B)."""
    t = lambda v: torch.tensor([float(v)], dtype=torch.float64)  # noqa: E731
    F_x, F_y = draw.filterbank(t(g_x), t(g_y), t(math.log(sigma2)), t(math.log(delta_tilde)),
                               N, A, B)
    return F_x[0], F_y[0]


def _positions(bank: torch.Tensor) -> torch.Tensor:
    """Mean pixel position sum_a a F[i, a] of each filter, pixels counted from 1: (N,)."""
    return bank @ torch.arange(1, bank.shape[1] + 1, dtype=bank.dtype)


def _model(T=3, attention=True, n_classes=0, read_n=2, write_n=3, enc_size=16, dec_size=12,
           z_dim=4, seed=0):
    """A small DRAW; enc_size != dec_size, so feeding one state where the other belongs fails."""
    torch.manual_seed(seed)
    return draw.DRAW(draw.DRAWConfig(T=T, read_n=read_n, write_n=write_n, enc_size=enc_size,
                                     dec_size=dec_size, z_dim=z_dim, attention=attention,
                                     n_classes=n_classes))


def _binary(batch: int, seed: int = 0) -> torch.Tensor:
    """Random binary images (batch, 1, 28, 28), about 30% ink."""
    return (torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


def _spread_encoder(model: draw.DRAW) -> draw.DRAW:
    """Give every q(z_t | ...) a nonzero mean and a small variance, so the KL matters."""
    D = model.config.z_dim
    with torch.no_grad():
        model.to_q.bias[:D] = 0.5
        model.to_q.bias[D:] = -2.0
    return model


def _fit(model: draw.DRAW, x: torch.Tensor, steps: int, lr: float) -> draw.DRAW:
    """`model` after `steps` Adam steps on the -ELBO of the fixed batch `x`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model.loss(x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.fixture(scope="module")
def digits(data_root) -> torch.Tensor:
    """16 statically binarized real test digits, (16, 1, 28, 28)."""
    return data.mnist("test", binarize="static", device="cpu").images[:16]


# -- the filterbank (eqs. 19-29) ----------------------------------------------------------------

def test_filterbank_shapes_follow_width_and_height_and_rows_sum_to_one():
    batch, N, A, B = 3, 5, 28, 20                   # A (width) != B (height): a swap shows
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(batch, generator=g, dtype=torch.float64) for _ in range(4)]
    F_x, F_y = draw.filterbank(*params, N, A, B)
    assert F_x.shape == (batch, N, A) and F_y.shape == (batch, N, B)
    torch.testing.assert_close(F_x.sum(-1), torch.ones(batch, N, dtype=torch.float64))
    torch.testing.assert_close(F_y.sum(-1), torch.ones(batch, N, dtype=torch.float64))
    # centres far off the image and tiny or huge sigmas: still normalized, no 0/0
    far = torch.tensor([-6.0, 5.0, 40.0], dtype=torch.float64)
    for log_sigma2 in (-9.0, 0.0, 6.0):
        F_x, F_y = draw.filterbank(far, -far, torch.full((3,), log_sigma2, dtype=torch.float64),
                                   torch.tensor([0.0, 3.0, -3.0], dtype=torch.float64), N, A, B)
        assert torch.isfinite(F_x).all() and torch.isfinite(F_y).all()
        torch.testing.assert_close(F_x.sum(-1), torch.ones(3, N, dtype=torch.float64))
        torch.testing.assert_close(F_y.sum(-1), torch.ones(3, N, dtype=torch.float64))


def test_filter_centres_are_where_the_paper_puts_them():
    # g~ = 0, delta~ = 1, N = 28 on a 28-wide, 20-high image: delta = 27/27 = 1,
    # g_X = 29/2 = 14.5, mu_X^i = 14.5 + (i - 14.5) = i; g_Y = 21/2 = 10.5, mu_Y^j = j - 4
    F_x, F_y = _bank(0.0, 0.0, 0.01, 1.0, N=28, A=28, B=20)
    torch.testing.assert_close(_positions(F_x), torch.arange(1.0, 29.0, dtype=torch.float64))
    assert F_x.argmax(1).tolist() == list(range(28))                    # 0-based pixel i - 1
    # rows j = 5..24 sit on the image (pixel j - 4); the rest pile onto the nearest edge pixel
    assert F_y.argmax(1).tolist() == [0] * 4 + list(range(20)) + [19] * 4
    torch.testing.assert_close(_positions(F_y)[4:24], torch.arange(1.0, 21.0, dtype=torch.float64))
    # g~_X = 0.25, g~_Y = 0, delta~ = 0.4, N = 5: g_X = 14.5 * 1.25 = 18.125, g_Y = 10.5,
    # delta = 27/4 * 0.4 = 2.7, offsets i - 3 = -2..2; sigma = 1 keeps the discrete mean exact
    F_x, F_y = _bank(0.25, 0.0, 1.0, 0.4, N=5, A=28, B=20)
    torch.testing.assert_close(_positions(F_x), torch.tensor(
        [12.725, 15.425, 18.125, 20.825, 23.525], dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(_positions(F_y), torch.tensor(
        [5.1, 7.8, 10.5, 13.2, 15.9], dtype=torch.float64), atol=1e-3, rtol=0)


def test_full_grid_read_returns_the_image_and_write_puts_it_back():
    x = torch.rand(2, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    F_x, F_y = _bank(0.0, 0.0, 0.01, 1.0, N=28, A=28, B=28)             # one filter per pixel
    F_x, F_y = F_x.expand(2, 28, 28), F_y.expand(2, 28, 28)
    one = torch.ones(2, dtype=torch.float64)
    glimpse = draw.read_glimpse(x, F_x, F_y, one)
    torch.testing.assert_close(glimpse, x)
    torch.testing.assert_close(draw.write_patch(glimpse, F_x, F_y, one), x)
    blank = torch.zeros_like(x)
    assert draw.write_patch(draw.read_glimpse(blank, F_x, F_y, one), F_x, F_y, one).abs().max() == 0
    # gamma scales a read by gamma and a write by 1 / gamma
    torch.testing.assert_close(draw.read_glimpse(x, F_x, F_y, 3 * one), 3 * x)
    torch.testing.assert_close(draw.write_patch(x, F_x, F_y, 4 * one), x / 4)


def test_read_and_write_keep_rows_as_height_and_columns_as_width():
    # A = 28, B = 20, N = 4, delta~ = 1/3: delta = 27/3 / 3 = 3, offsets -1.5, -0.5, 0.5, 1.5;
    # mu_X = 14.5 + 3 * offsets = 10, 13, 16, 19 and mu_Y = 10.5 + 3 * offsets = 6, 9, 12, 15
    F_x, F_y = _bank(0.0, 0.0, 0.01, 1 / 3, N=4, A=28, B=20)
    x = torch.rand(1, 20, 28, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rows, cols = torch.tensor([6, 9, 12, 15]) - 1, torch.tensor([10, 13, 16, 19]) - 1
    gamma = torch.tensor([2.0], dtype=torch.float64)
    glimpse = draw.read_glimpse(x, F_x[None], F_y[None], gamma)
    assert glimpse.shape == (1, 4, 4)
    torch.testing.assert_close(glimpse[0], 2 * x[0][rows][:, cols])
    w = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    canvas = draw.write_patch(w, F_x[None], F_y[None], gamma)
    assert canvas.shape == (1, 20, 28)
    expected = torch.zeros(20, 28, dtype=torch.float64)
    expected[rows[:, None], cols[None, :]] = w[0] / 2
    torch.testing.assert_close(canvas[0], expected)
    # a constant image reads as gamma times that constant everywhere (rows sum to 1)
    F_x, F_y = _bank(0.3, -0.2, 2.0, 0.7, N=4, A=28, B=20)
    torch.testing.assert_close(draw.read_glimpse(torch.full((1, 20, 28), 0.5, dtype=torch.float64),
                                                 F_x[None], F_y[None], gamma),
                               torch.ones(1, 4, 4, dtype=torch.float64))


def test_a_5x5_write_paints_inside_its_box_and_keeps_the_mass():
    # g~_X = 0.1, g~_Y = -0.3, delta~ = 0.5, N = 5 on 28 x 28: g_X = 14.5 * 1.1 = 15.95,
    # g_Y = 14.5 * 0.7 = 10.15, delta = 27/4 * 0.5 = 3.375; outermost centres g -+ 6.75,
    # 0-based: x in [8.2, 21.7], y in [2.4, 15.9]
    g_x, g_y, log_delta = (torch.tensor([v], dtype=torch.float64)
                           for v in (0.1, -0.3, math.log(0.5)))
    box = draw.attention_box({"g_x": g_x, "g_y": g_y, "log_delta": log_delta}, 5, 28, 28)
    torch.testing.assert_close(box, torch.tensor([[8.2, 2.4, 21.7, 15.9]], dtype=torch.float64))
    gamma = torch.tensor([0.5], dtype=torch.float64)
    F_x, F_y = draw.filterbank(g_x, g_y, torch.tensor([math.log(0.01)], dtype=torch.float64),
                               log_delta, 5, 28, 28)
    canvas = draw.write_patch(torch.ones(1, 5, 5, dtype=torch.float64), F_x, F_y, gamma)[0]
    assert canvas.sum().item() == pytest.approx(25 / 0.5)
    rows = torch.arange(28, dtype=torch.float64)[:, None]
    cols = torch.arange(28, dtype=torch.float64)[None, :]
    x0, y0, x1, y1 = box[0].tolist()
    inside = (cols >= x0 - 0.5) & (cols <= x1 + 0.5) & (rows >= y0 - 0.5) & (rows <= y1 + 0.5)
    assert canvas[~inside].abs().max() < 1e-9
    for y, x in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):          # the box is tight
        assert canvas[round(y), round(x)] > 1.0
    # the total written mass is sum(w) / gamma for any patch and any sigma (rows sum to 1)
    w = torch.randn(1, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    F_x, F_y = draw.filterbank(g_x, g_y, torch.tensor([1.5], dtype=torch.float64), log_delta,
                               5, 28, 28)
    torch.testing.assert_close(draw.write_patch(w, F_x, F_y, gamma).sum(), w.sum() / 0.5)


_V = torch.zeros(2)


@pytest.mark.parametrize("args,match", [
    ((_V, _V, _V, _V, 1, 28, 28), r"N must be >= 2"),
    ((_V, _V, _V, _V, 0, 28, 28), r"N must be a positive int, got 0"),
    ((_V, _V, _V, _V, 3, 28.0, 28), r"A must be a positive int"),
    ((_V, torch.zeros(3), _V, _V, 3, 28, 28), r"must share one shape \(batch,\); g_y has \(3,\)"),
    ((torch.zeros(2, 1), _V, _V, _V, 3, 28, 28), r"g_x must be a float tensor of shape \(batch,\), got \(2, 1\)"),
    ((_V, _V, torch.zeros(2, dtype=torch.long), _V, 3, 28, 28), r"log_sigma2 must be a float tensor"),
    ((_V, _V, _V, [0.0, 0.0], 3, 28, 28), r"log_delta must be a float tensor of shape \(batch,\), got list"),
])
def test_bad_filterbank_input_is_a_clear_error(args, match):
    with pytest.raises(ValueError, match=match):
        draw.filterbank(*args)


# -- the model ----------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_shapes_and_ranges(batch, attention, n_classes):
    T = 3
    model = _model(T=T, attention=attention, n_classes=n_classes)
    x = _binary(batch)
    labels = torch.arange(batch) % 10 if n_classes else None
    canvases, kls = model(x, labels)
    assert canvases.shape == (T, batch, 1, 28, 28) and kls.shape == (T, batch)
    assert (kls >= 0).all()
    rec, kl = model.elbo_terms(x, labels)
    assert rec.shape == kl.shape == (batch,) and (rec <= 0).all()
    elbo = model.elbo(x, labels)
    assert elbo.shape == (batch,) and (elbo <= 0).all()
    assert model.log_importance_weights(x, 3, labels).shape == (3, batch)
    drawn = model.sample(batch + 1, None if labels is None else torch.arange(batch + 1) % 10)
    for (images, attn), n in ((drawn, batch + 1), (model.reconstruct(x, labels), batch)):
        assert images.shape == (T, n, 1, 28, 28)
        assert images.min() >= 0 and images.max() <= 1
        if attention:
            assert tuple(attn) == draw.ATTENTION_PARAMS
            assert all(v.shape == (T, n) for v in attn.values())
        else:
            assert attn is None


def _lstm_from_zero(cell: torch.nn.LSTMCell, inputs: torch.Tensor) -> torch.Tensor:
    """h of one LSTM step from h = c = 0: gates i, f, g, o; cell = i * g since c_prev = 0."""
    gates = inputs @ cell.weight_ih.T + cell.bias_ih + cell.bias_hh        # W_hh h_prev = 0
    i, f, g, o = gates.chunk(4, dim=1)
    cell_state = torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell_state)


def test_one_step_without_attention_is_a_vae_by_hand():
    model = _spread_encoder(_model(T=1, attention=False, z_dim=3))
    with torch.no_grad():
        model.canvas0.normal_(generator=torch.Generator().manual_seed(3))
    x = _binary(3, seed=1)
    with torch.no_grad():
        flat, c0 = x.view(3, 784), model.canvas0.view(1, 784)
        x_hat = flat - torch.sigmoid(c0)                                     # the error image
        h_enc = _lstm_from_zero(model.encoder, torch.cat([flat, x_hat, torch.zeros(3, 12)], 1))
        mu, logvar = model.to_q(h_enc).chunk(2, dim=1)
        eps = torch.randn(3, 3, generator=torch.Generator().manual_seed(5))
        z = mu + torch.exp(0.5 * logvar) * eps
        c1 = c0 + model.to_patch(_lstm_from_zero(model.decoder, z))
        log_lik = (flat * F.logsigmoid(c1) + (1 - flat) * F.logsigmoid(-c1)).sum(1)
        kl = vae.kl_normal(mu, logvar)
        elbo = model.elbo(x, generator=torch.Generator().manual_seed(5))
        canvases, kls = model(x, generator=torch.Generator().manual_seed(5))
        log_w = model.log_importance_weights(x, 1, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(elbo, log_lik - kl)
    torch.testing.assert_close(canvases[0].view(3, 784), c1)
    torch.testing.assert_close(kls[0], kl)
    torch.testing.assert_close(log_w[0],
                               log_lik + vae.log_normal(z) - vae.log_normal(z, mu, logvar))
    assert (kl > 1).all()                          # a wrong KL would show


def test_attention_read_and_write_use_the_emitted_filterbank():
    model = _model(T=2, read_n=3, write_n=4)
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(2, 28, 28, generator=g), torch.randn(2, 28, 28, generator=g)
    h_dec = torch.randn(2, 12, generator=g)
    with torch.no_grad():
        g_x, g_y, log_sigma2, log_delta, log_gamma = model.read_attention(h_dec).unbind(1)
        F_x, F_y = draw.filterbank(g_x, g_y, log_sigma2, log_delta, 3, 28, 28)
        gamma = torch.exp(log_gamma)
        expected = torch.cat([draw.read_glimpse(x, F_x, F_y, gamma).flatten(1),
                              draw.read_glimpse(x_hat, F_x, F_y, gamma).flatten(1)], dim=1)
        torch.testing.assert_close(model.read(x, x_hat, h_dec), expected)  # [x, x_hat] per image

        emitted = model.write_attention(h_dec)
        g_x, g_y, log_sigma2, log_delta, log_gamma = emitted.unbind(1)
        F_x, F_y = draw.filterbank(g_x, g_y, log_sigma2, log_delta, 4, 28, 28)
        patch = model.to_patch(h_dec).view(2, 4, 4)
        update, params = model.write(h_dec)
        torch.testing.assert_close(update, draw.write_patch(patch, F_x, F_y, torch.exp(log_gamma)))
        torch.testing.assert_close(params, emitted)
    assert expected.shape == (2, 2 * 3 * 3) and update.shape == (2, 28, 28)


def test_loss_is_the_negative_elbo_with_its_parts():
    model, x = _spread_encoder(_model()), _binary(4)
    torch.manual_seed(1)
    out = model.loss(x)
    torch.manual_seed(1)
    rec, kl = model.elbo_terms(x)
    assert set(out) == {"loss", "rec", "kl"} and out["loss"].requires_grad
    assert not out["rec"].requires_grad and not out["kl"].requires_grad
    torch.testing.assert_close(out["loss"], (kl - rec).mean())
    torch.testing.assert_close(out["rec"], -rec.mean().detach())
    torch.testing.assert_close(out["kl"], kl.mean().detach())
    torch.manual_seed(1)
    torch.testing.assert_close(out["loss"], -model.elbo(x).mean())


def test_labels_reach_the_decoder_in_the_order_of_the_images():
    model = _model(n_classes=10)
    a = model.sample(2, [3, 3], generator=torch.Generator().manual_seed(0))[0]
    b = model.sample(2, [3, 7], generator=torch.Generator().manual_seed(0))[0]
    torch.testing.assert_close(a[:, 0], b[:, 0])
    assert not torch.allclose(a[:, 1], b[:, 1])
    # log_importance_weights repeats the labels once per draw, in its (k, B) order
    x = _binary(2)
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 3, [1, 8], torch.Generator().manual_seed(0))
        for i, label in enumerate([1, 8]):
            alone = model.log_importance_weights(x, 3, [label, label],
                                                 torch.Generator().manual_seed(0))
            torch.testing.assert_close(log_w[:, i], alone[:, i])


def test_one_importance_weight_is_the_elbo_on_average():
    model = _spread_encoder(_model(T=3))
    x = _binary(3)
    draws = 2000
    xs = x.repeat(draws, 1, 1, 1)
    with torch.no_grad():   # the same seed gives the same eps, so log p(x | c_T) cancels
        log_w = model.log_importance_weights(xs, 1, generator=torch.Generator().manual_seed(1))[0]
        elbo = model.elbo(xs, generator=torch.Generator().manual_seed(1))
        kl = model(x)[1].sum(0)
    gap = (log_w - elbo).view(draws, 3)           # log p(z) - log q(z) + KL: zero on average
    se = gap.std(0) / math.sqrt(draws)
    assert (gap.mean(0).abs() < 4 * se).all(), (gap.mean(0), se)
    assert (kl > 5).all() and (se < 0.1).all()    # the KL is large: a wrong log q would show


def test_iwae_bound_is_above_the_mean_elbo_after_training(digits):
    model = _fit(_model(T=3, attention=False), digits, steps=30, lr=1e-2)
    x = digits[:4]
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 50, generator=torch.Generator().manual_seed(0))
        iwae = torch.logsumexp(log_w, 0) - math.log(50)                        # (4,)
        elbo = model.elbo(x.repeat(200, 1, 1, 1), generator=torch.Generator().manual_seed(1))
    mean_elbo = elbo.view(200, 4).mean(0)
    assert iwae.mean() > mean_elbo.mean(), (iwae, mean_elbo)
    assert torch.isfinite(iwae).all()


@pytest.mark.parametrize("attention", [True, False])
def test_overfits_one_batch_of_digits(digits, attention):
    """Beyond the mean digit (what c_0 alone draws): the steps must draw each digit."""
    model = _model(T=4, attention=attention, read_n=2, write_n=5, enc_size=32, dec_size=32,
                   z_dim=4)
    draw.init_canvas(model, digits)
    first = draw.test_bound(model, digits).mean().item()
    _fit(model, digits, steps=150, lr=1e-2)
    last = draw.test_bound(model, digits).mean().item()
    assert 170 < first < 200, first                   # the mean digit: 185.6 nats + the KL
    assert last < first - 25, (first, last)           # 187 -> 130 and 192 -> 15 when written


def test_same_seed_same_samples():
    for model, labels in ((_model(), None), (_model(n_classes=10), [3, 1, 4, 1, 5])):
        a, attn_a = model.sample(5, labels, generator=torch.Generator().manual_seed(7))
        b, attn_b = model.sample(5, labels, generator=torch.Generator().manual_seed(7))
        c, attn_c = model.sample(5, labels, generator=torch.Generator().manual_seed(8))
        torch.testing.assert_close(a, b)
        for name in draw.ATTENTION_PARAMS:
            torch.testing.assert_close(attn_a[name], attn_b[name])
        assert not torch.allclose(a, c)
        assert not torch.allclose(attn_a["g_x"], attn_c["g_x"])
    model, x = _model(), _binary(3)
    for run in (lambda g: model.reconstruct(x, generator=g)[0],
                lambda g: model.elbo(x, generator=g),
                lambda g: model.log_importance_weights(x, 4, generator=g)):
        a = run(torch.Generator().manual_seed(3))
        torch.testing.assert_close(a, run(torch.Generator().manual_seed(3)))
        assert not torch.allclose(a, run(torch.Generator().manual_seed(4)))


_U = _model()
_C = _model(n_classes=10)
_X = _binary(2)


@pytest.mark.parametrize("call,error,match", [
    (lambda: _U.elbo(torch.rand(2, 784)), ValueError, r"x must be images of shape \(B, 1, 28, 28\)"),
    (lambda: _U.elbo(torch.rand(2, 1, 16, 16)), ValueError, r"x must be images of shape \(B, 1, 28, 28\)"),
    (lambda: _U(_X[:0]), ValueError, r"B >= 1"),
    (lambda: _U.elbo([0.5] * 784), TypeError, r"x must be an image tensor"),
    (lambda: _U.elbo(_X * 2), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.reconstruct(_X - 1), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.elbo(_X * float("nan")), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda: _U.elbo(_X, [0, 1]), ValueError, r"this DRAW is unconditional"),
    (lambda: _U.sample(2, [0, 1]), ValueError, r"this DRAW is unconditional"),
    (lambda: _C.elbo(_X), ValueError, r"this DRAW is conditional: pass labels, 2 ints"),
    (lambda: _C.sample(2), ValueError, r"this DRAW is conditional: pass labels"),
    (lambda: _C.log_importance_weights(_X, 2), ValueError, r"this DRAW is conditional"),
    (lambda: _C.elbo(_X, [0, 10]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _C.elbo(_X, [-1, 0]), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: _C.elbo(_X, torch.tensor([0.0, 1.0])), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _C.elbo(_X, [True, False]), ValueError, r"labels must be ints in \[0, 10\)"),
    (lambda: _C.elbo(_X, "ab"), ValueError, r"labels must be 2 ints"),
    (lambda: _C.elbo(_X, [0, 1, 2]), ValueError, r"labels must have shape \(2,\)"),
    (lambda: _C.sample(3, [1, 2]), ValueError, r"labels must have shape \(3,\)"),
    (lambda: _U.sample(0), ValueError, r"n must be a positive int, got 0"),
    (lambda: _U.sample(2.0), ValueError, r"n must be a positive int"),
    (lambda: _U.log_importance_weights(_X, 0), ValueError, r"k must be a positive int, got 0"),
    (lambda: _U.sample(2, generator=3), TypeError, r"generator must be a torch.Generator"),
    (lambda: draw.DRAWConfig(T=0), ValueError, r"DRAWConfig.T must be an int >= 1, got 0"),
    (lambda: draw.DRAWConfig(T=2.0), ValueError, r"DRAWConfig.T must be an int >= 1"),
    (lambda: draw.DRAWConfig(z_dim=True), ValueError, r"DRAWConfig.z_dim must be an int"),
    (lambda: draw.DRAWConfig(n_classes=-1), ValueError, r"DRAWConfig.n_classes must be an int >= 0"),
    (lambda: draw.DRAWConfig(attention=1), ValueError, r"DRAWConfig.attention must be True or False, got 1"),
    (lambda: draw.DRAWConfig(read_n=1), ValueError, r"attention grids need read_n, write_n >= 2"),
    (lambda: draw.DRAWConfig(write_n=1), ValueError, r"attention grids need read_n, write_n >= 2"),
    (lambda: draw.DRAW({"T": 4}), TypeError, r"config must be a DRAWConfig, got dict"),
    (lambda: draw.DRAW(vae.VAEConfig()), TypeError, r"config must be a DRAWConfig, got VAEConfig"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_grid_sizes_only_matter_with_attention():
    config = draw.DRAWConfig(T=2, read_n=1, write_n=1, enc_size=8, dec_size=8, z_dim=2,
                             attention=False)
    assert draw.DRAW(config).elbo(_X).shape == (2,)


# -- drawing the attention ------------------------------------------------------------------------

def test_with_boxes_outlines_the_box_and_keeps_the_rest():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 1, 6, 8, generator=g)              # (T, n, 1, H, W), values < 1
    boxes = torch.tensor([1.0, 2.0, 5.0, 4.0]).expand(2, 3, 4)   # x0, y0, x1, y1, 0-based
    for scale in (2, 3):
        out = draw.with_boxes(frames, boxes, scale=scale, value=1.0)
        assert out.shape == (2, 3, 1, 6 * scale, 8 * scale)
        big = frames.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
        # the outline is one upscaled pixel wide, through the box pixels' centres
        c = lambda p: (2 * p + 1) * scale // 2                  # noqa: E731
        edge = torch.zeros(6 * scale, 8 * scale, dtype=torch.bool)
        edge[[c(2), c(4)], c(1):c(5) + 1] = True
        edge[c(2):c(4) + 1, [c(1), c(5)]] = True
        assert (out[..., 0, :, :][..., edge] == 1.0).all()
        torch.testing.assert_close(out[..., 0, :, :][..., ~edge], big[..., 0, :, :][..., ~edge])
        assert int(edge.sum()) == 2 * (c(5) - c(1) + 1) + 2 * (c(4) - c(2) + 1) - 4
    # a box hanging off the image is clipped: only its on-image edges are drawn
    out = draw.with_boxes(torch.zeros(1, 5, 5), torch.tensor([-3.0, 1.0, 2.0, 9.0]), scale=1)
    expected = torch.zeros(5, 5)
    expected[1, :3] = 0.5
    expected[1:, 2] = 0.5
    torch.testing.assert_close(out[0], expected)


@pytest.mark.parametrize("frames,boxes,kwargs,error,match", [
    (torch.zeros(5, 5), torch.zeros(4), {}, ValueError, r"frames must be a tensor \(\.\.\., 1, H, W\)"),
    (torch.zeros(2, 3, 5, 5), torch.zeros(2, 4), {}, ValueError, r"frames must be a tensor"),
    (torch.zeros(2, 1, 5, 5), torch.zeros(3, 4), {}, ValueError, r"boxes must have shape \(2, 4\)"),
    (torch.zeros(2, 1, 5, 5), torch.zeros(2, 5), {}, ValueError, r"boxes must have shape \(2, 4\)"),
    (torch.zeros(2, 1, 5, 5), torch.zeros(2, 4), {"scale": 0}, ValueError, r"scale must be a positive int"),
])
def test_with_boxes_refuses_bad_shapes(frames, boxes, kwargs, error, match):
    with pytest.raises(error, match=match):
        draw.with_boxes(frames, boxes, **kwargs)


def test_sampled_attention_boxes_draw_on_sampled_frames():
    model = _model(T=3, write_n=5)
    frames, attn = model.sample(2, generator=torch.Generator().manual_seed(0))
    boxes = draw.attention_box(attn, 5, 28, 28)
    assert boxes.shape == (3, 2, 4)
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
    assert draw.with_boxes(frames, boxes).shape == (3, 2, 1, 84, 84)


# -- training, recipes and the bench -------------------------------------------------------------

def test_init_canvas_starts_at_the_mean_digit(digits):
    model = _model()
    draw.init_canvas(model, digits)
    mean = digits.mean(0)[0]
    torch.testing.assert_close(torch.sigmoid(model.canvas0[0]), mean.clamp(1e-3, 1 - 1e-3),
                               rtol=1e-4, atol=1e-6)
    assert (mean == 0).any() and torch.isfinite(model.canvas0).all()     # the empty border


def test_train_recipe_runs_and_refuses_unknown_settings(data_root):
    before = {name: dict(recipe) for name, recipe in draw.RECIPES.items()}
    model, history = draw.train_recipe("draw_cond", minutes=0.02, progress=False)
    assert isinstance(model, draw.DRAW) and not model.training
    assert model.config == draw.RECIPES["draw_cond"]["config"] and model.config.n_classes == 10
    assert isinstance(history, train.History) and history.steps >= 1
    assert {"loss", "rec", "kl"} <= set(history.losses)
    assert all(math.isfinite(v) for v in history.losses["loss"])
    assert draw.RECIPES == before
    with pytest.raises(ValueError,
                       match=r"no DRAW recipe named 'vae'; recipes: draw, draw_noattn, draw_cond"):
        draw.train_recipe("vae")
    with pytest.raises(TypeError, match=r"unknown recipe settings \['learning_rate'\]"):
        draw.train_recipe("draw", learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"epochs must be a positive int"):
        draw.train_recipe("draw", epochs=0)


def test_registered_with_the_bench_and_spot_checked(data_root):
    families = bench.families()
    for name, conditional in (("draw", False), ("draw_noattn", False), ("draw_cond", True)):
        assert families[name].model_class is draw.DRAW
        assert families[name].conditional == conditional
    tiny = dict(T=2, read_n=2, write_n=2, enc_size=8, dec_size=8, z_dim=2)
    torch.manual_seed(0)
    model = draw.DRAW(draw.DRAWConfig(**tiny))
    key, estimate, standard_error = families["draw"].spot_check(model, {})
    assert key == "test_nll_bound_nats"
    assert math.isfinite(estimate) and 0 < estimate < 2 * 784 * math.log(2)
    assert 0 < standard_error < 0.1 * estimate
    assert draw.spot_check(model, {}) == (key, estimate, standard_error)      # fixed seed
    test = data.mnist("test", binarize="static", device="cpu").images[:draw.SPOT_CHECK_DIGITS]
    assert estimate == pytest.approx(draw.test_bound(model, test).mean().item())
    conditional = draw.DRAW(draw.DRAWConfig(**tiny, n_classes=10))
    key, estimate, standard_error = draw.spot_check(conditional, {})
    assert math.isfinite(estimate) and standard_error > 0
