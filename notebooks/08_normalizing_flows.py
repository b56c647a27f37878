# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Normalizing flows: an exact likelihood in one pass
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Chapter 06's GAN draws sharp digits but has no likelihood at all: it
# cannot say how probable a digit is, and its training is a game we had to watch. Chapter
# 07's PixelCNN has the opposite profile: an exact likelihood, trained by plain maximum
# likelihood, but it draws one pixel at a time, 784 network passes per digit, in an order
# we chose arbitrarily. This chapter asks for both at once: **an exact likelihood and
# sampling in a single pass**. The tool is old and simple: if noise $z$ with a known
# density is turned into an image by an *invertible* map, the density of the image follows
# from the density of $z$ and how much the map stretches space, the **change of
# variables**. The whole difficulty is one determinant. We measure how expensive it is in
# general, build the layer that makes it cheap (RealNVP's affine coupling, Dinh et al.
# 2017), verify every layer's log-determinant against autograd, watch a flow learn, and
# then look hard at the shipped model: its bits/dim against the literature, its
# temperature, its latent space, what its label is worth in bits, and (the diagnosis) why
# an exact likelihood does not buy good samples.

# %%
# On Colab: install the course package and enable its widgets. Elsewhere this does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "drawjourney @ git+https://github.com/drawjourney/drawjourney"], check=True)
    from google.colab import output
    output.enable_custom_widget_manager()

# %%
# %matplotlib inline
import math
import time

import torch
from matplotlib.figure import Figure
from torch import nn

import drawjourney as dj
from drawjourney import data, judge, metrics, plot, runtime, train, widgets
from drawjourney.models import flow, gan, vae

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator for the noise we look at

DENSE_DIMS = (196, 392, 784) if FAST else (196, 392, 784, 1568, 3136)  # slogdet timing sizes
N_PIXELS = 5_000 if FAST else 20_000      # pixel values in the dequantization experiment
N_HIST_TRAIN = 10_000 if FAST else 60_000  # training digits for the histogram baseline
LIVE_MINUTES = 0.1 if FAST else 2.0       # the live run's budget
SNAP_EVERY = 20 if FAST else 100          # live-run snapshot interval, in steps
N_BPD = 100 if FAST else 2_000            # test digits for the re-measured bits/dim
N_FID = 100 if FAST else 2_000            # samples per FID-MNIST in the comparison table
N_T = 50 if FAST else 500                 # samples per temperature in the sweep
N_PAIRS = 6 if FAST else 40               # test-digit pairs for interpolation
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; live run {LIVE_MINUTES} min; "
      f"bits/dim on {N_BPD:,} test digits; FID-MNIST on {N_FID:,} samples")

# %% [markdown]
# ## 1 · The idea: push noise through an invertible map
#
# *Strategy: solve a small case first.* One number. Let $z \sim \mathcal N(0, 1)$ and
# $x = e^z$. What is the density of $x$? The probability that $z$ falls in a small
# interval $dz$ must equal the probability that $x$ falls in the interval it is mapped to,
# $dx = e^z dz$. So $p_X(x)\,|dx| = p_Z(z)\,|dz|$, and with $z = \log x$,
#
# $$p_X(x) = p_Z(\log x)\,\Big|\frac{dz}{dx}\Big| = \frac{p_Z(\log x)}{x}.$$
#
# Where the map stretches space ($|dx/dz| > 1$), the density thins; where it squeezes, the
# density piles up. We check the formula against a histogram of samples.

# %%
z1 = torch.randn(200_000, generator=GEN, dtype=torch.float64)
x1 = z1.exp()
grid1 = torch.linspace(0.02, 6, 300, dtype=torch.float64)
formula = torch.exp(-0.5 * grid1.log() ** 2) / math.sqrt(2 * math.pi) / grid1
counts, edges = torch.histogram(x1, bins=torch.linspace(0, 6, 61, dtype=torch.float64))
width = edges[1] - edges[0]
hist_density = counts / (len(x1) * width)
centres = (edges[:-1] + edges[1:]) / 2
inside = centres > 0.3                                  # away from the spike at 0, where bins are too coarse
formula_at = torch.exp(-0.5 * centres.log() ** 2) / math.sqrt(2 * math.pi) / centres
print(f"largest |histogram - formula| for x > 0.3: "
      f"{(hist_density - formula_at)[inside].abs().max():.3f} (peak density {formula.max():.3f})")
fig = Figure(figsize=(6.5, 3.4), layout="constrained")
ax = fig.add_subplot()
ax.bar(centres, hist_density, width=width, alpha=0.5, label="histogram of 200,000 samples of x = exp(z)")
ax.plot(grid1, formula, "k", label="change of variables: p_Z(log x) / x")
ax.set(xlabel="x", ylabel="density", title="the 1-D change of variables, checked by sampling")
ax.legend(fontsize=8)
fig

# %% [markdown]
# ## 2 · Formulate: the change of variables in 784 dimensions
#
# *Strategy: formulate.* For images, $x \in \mathbb R^D$ with $D = 784$, and an invertible,
# differentiable $f$ with $z = f(x)$ of the same size. A small box around $x$ is mapped to
# a small parallelepiped around $z$ whose volume is $|\det J_f(x)|$ times the box's, where
# $J_f(x) = \partial f / \partial x$ is the $D \times D$ Jacobian. Probability is
# conserved, so
#
# $$p_X(x) = p_Z\big(f(x)\big)\,\big|\det J_f(x)\big|, \qquad \log p_X(x) = \log p_Z\big(f(x)\big) + \log\big|\det J_f(x)\big| .$$
#
# (Seed 002 writes the same identity the other way round, $p_Z(z) = p_X(x)\,|\det
# J_f(x)|^{-1}$.) With a standard Gaussian base, $\log p_Z(z) = -\tfrac12 \sum_i z_i^2 -
# \tfrac D2 \log 2\pi$. Three consequences shape everything that follows:
#
# 1. **Training is plain maximum likelihood**: minimize $-\log p_X(x)$ over training
#    images. No bound (chapter 04), no game (chapter 06).
# 2. **Sampling is one pass**: draw $z \sim \mathcal N(0, I)$ and compute $x = f^{-1}(z)$.
#    So $f$ must be invertible *in practice*, not just in principle.
# 3. **Compositions are free**: for $f = f_K \circ \dots \circ f_1$ the Jacobian is a
#    product and its log-determinant a sum, $\log|\det J_f| = \sum_k \log|\det J_{f_k}|$.
#    So we may build $f$ from many simple layers, as long as each one has an inverse and a
#    log-determinant we can compute.
#
# What a layer costs is the question. A general $D \times D$ determinant takes
# $O(D^3)$ operations, and we need one per image, per training step, with a gradient.

# %% [markdown]
# ## 3 · Experiment: the Jacobian bottleneck, measured
#
# *Strategy: measure before arguing.* A small invertible network on whole images: $f(x) =
# W_2\,\mathrm{leaky}(W_1 x + b_1)$ with two random square $784 \times 784$ matrices
# (invertible with probability 1) and a leaky ReLU (invertible because it is strictly
# increasing). Its log-determinant is known in closed form, $\log|\det W_2| + \sum_i \log
# \mathrm{leaky}'(h_i) + \log|\det W_1|$, which lets us check the brute-force route: build the
# full Jacobian by reverse-mode autograd (`torch.func.jacrev`: 784 vector-Jacobian products,
# batched) and take `torch.linalg.slogdet`. We time both halves of the brute force for one
# image.

# %%
D = 784
dense_gen = torch.Generator().manual_seed(1)
W1 = torch.randn(D, D, generator=dense_gen) / math.sqrt(D)
W2 = torch.randn(D, D, generator=dense_gen) / math.sqrt(D)
b1 = 0.1 * torch.randn(D, generator=dense_gen)
SLOPE = 0.2


def dense_map(x):
    """A dense invertible map of one flattened image (784,) -> (784,)."""
    return W2 @ nn.functional.leaky_relu(W1 @ x + b1, SLOPE)


def timed(fn, repeat=3):
    """(result, best wall seconds of `repeat` calls)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


x_dense = data.mnist("test").images[0].flatten().cpu()
J, t_jac = timed(lambda: torch.func.jacrev(dense_map)(x_dense))
(sign, logdet_brute), t_slogdet = timed(lambda: torch.linalg.slogdet(J))
h = W1 @ x_dense + b1
logdet_exact = (torch.linalg.slogdet(W2)[1] + torch.where(h > 0, 0.0, math.log(SLOPE)).sum()
                + torch.linalg.slogdet(W1)[1])
print(f"dense map: autograd Jacobian {tuple(J.shape)} in {t_jac * 1e3:.0f} ms, slogdet in "
      f"{t_slogdet * 1e3:.1f} ms; log|det| = {logdet_brute:.3f} (closed form {logdet_exact:.3f})")

# %% [markdown]
# Now a coupling layer (built in section 4) on the same image, with the same kind of
# network the shipped flow uses. Its log-determinant is a **sum of numbers the layer has
# already computed**. We time the whole layer (its network included) and the sum alone.

# %%
coupling = flow.AffineCoupling(1, 32, 1, "checkerboard", 0).eval()
x_img = x_dense.view(1, 1, 28, 28)
with torch.no_grad():
    _, t_layer = timed(lambda: coupling(x_img), repeat=5)
    s_demo = torch.randn(1, 1, 28, 28)
    _, t_sum = timed(lambda: s_demo.flatten(1).sum(1), repeat=20)
dense_total = t_jac + t_slogdet
print(f"coupling layer, one 28x28 image: whole layer {t_layer * 1e3:.2f} ms, its log-det (a sum) "
      f"{t_sum * 1e6:.1f} µs")
print(f"dense route for the log-det alone: {dense_total * 1e3:.0f} ms, "
      f"{dense_total / t_sum:,.0f} times the sum; {dense_total / t_layer:.0f} times the whole coupling layer")

# %% [markdown]
# How does the determinant alone grow with the size of the image? We time `slogdet` of
# random $D \times D$ matrices and fit the exponent on a log-log scale.

# %%
slog_times = []
for d in DENSE_DIMS:
    M = torch.randn(d, d, generator=dense_gen)
    slog_times.append(timed(lambda: torch.linalg.slogdet(M))[1])
logs = torch.tensor([[math.log(d), math.log(t)] for d, t in zip(DENSE_DIMS, slog_times)])
exponent = torch.linalg.lstsq(torch.stack([logs[-3:, 0], torch.ones(3)], 1), logs[-3:, 1:]).solution[0].item()
for d, t in zip(DENSE_DIMS, slog_times):
    print(f"D = {d:>5}: slogdet {t * 1e3:8.2f} ms")
big = 3 * 256 * 256
extrapolated = slog_times[-1] * (big / DENSE_DIMS[-1]) ** 3
print(f"fitted growth over the three largest sizes: time ~ D^{exponent:.1f} (theory: D^3)")
print(f"a 256x256 colour image (D = {big:,}) at D^3: about {extrapolated / 3600:,.0f} hours per "
      f"determinant, per image, per step (extrapolated, and its {big:,}^2 floats need "
      f"{big ** 2 * 4 / 2 ** 30:,.0f} GiB)")

fig = Figure(figsize=(6.5, 3.4), layout="constrained")
ax = fig.add_subplot()
ax.loglog(DENSE_DIMS, [t * 1e3 for t in slog_times], "o-", label="slogdet of a dense D x D matrix")
ax.axhline(t_sum * 1e3, color="C2", linestyle="--", label="a coupling layer's log-det (a sum, D = 784)")
ax.set(xlabel="D, numbers per image", ylabel="milliseconds", title="the Jacobian bottleneck, measured here")
ax.legend(fontsize=8)
fig

# %% [markdown]
# We measured it: for one 28x28 digit the dense route (Jacobian by autograd, then the
# determinant) costs orders of magnitude more than the coupling layer's sum, and it is
# per image, per step, before any gradient flows through the determinant. The
# determinant alone grows roughly like $D^3$ (our fit prints the exponent; small sizes are
# dominated by overheads), so for real photographs it is out of the question. Seed 002
# names this the Achilles heel of flows, and it is: the art of flow design is choosing
# layers whose Jacobian has structure.

# %% [markdown]
# ## 4 · Build: the affine coupling layer
#
# **Triangular Jacobians.** The determinant of a triangular matrix is the product of its
# diagonal, so its log is a sum of $D$ logs: $O(D)$ instead of $O(D^3)$. A layer whose
# output $i$ depends only on inputs $\le i$ (in some order) has a triangular Jacobian.
#
# **The coupling layer** (Dinh et al. 2017) gets there in one stroke. Split the input into
# two parts, $a$ (kept) and $b$ (changed), and let two arbitrary networks $s$ and $t$ read
# only the kept part:
#
# $$y_a = x_a, \qquad y_b = x_b \odot \exp\big(s(x_a)\big) + t(x_a).$$
#
# Ordered $a$ first, the Jacobian is
#
# $$J = \begin{pmatrix} I & 0 \\ \dfrac{\partial y_b}{\partial x_a} & \mathrm{diag}\big(\exp s(x_a)\big) \end{pmatrix}, \qquad \log|\det J| = \sum_j s_j(x_a).$$
#
# The messy block $\partial y_b / \partial x_a$ (everything the networks compute) sits
# below the diagonal and never enters the determinant. And the inverse needs no inverse of
# $s$ or $t$: since $y_a = x_a$, we can recompute $s$ and $t$ from the output,
#
# $$x_a = y_a, \qquad x_b = \big(y_b - t(y_a)\big) \odot \exp\big(-s(y_a)\big).$$
#
# So $s$ and $t$ may be any networks at all: deep, convolutional, non-invertible. The
# price: each layer leaves half of its input untouched, so layers must alternate which
# half is kept.
#
# The package's `AffineCoupling` has two ways to split: a **checkerboard** of pixels, and
# the two halves of the **channels**. Two details of its own: the network reads the kept
# pixels (the changed ones zeroed) plus the mask itself, and the log-scale is bounded, $s =
# \text{scale} \cdot \tanh(\text{raw})$ with a learned per-channel scale, which keeps early
# training from exploding. We write the checkerboard layer from the formula, reusing the
# package layer's network, and check it.

# %%
def randomized(layer, sd=0.2, seed=0):
    """`layer` with every coupling's zero-initialized output convolution set to random
    values (a fresh coupling is the identity, which would make every check trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in layer.modules():
            if isinstance(m, flow.CouplingNet):
                m.out[1].weight.copy_(sd * torch.randn(m.out[1].weight.shape, generator=g))
                m.out[1].bias.copy_(sd * torch.randn(m.out[1].bias.shape, generator=g))
    return layer


def my_checker_forward(x, layer):
    """y_a = x_a, y_b = x_b * exp(s(x_a)) + t(x_a) on a checkerboard; (y, log_det per image)."""
    keep = flow.checkerboard(x.shape[2], x.shape[3], layer.parity).to(x)   # 1 = kept pixel (part a)
    s, t = layer.net(torch.cat([x * keep, keep.expand(x.shape[0], 1, -1, -1)], 1))
    s = layer.scale * torch.tanh(s) * (1 - keep)                         # only part b moves
    t = t * (1 - keep)
    y = keep * x + (1 - keep) * (x * torch.exp(s) + t)
    return y, s.flatten(1).sum(1)


def my_checker_inverse(y, layer):
    keep = flow.checkerboard(y.shape[2], y.shape[3], layer.parity).to(y)
    s, t = layer.net(torch.cat([y * keep, keep.expand(y.shape[0], 1, -1, -1)], 1))  # y_a = x_a
    s = layer.scale * torch.tanh(s) * (1 - keep)
    return keep * y + (1 - keep) * ((y - t * (1 - keep)) * torch.exp(-s))


layer_cb = randomized(flow.AffineCoupling(2, 16, 1, "checkerboard", 1)).double()
xc = torch.randn(4, 2, 8, 8, generator=GEN, dtype=torch.float64)
with torch.no_grad():
    mine_y, mine_ld = my_checker_forward(xc, layer_cb)
    pkg_y, pkg_ld = layer_cb(xc)
    torch.testing.assert_close(mine_y, pkg_y)
    torch.testing.assert_close(mine_ld, pkg_ld)
    torch.testing.assert_close(my_checker_inverse(pkg_y, layer_cb), xc)
    moved = (pkg_y != xc).double().mean().item()
print(f"inline checkerboard coupling = package AffineCoupling (forward, log-det, inverse); "
      f"share of numbers it changed: {moved:.2f}")

# %% [markdown]
# The channel version is the same formula with a different split: the first and second
# halves of the channels. (Parity 1 swaps which half is kept.)

# %%
def my_channel_forward(x, layer):
    first, second = x.chunk(2, dim=1)
    kept, changed = (first, second) if layer.parity == 0 else (second, first)
    s, t = layer.net(kept)
    s = layer.scale * torch.tanh(s)
    changed = changed * torch.exp(s) + t
    y = torch.cat([kept, changed] if layer.parity == 0 else [changed, kept], 1)
    return y, s.flatten(1).sum(1)


layer_ch = randomized(flow.AffineCoupling(4, 16, 1, "channel", 0)).double()
xq = torch.randn(4, 4, 4, 4, generator=GEN, dtype=torch.float64)
with torch.no_grad():
    mine_y, mine_ld = my_channel_forward(xq, layer_ch)
    pkg_y, pkg_ld = layer_ch(xq)
torch.testing.assert_close(mine_y, pkg_y)
torch.testing.assert_close(mine_ld, pkg_ld)
print("inline channel coupling = package AffineCoupling (forward and log-det)")

# %% [markdown]
# **The triangle, seen.** We take the full Jacobian of the checkerboard layer above by
# autograd (one 2x8x8 input: $D = 128$) and draw it twice: in the pixels' own order, and
# reordered with the kept numbers first.

# %%
x_one = xc[:1]
J_cb = torch.autograd.functional.jacobian(lambda v: layer_cb(v.view(1, 2, 8, 8))[0].flatten(),
                                          x_one.flatten())
keep_flat = flow.checkerboard(8, 8, 1).expand(1, 2, 8, 8).flatten().bool()
order = torch.cat([keep_flat.nonzero().flatten(), (~keep_flat).nonzero().flatten()])
J_sorted = J_cb[order][:, order]
n_keep = int(keep_flat.sum())
upper = J_sorted[:n_keep, n_keep:]
lower_block = J_sorted[n_keep:, n_keep:]
print(f"upper-right block (kept outputs w.r.t. changed inputs): max |entry| {upper.abs().max():.1e}")
print(f"lower-right block is diagonal: max |off-diagonal| "
      f"{(lower_block - torch.diag(torch.diag(lower_block))).abs().max():.1e}")
print(f"log|det| by slogdet {torch.linalg.slogdet(J_cb)[1]:.6f}, sum of log-diagonal "
      f"{torch.diag(J_sorted).abs().log().sum():.6f}, the layer's own {layer_cb(x_one)[1].item():.6f}")

fig = Figure(figsize=(10, 4.4), layout="constrained")
for ax, M, title in zip(fig.subplots(1, 2), (J_cb, J_sorted),
                        ("in the input's order", f"kept numbers first ({n_keep} kept, {128 - n_keep} changed)")):
    im = ax.imshow((M.abs() + 1e-6).log10(), cmap="magma", vmin=-4, vmax=1)
    ax.set(title=title, xlabel="input index", ylabel="output index")
fig.colorbar(im, ax=ax, label="log10 |dy_i / dx_j|")
fig.suptitle("the Jacobian of one checkerboard coupling layer: triangular once reordered")
fig

# %% [markdown]
# Reordered, the picture is exactly the block form above: an identity for the kept
# numbers, nothing in the upper right (the kept outputs ignore the changed inputs), a
# dense lower-left block where the networks act (it never matters), and a diagonal
# lower-right block holding $\exp(s)$. The three log-determinants agree.

# %% [markdown]
# ## 5 · Masks, squeeze and the multi-scale flow
#
# A single split leaves half of the pixels untouched, so couplings alternate: checkerboard
# parity 0, then 1, then 0. The checkerboard lets every changed pixel see its four kept
# neighbours. To let a coupling mix pixels farther apart with small convolutions, RealNVP
# **squeezes**: each 2x2 block of pixels becomes 4 channels of an image half the size (a
# permutation, log-det 0), and then **channel** couplings split those 4 channels in two.
# Below, the masks drawn on the pixel grid (white = kept, black = changed) and a squeezed
# digit.

# %%
def channel_mask_on_pixels(size, parity):
    """Which pixels a channel coupling keeps after one squeeze, drawn on the (size, size) grid."""
    squeezed = torch.zeros(1, 4, size // 2, size // 2)
    squeezed[:, :2] = 1.0                                      # the first half of the channels
    keep = flow.Squeeze().inverse(squeezed)
    return keep if parity == 0 else 1 - keep


digit = data.mnist("test").images[:1].cpu()
squeezed_digit, sq_ld = flow.Squeeze()(digit)
torch.testing.assert_close(flow.Squeeze().inverse(squeezed_digit), digit)
masks = [flow.checkerboard(8, 8, 0), flow.checkerboard(8, 8, 1), channel_mask_on_pixels(8, 0),
         channel_mask_on_pixels(8, 1)]
fig = Figure(figsize=(12, 3.0), layout="constrained")
axes = fig.subplots(1, 9, width_ratios=[1] * 4 + [0.3] + [1] * 4)
for ax, m, title in zip(axes[:4], masks, ("checkerboard, parity 0", "checkerboard, parity 1",
                                         "channel, parity 0", "channel, parity 1")):
    ax.imshow(m[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set(title=title, xticks=[], yticks=[])
axes[4].set_axis_off()
for c, ax in enumerate(axes[5:]):
    ax.imshow(squeezed_digit[0, c], cmap="gray", vmin=0, vmax=1)
    ax.set(title=f"squeezed channel {c}", xticks=[], yticks=[])
fig.suptitle("left: which pixels a coupling keeps (8x8 shown); right: a 28x28 digit squeezed into 4 channels of 14x14")
fig

# %% [markdown]
# The four squeezed channels are the digit subsampled at the four corners of each 2x2
# block; they are nearly the same picture, so a channel coupling predicting two of them
# from the other two has an easy, useful job. Seen on the pixel grid, a channel coupling
# with parity 0 keeps the top row of every 2x2 block.
#
# **Multi-scale.** After a few couplings at full resolution, a squeeze and a few channel
# couplings, RealNVP **factors out** half of the channels: they are declared finished
# (Gaussian latents) and the remaining half goes on to the next, coarser scale. Later
# couplings thus work on fewer numbers, and the flow's latent has a natural hierarchy:
# some numbers were fixed at the fine scale, others carry the coarse shape. The package
# puts the factored-out parts back in place, so $z$ has the image's shape. *Strategy:
# divide and conquer.* We print the shipped recipe's structure: at each level, how many
# numbers the couplings transform and how many leave.

# %%
recipe = flow.RECIPES["flow"]
print(f"recipe 'flow': {recipe}")
cfg = recipe["config"]
shape = (1, cfg.image_size, cfg.image_size)
for scale in range(cfg.n_scales):
    c, s = shape[0], shape[1]
    print(f"scale {scale + 1}: {cfg.n_couplings} checkerboard couplings on {c}x{s}x{s} = {c * s * s} numbers, "
          f"squeeze to {4 * c}x{s // 2}x{s // 2}, {cfg.n_couplings} channel couplings, "
          f"{2 * c * (s // 2) ** 2} numbers factored out")
    shape = (2 * c, s // 2, s // 2)
print(f"last level: {cfg.n_couplings + 1} checkerboard couplings on {shape[0]}x{shape[1]}x{shape[2]} = "
      f"{shape[0] * shape[1] * shape[2]} numbers")
print(f"parameters: {sum(p.numel() for p in flow.RealNVP(cfg).parameters()):,}")

# %% [markdown]
# ## 6 · Data: dequantization and the logit transform
#
# **Why dequantize.** MNIST pixels are 8-bit: 256 possible values. A density on
# continuous values could cheat on such data: put a spike of width $\sigma$ on each of the
# 256 values, and the density at the data grows like $1/\sigma$ without limit. The
# likelihood would go to infinity while the model learned nothing. The fix (Theis et al.
# 2016; Dinh et al. 2017) is to add uniform noise: train on $u = (k + \epsilon)/256$ with
# $k \in \{0, \dots, 255\}$ and $\epsilon \sim U[0, 1)$, so every pixel value becomes a
# small interval of width $1/256$. A density $p$ on $[0,1]^D$ then defines a discrete model
# $P(k) = \int_{\text{bin}(k)} p(u)\,du$, and by Jensen's inequality
#
# $$\mathbb E_\epsilon\big[\log p(u)\big] + D\log 256 \;\le\; \log P(k),$$
#
# so the dequantized log-likelihood, shifted by $D \log 256$, is a **lower bound** on an
# honest discrete log-likelihood, and it cannot go to infinity. *Strategy: bounds.* We
# watch both behaviours on real pixel values: a "spiky" model, one Gaussian of width
# $\sigma$ on every grey level, weighted by how often MNIST uses it.

# %%
train_set = data.mnist("train", device=DEVICE)
test = data.mnist("test", device=DEVICE)
EVERY = len(test.images) // N_BPD   # MNIST's test set puts its easier half first: subsets take every k-th digit
pix_gen = torch.Generator().manual_seed(2)
k_pix = torch.round(test.images.flatten().cpu()[torch.randint(0, 784 * len(test), (N_PIXELS,), generator=pix_gen)] * 255)
level_freq = sum(torch.bincount(torch.round(train_set.images[i:min(i + 10_000, N_HIST_TRAIN)].flatten() * 255).long().cpu(),
                                minlength=256) for i in range(0, N_HIST_TRAIN, 10_000)).double()
level_freq = level_freq / level_freq.sum()
log_P = level_freq.clamp_min(1e-12).log()


def spiky_log_density(values, centres, sigma):
    """log of sum_k P(k) N(value; centre_k, sigma^2), per value, in nats (in chunks: 256 per value)."""
    out = []
    for chunk in values.split(20_000):
        d = (chunk[:, None] - centres[None, :]) / sigma
        out.append(torch.logsumexp(log_P[None] - 0.5 * d ** 2, 1))
    return torch.cat(out) - math.log(sigma * math.sqrt(2 * math.pi))


raw = (k_pix / 255).double()
deq = ((k_pix + torch.rand(N_PIXELS, generator=pix_gen, dtype=torch.float64)) / 256)
bound_bits = -(log_P[k_pix.long()].mean() / math.log(2)).item()          # the discrete model, bits per pixel
print(f"{N_PIXELS:,} test pixel values; the discrete histogram model P(k): {bound_bits:.3f} bits/pixel")
print(f"{'sigma':>8} {'on raw values k/255':>22} {'on dequantized values':>23}   (bits/pixel = -E log p + log 256, / log 2)")
sigmas = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-6)
spiky_rows = []
for sigma in sigmas:
    on_raw = -(spiky_log_density(raw, torch.arange(256).double() / 255, sigma).mean() - math.log(256)) / math.log(2)
    on_deq = -(spiky_log_density(deq, (torch.arange(256).double() + 0.5) / 256, sigma).mean() - math.log(256)) / math.log(2)
    spiky_rows.append((sigma, on_raw.item(), on_deq.item()))
    print(f"{sigma:>8.0e} {on_raw.item():>22.2f} {on_deq.item():>23.2f}")
print(f"the dequantized column never goes below the discrete model's {bound_bits:.3f}; the raw column has no floor")

# %% [markdown]
# On the raw values the spiky model's "bits per pixel" fall without limit as the spikes
# narrow; they even turn negative, an absurdity for a code length. On dequantized values
# the same model gets *worse* once its spikes are narrower than a bin, and it never beats
# the discrete histogram's own code length: the bound at work. This is why every bits/dim
# in this chapter is measured on dequantized data, and why the course's convention adds
# $D \log 256$:
#
# $$\text{bits/dim} = \frac{-\log p(u) + D \log 256}{D \log 2}.$$
#
# The uniform density on $[0,1]^D$ has $\log p = 0$ and scores exactly **8 bits/dim**: the
# cost of storing raw bytes. (Check: `metrics.bits_per_dim(0.0, 784, dequantized_8bit=True)`
# below.) A model earns its keep by how far below 8 it gets.
#
# **A baseline that ignores structure.** Before any flow, an honest reference number: a
# separate 256-level histogram for each of the 784 pixel positions, estimated on training
# digits, with no dependence between pixels at all. Its bits/dim on test digits is what
# "knowing where ink usually is" is worth.

# %%
hist = torch.full((784, 256), 0.5, dtype=torch.float64)                               # add-1/2 smoothing
for i in range(0, N_HIST_TRAIN, 10_000):
    k_train = torch.round(train_set.images[i:min(i + 10_000, N_HIST_TRAIN)].flatten(1) * 255).long().cpu()
    hist.scatter_add_(1, k_train.T.contiguous(), torch.ones(784, len(k_train), dtype=torch.float64))
log_hist = (hist / hist.sum(1, keepdim=True)).log()
k_test = torch.round(test.images.flatten(1) * 255).long().cpu()
per_image = log_hist.gather(1, k_test.T.contiguous()).sum(0)                          # log P(k), nats per image
hist_bpd = metrics.bits_per_dim(per_image.mean().item(), 784, dequantized_8bit=False)
print(f"uniform model: {metrics.bits_per_dim(0.0, 784, dequantized_8bit=True):.2f} bits/dim")
print(f"independent per-pixel histograms ({N_HIST_TRAIN:,} training digits): {hist_bpd:.3f} bits/dim "
      f"on all {len(test):,} test digits")

# %% [markdown]
# **The logit transform.** Dequantized values live in $[0, 1]$, but a flow's Gaussian
# base lives on all of $\mathbb R$, and an affine coupling cannot respect a boundary. So
# the flow works on a **logit scale**: with a small $\alpha$ keeping away from 0 and 1,
#
# $$p = \alpha + (1 - 2\alpha)\,u, \qquad y = \log p - \log(1 - p), \qquad \log\Big|\frac{dy}{du}\Big| = \log(1 - 2\alpha) - \log p - \log(1 - p).$$
#
# It acts on each pixel separately, so its Jacobian is diagonal and its log-det a sum of
# $D$ such terms; it is the first layer of the flow, and it counts in the likelihood like
# any other. Written inline and checked against `RealNVP.preprocess` with the same noise:

# %%
def my_preprocess(x, alpha, generator):
    """Uniform dequantization and the logit transform: (y, log |dy/du| per image)."""
    k = torch.round(x * 255)
    u = (k + torch.rand(x.shape, generator=generator)) / 256
    p = alpha + (1 - 2 * alpha) * u
    y = torch.log(p) - torch.log1p(-p)
    return y, (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)


tiny_flow = flow.RealNVP(flow.FlowConfig(n_scales=1, n_couplings=1, channels=4, n_blocks=0))
x8 = test.images[:8].cpu()
mine = my_preprocess(x8, tiny_flow.config.alpha, torch.Generator().manual_seed(3))
pkg = tiny_flow.preprocess(x8, torch.Generator().manual_seed(3))
torch.testing.assert_close(mine, pkg)
torch.testing.assert_close(tiny_flow.postprocess(pkg[0]), torch.round(x8 * 255) / 256, atol=1 / 256, rtol=0)
print(f"inline preprocess = package preprocess; the logit step's log-det for a test digit: "
      f"{pkg[1][0]:.0f} nats (alpha = {tiny_flow.config.alpha})")

# %% [markdown]
# That log-det is large and positive: the logit stretches the interval near 0 (the black
# background, most of a digit) enormously, and the likelihood must pay for the stretch.
# Nothing is free: the flow's job is to take those stretched background values and put
# them somewhere the Gaussian finds probable.

# %% [markdown]
# ## 7 · Verify: invertibility and log-determinants against autograd
#
# *Strategy: verify on small cases where the truth is computable.* For each layer type,
# and for a whole small multi-scale RealNVP on 8x8 images, we take random inputs in
# float64, run forward and inverse, and compare the layer's log-det with $\log|\det J|$ of
# the full Jacobian computed by autograd. All couplings get random output layers first
# (`randomized`), so none is the identity.

# %%
def check_layer(name, fn_forward, fn_inverse, x):
    """Row of the verification table: (name, D, max |f^-1(f(x)) - x|, |log-det - slogdet|)."""
    with torch.no_grad():
        y, ld = fn_forward(x)
        back = fn_inverse(y)
    jac = torch.autograd.functional.jacobian(lambda v: fn_forward(v.view_as(x))[0].flatten(), x.flatten())
    sign, brute = torch.linalg.slogdet(jac)
    return name, x.numel(), (back - x).abs().max().item(), abs(ld.item() - brute.item()), ld.item()


torch.set_default_dtype(torch.float64)
small_cfg = flow.FlowConfig(image_size=8, n_scales=2, n_couplings=2, channels=8, n_blocks=1)
small_model = randomized(flow.RealNVP(small_cfg), sd=0.3).eval()
scale_layer = randomized(flow.Scale(1, 8, 2, 1, flow.Sequence([flow.AffineCoupling(2, 8, 1, "checkerboard", 0)])))
logit_alpha = small_cfg.alpha


def logit_forward(u):
    p = logit_alpha + (1 - 2 * logit_alpha) * u
    return torch.log(p) - torch.log1p(-p), (math.log(1 - 2 * logit_alpha) - torch.log(p) - torch.log1p(-p)).sum().view(1)


def logit_inverse(y):
    return (torch.sigmoid(y) - logit_alpha) / (1 - 2 * logit_alpha)


vgen = torch.Generator().manual_seed(4)
rows = [
    check_layer("checkerboard coupling", layer_cb, layer_cb.inverse, torch.randn(1, 2, 8, 8, generator=vgen)),
    check_layer("channel coupling", layer_ch, layer_ch.inverse, torch.randn(1, 4, 4, 4, generator=vgen)),
    check_layer("squeeze", flow.Squeeze(), flow.Squeeze().inverse, torch.randn(1, 2, 4, 4, generator=vgen)),
    check_layer("logit transform", logit_forward, logit_inverse, torch.rand(1, 1, 8, 8, generator=vgen)),
    check_layer("one scale (with inner level)", scale_layer, scale_layer.inverse, torch.randn(1, 1, 8, 8, generator=vgen)),
    check_layer("whole RealNVP, 2 scales", small_model, small_model.inverse, torch.randn(1, 1, 8, 8, generator=vgen)),
]
torch.set_default_dtype(torch.float32)
print(f"{'layer':>30} {'D':>4} {'max |f^-1(f(x)) - x|':>21} {'|log-det - slogdet(J)|':>23} {'log-det':>9}")
for name, d, inv_err, ld_err, ld in rows:
    print(f"{name:>30} {d:>4} {inv_err:>21.1e} {ld_err:>23.1e} {ld:>9.3f}")
assert all(r[2] < 1e-9 and r[3] < 1e-9 for r in rows), "a layer failed its check"
print("every layer and the whole model: inverse and log-det correct to float64 rounding")

# %% [markdown]
# Every row agrees to rounding error: the inverse undoes the forward pass, and each
# log-det, computed in $O(D)$ from the layer's own numbers, equals the $O(D^3)$ brute force
# (the squeeze's is 0, as a permutation's must be). The whole multi-scale model, with
# its factored-out channels and nested scales, passes too. The package's tests check the
# same properties; here they are in front of us.

# %% [markdown]
# ## 8 · Experiment: a live run
#
# Now a flow learns. The recipe `flow.train_recipe` trains by maximum likelihood on
# dequantized training digits with a fresh noise draw every step; its loss is the bits/dim
# of the batch. For the live run we shrink the recipe (16 hidden channels, 2 couplings per
# group, no residual blocks, no label), raise its learning rate to 3e-3 (a short run can
# afford it; in a two-minute trial on our machine it ended lower than the recipe's 1e-3), and
# give it `LIVE_MINUTES`. A callback keeps a few samples (at temperature 0.7, section 11
# explains) as training goes.

# %%
LIVE_CFG = flow.FlowConfig(n_scales=2, n_couplings=2, channels=16, n_blocks=0, n_classes=0)
snap_gen_seed = 7
snapshots = []


def keep_samples(step, history, model):
    model.eval()
    snapshots.append((step, model.sample(16, temperature=0.7,
                                         generator=torch.Generator().manual_seed(snap_gen_seed)).cpu()))
    model.train()


live_model, live_hist = flow.train_recipe("flow", minutes=LIVE_MINUTES, epochs=1, config=LIVE_CFG, lr=3e-3,
                                          callback=keep_samples, every=SNAP_EVERY)
live_bpd = flow.test_bits_per_dim(live_model, test.images[::EVERY][:N_BPD]).mean().item()
print(f"live run: {live_hist.steps} steps ({live_hist.steps * 64:,} digits) in {live_hist.seconds:.0f} s on "
      f"{runtime.describe()}")
print(f"training bits/dim: first 20 steps {sum(live_hist.losses['loss'][:20]) / 20:.2f}, last 50 "
      f"{live_hist.last(n=50):.3f}; test bits/dim ({N_BPD} digits) {live_bpd:.3f}")
print(f"against the per-pixel histograms ({hist_bpd:.3f}): " + ("below them" if live_bpd < hist_bpd else
      f"still {live_bpd - hist_bpd:.2f} bits/dim above them"))

# %%
fig = Figure(figsize=(12, 4.2), layout="constrained")
ax_loss, ax_snap = fig.subplots(1, 2, width_ratios=[1, 1.3])
plot.loss_curves(live_hist, smooth=0.9, ax=ax_loss, logy=True,
                 title=f"live run: bits/dim of each batch ({live_hist.seconds:.0f} s)")
ax_loss.axhline(8.0, color="grey", linestyle=":", label="uniform: 8")
ax_loss.axhline(hist_bpd, color="C3", linestyle="--", label=f"per-pixel histograms: {hist_bpd:.2f}")
ax_loss.axhline(1.06, color="C2", linestyle="--", label="RealNVP paper: 1.06")
ax_loss.set(ylabel="bits/dim")
ax_loss.legend(fontsize=8)
show_snaps = [snapshots[i] for i in plot.frame_indices(len(snapshots), 6)]
cols = [plot.to_grid(s, nrow=4) for _, s in show_snaps]
ax_snap.imshow(plot.to_grid(torch.stack([torch.from_numpy(c)[None] for c in cols]), nrow=len(cols), pad=3),
               cmap="gray", vmin=0, vmax=1)
ax_snap.set(title="samples (T = 0.7, same noise) at steps " + ", ".join(str(s) for s, _ in show_snaps),
            xticks=[], yticks=[])
fig.suptitle("a small flow learning: the likelihood falls fast, the samples take their time")
fig

# %% [markdown]
# The loss starts near the uniform model's 8 bits/dim (a fresh flow is the identity on the
# logit scale: a poor density that knows nothing, not even where ink usually is) and falls
# fast at first, then ever more slowly. The last printed line says where the live run got
# us against the per-pixel histograms, a baseline that learned the ink's whereabouts by
# simply counting. In our default-mode run one epoch of a small flow was not enough to pass them: a
# flow has to discover even the marginals of each pixel through its couplings, and the
# shipped model needed its full recipe (many epochs, section 9) to go far below. The
# samples lag behind the curve: speckled noise first, then a blob in the middle, then
# smudges. Keep that gap between the number and the pictures in mind; section 12 measures
# it.
#
# ## 9 · The shipped flow, measured
#
# The course's flow is the recipe `flow.RECIPES["flow"]` (section 5 printed it), a
# class-conditional multi-scale RealNVP trained on one CPU thread. On a CPU the notebook
# loads it; on a GPU it trains the larger recipe `flow_gpu` itself.

# %%
if runtime.use_pretrained():
    flow_model = dj.pretrained("flow")
else:
    flow_model = flow.train_recipe("flow_gpu", epochs=1 if FAST else None)[0]
flow_model = flow_model.to(DEVICE).eval()
flow_info = getattr(flow_model, "checkpoint_info", {"metrics": {}, "provenance": {}})
rec = flow_info["metrics"]
print(f"config: {flow_model.config}")
print("recorded: " + (", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items())
                      or "nothing"))
print(f"made by: {flow_info['provenance'].get('command', 'this notebook')}")

# %% [markdown]
# We re-measure the bits/dim on `N_BPD` test digits, and we do it by hand from the latent,
# because one encoding gives us everything later sections need. For each digit: dequantize
# and take the logit (with its log-det), run the flow to get $z$ and its log-det, then the
# Gaussian log-density of $z$ under **each** class's base mean $\mu_c$:
#
# $$\log p(u \mid c) = -\tfrac12 \lVert z - \mu_c \rVert^2 - \tfrac D2 \log 2\pi + \log|\det J|.$$
#
# With the label prior $p(c)$, the model of the image alone is the exact mixture $\log p(u) =
# \log \sum_c p(c)\, p(u \mid c)$. We check the hand computation against the package's
# `bits_per_dim` with the same noise.

# %%
@torch.no_grad()
def encode(model, x, seed):
    """(z, total log-det per image) for images x, one dequantization draw seeded with `seed`."""
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    y, ld_pre = model.preprocess(x, g)
    z, ld = model(y)
    return z, ld + ld_pre


def class_log_probs(model, z, log_det, temperature=1.0):
    """log p_T(u | c) in nats for every class c: (B, n_classes). T = 1 is the model itself;
    T != 1 the density whose samples are mean + T * noise (section 11)."""
    sq = (z[:, None] - model.class_means[None]).pow(2).flatten(2).sum(2)
    d = model.dims
    return -0.5 * sq / temperature ** 2 - 0.5 * d * math.log(2 * math.pi * temperature ** 2) + log_det[:, None]


x_eval, y_eval = test.images[::EVERY][:N_BPD], test.labels[::EVERY][:N_BPD]
z_eval, ld_eval = zip(*(encode(flow_model, x_eval[i:i + 250], seed=100 + i) for i in range(0, N_BPD, 250)))
z_eval, ld_eval = torch.cat(z_eval), torch.cat(ld_eval)
with torch.no_grad():
    lp_class = class_log_probs(flow_model, z_eval, ld_eval)                    # (N_BPD, 10)
    lp_marginal = torch.logsumexp(lp_class + flow_model.log_label_prior, 1)
    lp_given = lp_class.gather(1, y_eval[:, None]).squeeze(1)
    g_check = torch.Generator(device=DEVICE).manual_seed(100)
    torch.testing.assert_close(metrics.bits_per_dim(lp_marginal[:250], 784, dequantized_8bit=True),
                               flow_model.bits_per_dim(x_eval[:250], generator=g_check))
bpd_marginal = metrics.bits_per_dim(lp_marginal, 784, dequantized_8bit=True).double().cpu()
bpd_given = metrics.bits_per_dim(lp_given, 784, dequantized_8bit=True).double().cpu()
se = bpd_marginal.std().item() / math.sqrt(N_BPD)
print("hand-computed bits/dim = package bits_per_dim (same noise)")

TARGET, LIT = 1.05, {"RealNVP (Dinh et al. 2017)": 1.06, "Glow (Kingma & Dhariwal 2018)": 1.05,
                     "public PyTorch tutorial, simple flow": 1.078, "public PyTorch tutorial, multi-scale": 1.020}
recorded = rec.get("test_bits_per_dim")
print(f"\n{'':>42} {'bits/dim':>9}")
print(f"{'uniform model':>42} {8.0:>9.3f}")
print(f"{'per-pixel histograms (section 6)':>42} {hist_bpd:>9.3f}")
print(f"{'live run (section 8)':>42} {live_bpd:>9.3f}")
print(f"{'shipped flow, p(x), recorded (10,000)':>42} {recorded if recorded is not None else float('nan'):>9.3f}")
print(f"{f'shipped flow, p(x), here ({N_BPD:,} digits)':>42} {bpd_marginal.mean():>9.3f} ± {se:.3f} (s.e.)")
for name, v in LIT.items():
    print(f"{name:>42} {v:>9.3f}")
best = recorded if recorded is not None else bpd_marginal.mean().item()
print(f"\ntarget <= {TARGET}: " + ("met" if best <= TARGET else f"missed by {best - TARGET:.3f} bits/dim "
                                     f"({(best - TARGET) * 784:.0f} bits per digit)")
      + f" ({'recorded' if recorded is not None else 'measured here'}); trained "
      f"{rec.get('train_seconds', float('nan')) / 60:.0f} min on {rec.get('hardware', runtime.describe())}")
print(f"median {bpd_marginal.median():.3f}, 95th percentile {bpd_marginal.quantile(0.95):.3f} bits/dim per digit")

# %% [markdown]
# How to read the table. Every flow line is far below the per-pixel histograms: the
# dependence between pixels is where the bits are. The shipped flow, trained on one CPU
# thread, sits above the papers' numbers, and the target line prints the gap (the papers'
# models and the tutorial's trained for hours on GPUs with far larger networks; the
# package's `flow_gpu` recipe is the one meant to reach 1.05). The "here" number uses
# `N_BPD` digits (every k-th of the test set, not the first ones: MNIST's test set puts its
# easier half first, and the first 1,000 digits score about 0.04 bits/dim better than all
# 10,000) and one noise draw each, so it differs from the recorded value (all 10,000 digits)
# by about its standard error. Per digit, bits/dim vary a lot: thick, unusual digits cost
# more, which is why the median and a high quantile are printed too.

# %% [markdown]
# ## 10 · The conditional flow: what is the label worth?
#
# The shipped flow is **class-conditional** in the simplest way: each class $c$ has its
# own learned mean $\mu_c$ of the Gaussian base (one $28 \times 28$ array, the
# `class_means` parameter), and the invertible map is shared. To draw a 3, start from $z =
# \mu_3 + \varepsilon$. Rows ask for 0 to 9; a column keeps the same noise $\varepsilon$.

# %%
cond_labels = torch.arange(10, device=DEVICE).repeat_interleave(10)
eps_cols = torch.randn(10, 1, 28, 28, generator=torch.Generator().manual_seed(8)).to(DEVICE)


@torch.no_grad()
def decode(model, z):
    """Images in [0, 1] from latents z: the inverse flow, then the inverse logit."""
    return model.postprocess(model.inverse(z))


def draw_flow(model, labels, temperature, eps):
    """Samples with explicit noise: x = f^-1(mu_label + T * eps)."""
    return decode(model, model.class_means[labels] + temperature * eps)


with torch.no_grad():
    grid_images = draw_flow(flow_model, cond_labels, 0.7, eps_cols.repeat(10, 1, 1, 1))
fig = Figure(figsize=(6.4, 6.6), layout="constrained")
ax = fig.add_subplot()
ax.imshow(plot.to_grid(grid_images.cpu(), nrow=10), cmap="gray", vmin=0, vmax=1)
ax.set_xticks([29 * j + 13.5 for j in range(10)], [f"eps{j + 1}" for j in range(10)], fontsize=7)
ax.set_yticks([29 * i + 13.5 for i in range(10)], list(range(10)), fontsize=7)
ax.set(xlabel="noise (the same down a column)", ylabel="label asked for",
       title="the shipped flow at T = 0.7: label in, digit out")
fig

# %% [markdown]
# Does the label matter? Two measurements. First the judge's **label accuracy** on flow
# samples asked for the test set's labels (section 12 reuses these samples). Second, a
# measurement no GAN can make: how many **bits** the label saves in describing a digit.
# For a test digit, $\log_2 p(x \mid c) - \log_2 p(x) = \log_2 p(c \mid x) - \log_2 p(c)$ by
# Bayes' rule, so the saving is at most $-\log_2 p(c) \approx \log_2 10 = 3.32$ bits per
# digit, reached when the model is certain of the class from the image. *Strategy: use an
# identity.* The same Bayes rule turns the flow into a **classifier**, $\arg\max_c p(c)\,
# p(x \mid c)$, whose test accuracy we can read off the encodings we already have.

# %%
fid_labels = test.labels[:N_FID]
fid_eps = torch.randn(N_FID, 1, 28, 28, generator=torch.Generator().manual_seed(9)).to(DEVICE)


def flow_samples(temperature, n=N_FID):
    """n samples of the shipped flow at `temperature`, asked for the test labels, fixed noise."""
    return torch.cat([draw_flow(flow_model, fid_labels[i:min(i + 250, n)], temperature, fid_eps[i:min(i + 250, n)])
                      for i in range(0, n, 250)])


t0 = time.perf_counter()
flow_t1 = flow_samples(1.0)
flow_sample_seconds = time.perf_counter() - t0
flow_acc = metrics.label_accuracy(flow_t1, fid_labels)
saved_bits = ((lp_given - lp_marginal) / math.log(2)).cpu()
flow_classifier = (lp_class + flow_model.log_label_prior).argmax(1)
print(f"label accuracy of {N_FID:,} flow samples (T = 1): {flow_acc:.3f} (chance 0.1); "
      f"sampling took {flow_sample_seconds:.1f} s")
print(f"bits the label saves per test digit: mean {saved_bits.mean():.2f} of at most "
      f"{-(flow_model.log_label_prior.min() / math.log(2)).item():.2f}; "
      f"that is {(bpd_marginal - bpd_given).mean():.4f} bits/dim")
print(f"p(x | y) bits/dim here {bpd_given.mean():.3f}, recorded "
      f"{rec.get('test_bits_per_dim_given_label', float('nan')):.3f}; p(x) here {bpd_marginal.mean():.3f}")
print(f"the flow as a classifier (Bayes' rule on its own likelihoods): "
      f"{(flow_classifier == y_eval).float().mean():.3f} accuracy on {N_BPD:,} test digits")

# %% [markdown]
# How to read these lines. The label accuracy says how often the judge reads a sample as
# the digit asked for: anything far above the 10% of chance means the class means steer
# the samples, and the grid above shows what the misses look like (in a weak flow, mostly
# scribbles that are no digit at all rather than clean wrong digits). The bits the label
# saves approach their ceiling of about $\log_2 10$ exactly when the flow can already tell
# the class from the image, so compare that line with the flow's accuracy as a classifier:
# the two rise and fall together. Seen per dimension, the label is tiny whatever the
# model: at most 3.3 bits spread over 784 pixels is a few thousandths of a bit per pixel,
# invisible next to the rest of the bits/dim. The *class* of a digit is a small part of
# its information; the style, thickness and exact strokes are most of it. A likelihood
# measures the second thing well and the first hardly at all.

# %% [markdown]
# ## 11 · Temperature, and walking in the latent space
#
# Sampling at **temperature** $T$ means $z = \mu_c + T\varepsilon$: $T = 1$ is the model
# itself, $T < 1$ draws from the centre of the Gaussian, where the density is highest.
# RealNVP and Glow both show samples at $T < 1$ because they look cleaner. The slider below
# moves $T$ with the noise held fixed.

# %%
temps = [0.0, 0.3, 0.5, 0.7, 0.85, 1.0, 1.2]
t_labels = torch.arange(16, device=DEVICE) % 10
t_eps = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(10)).to(DEVICE)
t_frames = torch.stack([draw_flow(flow_model, t_labels, T, t_eps).cpu() for T in temps])   # (T, 16, 1, 28, 28)
temp_scrubber = widgets.FrameScrubber(t_frames, titles=[f"temperature T = {T}" for T in temps],
                                      label="T index", scale=2, nrow=8)
temp_scrubber

# %%
temp_scrubber.strip(max_frames=len(temps), title="the same 16 noise vectors at rising temperature (static view)")

# %% [markdown]
# At $T = 0$ each class draws the image of its mean $\mu_c$, the point of highest base
# density: a smooth, average picture. As $T$ rises the samples gain variety, and with it
# the flow's typical defects: broken strokes, specks of ink in the background, stray
# blobs; at $T = 1.2$, beyond the model itself, they fall apart. Section 12 puts numbers
# on this.
#
# **Interpolation.** A flow has something a GAN lacks: an **encoder** for free. The
# latent of a real digit is $z = f(\text{logit}(u))$, exact and unique, and decoding it
# gives the digit back. Chapter 00 walked in a straight line between two digits in pixel
# space and saw double exposures; chapter 06 walked in the GAN's latent space. Here we
# encode two test digits of different classes, walk the straight line $z_t = (1-t) z_a + t
# z_b$, and decode each point.

# %%
pair_gen = torch.Generator().manual_seed(11)
first_idx, second_idx = [], []
while len(first_idx) < N_PAIRS:
    a, b = torch.randint(0, len(test), (2,), generator=pair_gen).tolist()
    if test.labels[a] != test.labels[b]:
        first_idx.append(a)
        second_idx.append(b)
x_a, x_b = test.images[first_idx], test.images[second_idx]
z_a, _ = encode(flow_model, x_a, seed=12)
z_b, _ = encode(flow_model, x_b, seed=13)
with torch.no_grad():
    y_a, _ = flow_model.preprocess(x_a, torch.Generator(device=DEVICE).manual_seed(12))
    logit_err = (flow_model.inverse(z_a) - y_a).abs().max().item()
    pixel_err = (decode(flow_model, z_a) - x_a).abs().max().item()
print(f"inverse(encode(x)) vs the dequantized logit input: max difference {logit_err:.1e}; decoded vs the "
      f"8-bit digit: max {pixel_err * 255:.2f} grey levels (the dequantization noise, at most about 2)")
ts = torch.linspace(0, 1, 9, device=DEVICE)
with torch.no_grad():
    z_path = torch.stack([(1 - t) * z_a + t * z_b for t in ts])                          # (9, pairs, 1, 28, 28)
    latent_path = torch.stack([decode(flow_model, zt) for zt in z_path])
    pixel_path = torch.stack([(1 - t) * x_a + t * x_b for t in ts])
interp_scrubber = widgets.FrameScrubber(
    torch.cat([latent_path[:, :4], pixel_path[:, :4]], 1).cpu(), titles=[f"t = {t:.3f} (top row: a line in z; bottom row: a line in pixels)" for t in ts.tolist()],
    label="t", scale=3, nrow=4)
interp_scrubber

# %%
fig = Figure(figsize=(11, 6.2), layout="constrained")
ax_z, ax_p = fig.subplots(2, 1)
for ax, path, title in ((ax_z, latent_path, "a straight line in the flow's latent z"),
                        (ax_p, pixel_path, "a straight line in pixel space")):
    ax.imshow(plot.to_grid(path[:, :4].transpose(0, 1).reshape(-1, 1, 28, 28).cpu(), nrow=len(ts)),
              cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([29 * j + 13.5 for j in range(len(ts))], [f"{t:.2f}" for t in ts.tolist()], fontsize=7)
    ax.set(yticks=[], xlabel="t (0 = first test digit, 1 = second)", title=title)
fig.suptitle("interpolating between four pairs of test digits (the static view of the scrubber above)")
fig

# %% [markdown]
# Both paths start and end on the real digits (the flow decodes its encodings exactly).
# In between, the latent path is no double exposure: strokes move and bend. But the middle
# images are often thin, faint or broken. Does the judge agree? We count, as chapter 06
# did, how often a path passes through an image the judge is unsure of (top probability
# below 0.9), and we look at the size of $z$ along the way.

# %%
judge_net = judge.judge(DEVICE)


def top_probability(images):
    with torch.no_grad():
        return judge_net.logits(images).softmax(-1).max(-1).values


n_steps = len(ts)
for name, path in (("latent z", latent_path), ("pixels", pixel_path)):
    conf = top_probability(path.flatten(0, 1)).view(n_steps, -1).cpu()
    lowest = conf.min(0).values
    print(f"{name:>8}: {N_PAIRS} paths; lowest judge confidence on a path: median {lowest.median():.2f}; "
          f"paths dipping below 0.9: {(lowest < 0.9).float().mean():.0%}")
z_norm = (z_path - flow_model.class_means[test.labels[first_idx]][None]).flatten(2).norm(dim=2).cpu()
print(f"|z - mu_(first label)| / sqrt(D): at t = 0 {z_norm[0].mean() / 28:.2f}, "
      f"at t = 0.5 {z_norm[n_steps // 2].mean() / 28:.2f}, at t = 1 {z_norm[-1].mean() / 28:.2f} "
      f"(1.0 is typical for a sample at T = 1)")

# %% [markdown]
# Compare the two lines. Whichever path wins, neither avoids uncertain images: going from
# a 3 to a 7 must pass through something that is neither, and the flow's latent, unlike a
# GAN's, was never pushed to make that crossing short (the flow is trained only to give
# real digits high density, not to keep its latent space tidy between them). The distance
# printout shows what a straight line does to the latent: halfway between two
# independent-looking codes, the distance from the class mean shrinks (roughly by
# $1/\sqrt2$ for independent noise), which is like sampling at a lower temperature.
# (Exercise 3 tries the spherical path of chapter 06, which keeps that distance.)

# %% [markdown]
# ## 12 · Diagnose: what do the constraints cost?
#
# Seed 002 ends with a bold claim: flow-based generation "may be the best approach" apart
# from runtime, since sampling is one step, training is stable, and diversity comes for
# free. The first two are true, and we saw both. But the claim is loose about the thing
# we actually want, the samples. *Strategy: diagnose with a controlled comparison.* We
# measure FID-MNIST (chapter 06's instrument: lower is better) on the same number of
# samples for the shipped flow, the shipped GAN and conditional GAN of chapter 06, and the
# VAE of chapter 04, next to real training digits as the reference row, together with the
# share of samples the judge is unsure of, the class-histogram entropy (coverage; 3.32
# bits is uniform), the time to draw 100 samples, and the bits/dim where a model has one.

# %%
G_gan = (dj.pretrained("gan") if runtime.use_pretrained() else gan.train_recipe("gan", epochs=1 if FAST else None)[0]).to(DEVICE).eval()
G_cgan = (dj.pretrained("cgan") if runtime.use_pretrained() else gan.train_recipe("cgan", epochs=1 if FAST else None)[0]).to(DEVICE).eval()
vae_model = (dj.pretrained("vae") if runtime.use_pretrained() else vae.train_recipe("vae", epochs=1 if FAST else None)[0]).to(DEVICE).eval()


def chunks(draw, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([draw(min(500, n - i), i, g) for i in range(0, n, 500)])


def timed_samples(draw, n, seed=20):
    t0 = time.perf_counter()
    with torch.no_grad():
        images = chunks(draw, n, seed)
    return images, (time.perf_counter() - t0) / n * 100


def unsure_share(images):
    return (top_probability(images) < 0.9).float().mean().item()


samples = {
    "real training digits": (train_set.images[:N_FID], None),
    "flow, T = 1": (flow_t1, flow_sample_seconds / N_FID * 100),
    "DCGAN (ch. 06)": timed_samples(lambda n, i, g: G_gan.sample(n, generator=g), N_FID),
    "conditional DCGAN (ch. 06)": timed_samples(lambda n, i, g: G_cgan.sample(n, labels=fid_labels[i:i + n], generator=g), N_FID),
    "VAE (ch. 04)": timed_samples(lambda n, i, g: vae_model.sample(n, generator=g), N_FID),
}
recorded_fid = {"flow, T = 1": rec.get("fid_mnist"),
                "DCGAN (ch. 06)": G_gan.checkpoint_info["metrics"].get("fid_mnist") if hasattr(G_gan, "checkpoint_info") else None,
                "conditional DCGAN (ch. 06)": G_cgan.checkpoint_info["metrics"].get("fid_mnist") if hasattr(G_cgan, "checkpoint_info") else None,
                "VAE (ch. 04)": vae_model.checkpoint_info["metrics"].get("fid_mnist") if hasattr(vae_model, "checkpoint_info") else None}
bpd_col = {"flow, T = 1": f"{bpd_marginal.mean():.3f}",
           "DCGAN (ch. 06)": "none", "conditional DCGAN (ch. 06)": "none", "VAE (ch. 04)": "binary only"}
fid_here = {}
print(f"Table 1 · {N_FID:,} samples per row (recorded: 10,000 samples, when the checkpoint was made)")
print(f"{'':>28} {'FID here':>9} {'recorded':>9} {'unsure':>7} {'entropy':>8} {'ms/100':>7} {'bits/dim':>11}")
for name, (images, ms) in samples.items():
    fid_here[name] = metrics.fid_mnist(images)
    r = recorded_fid.get(name)
    print(f"{name:>28} {fid_here[name]:>9.1f} {'-' if r is None else f'{r:.1f}':>9} {unsure_share(images):>7.1%} "
          f"{metrics.class_histogram(images).entropy_bits:>8.3f} {'-' if ms is None else f'{ms * 1e3:.0f}':>7} "
          f"{bpd_col.get(name, '-'):>11}")
print(f"flow (T = 1) FID-MNIST / conditional DCGAN's: {fid_here['flow, T = 1'] / fid_here['conditional DCGAN (ch. 06)']:.0f} times; "
      f"/ DCGAN's: {fid_here['flow, T = 1'] / fid_here['DCGAN (ch. 06)']:.1f} times")

# %%
fig = Figure(figsize=(13, 4.4), layout="constrained")
fid_here["flow, T = 0.7 (sec. 12b)"] = float("nan")
show = [("flow, T = 1", samples["flow, T = 1"][0]), ("flow, T = 0.7 (sec. 12b)", flow_samples(0.7, 36)),
        ("conditional DCGAN (ch. 06)", samples["conditional DCGAN (ch. 06)"][0]),
        ("real training digits", samples["real training digits"][0])]
for ax, (name, images) in zip(fig.subplots(1, 4), show):
    plot.grid(images[:36].cpu(), nrow=6, ax=ax, title=name + ("" if math.isnan(fid_here[name]) else f"\nFID-MNIST {fid_here[name]:.1f}"))
fig.suptitle(f"samples asked for the same labels (FID-MNIST on {N_FID:,} samples each)")
fig

# %% [markdown]
# Table 1 is the verdict, and the ratio line under it says how far apart the flow and
# the GANs are in FID-MNIST; the "unsure" column and the grid show why: broken strokes,
# specks of ink in the background, digits dissolving into scribbles, which the judge
# cannot place. One part of the seed's praise holds in principle: maximum likelihood
# punishes a missed mode without limit (a test digit of density zero costs infinitely
# many bits), so a flow cannot quietly drop a kind of digit the way chapter 06's collapsed
# GAN did. Its *diversity* is built in; its *quality* is not. (The entropy column is a
# weak coverage test here, because the conditional models were asked for every digit
# equally often; it mostly drops when samples stop looking like any digit.) Sampling is
# one pass, but through the same large network that computes the likelihood: the time
# per 100 samples is well above the GAN generator's.
#
# Why would a model with an exact likelihood draw worse digits? Three reasons, each a
# constraint the exact likelihood imposes:
#
# - **Same size in and out.** $f$ must be a bijection of $\mathbb R^{784}$, so the flow
#   cannot concentrate its samples on a thin set of digit-like images the way a GAN's
#   100-number code does; it must spread probability over all 784 dimensions, including
#   the "noise" directions around every digit.
# - **Restricted layers.** Each coupling moves half of the numbers by an elementwise
#   affine map; the expressive power comes only from stacking many of them, and our CPU
#   model has few.
# - **The objective itself.** Maximum likelihood is an average of $\log p$ over test
#   digits; the next two experiments show that this average and sample quality can move
#   in opposite directions.

# %% [markdown]
# ### 12b · Better samples, worse likelihood: the temperature
#
# A flow at temperature $T$ is itself a flow (the base Gaussian has variance $T^2$), so
# its exact test likelihood is computable from the latents we already have:
#
# $$\log p_T(u \mid c) = -\frac{\lVert z - \mu_c \rVert^2}{2T^2} - \frac D2 \log\big(2\pi T^2\big) + \log|\det J|.$$
#
# We sweep $T$ and measure both sides: the test bits/dim of $p_T$ (exact, on the `N_BPD`
# test digits) and the FID-MNIST, judge-unsure share and label accuracy of `N_T` samples.

# %%
sweep_T = [0.3, 0.5, 0.7, 0.85, 1.0]
sweep = []
for T in sweep_T:
    with torch.no_grad():
        lp_T = torch.logsumexp(class_log_probs(flow_model, z_eval, ld_eval, T) + flow_model.log_label_prior, 1)
    bpd_T = metrics.bits_per_dim(lp_T, 784, dequantized_8bit=True).mean().item()
    images = flow_t1[:N_T] if T == 1.0 else flow_samples(T, N_T)
    sweep.append((T, bpd_T, metrics.fid_mnist(images), unsure_share(images),
                  metrics.label_accuracy(images, fid_labels[:N_T])))
print(f"Table 2 · the shipped flow at temperature T ({N_BPD:,} test digits for bits/dim, {N_T:,} samples for the rest)")
print(f"{'T':>5} {'test bits/dim of p_T':>21} {'FID-MNIST':>10} {'judge unsure':>13} {'label accuracy':>15}")
for T, b, f, u, a in sweep:
    print(f"{T:>5} {b:>21.3f} {f:>10.1f} {u:>13.1%} {a:>15.3f}")
best_T = min(sweep, key=lambda r: r[2])
at_1 = sweep[-1]
best_bpd_T = min(sweep, key=lambda r: r[1])
print(f"lowest test bits/dim at T = {best_bpd_T[0]}; lowest FID-MNIST at T = {best_T[0]}: {best_T[2]:.1f} "
      f"vs {at_1[2]:.1f} at T = 1, at a test bits/dim {best_T[1] - at_1[1]:+.3f} from T = 1's "
      f"({(best_T[1] - at_1[1]) * 784:+.0f} bits per digit)")

# %%
fig = Figure(figsize=(11, 3.8), layout="constrained")
ax_b, ax_f = fig.subplots(1, 2)
ax_b.plot([r[0] for r in sweep], [r[1] for r in sweep], "o-", color="C0")
ax_b.set(xlabel="temperature T", ylabel="test bits/dim of p_T (lower is better)", title="the likelihood of the test digits under p_T")
ax_f.plot([r[0] for r in sweep], [r[2] for r in sweep], "o-", color="C3", label="FID-MNIST")
ax_f.set(xlabel="temperature T", ylabel="FID-MNIST (lower is better)", title="the quality of samples drawn at T")
ax_u = ax_f.twinx()
ax_u.plot([r[0] for r in sweep], [100 * r[3] for r in sweep], "s--", color="C7", label="judge unsure, %")
ax_u.set(ylabel="judge unsure (%)")
ax_f.legend(loc="upper left", fontsize=8)
ax_u.legend(loc="upper center", fontsize=8)
fig.suptitle("one model, one knob: the likelihood and the look of the samples pull apart")
fig

# %% [markdown]
# Read the two panels against each other. The likelihood is best at (or very near) $T =
# 1$: that is the density training optimized, and a colder model is a worse description
# of the test digits; the coldest temperatures cost thousands of bits per digit. The
# samples need not follow: a colder flow avoids the low-density fringe where its defects
# live, and the published RealNVP and Glow samples are shown at $T < 1$ for that reason.
# The verdict line prints where FID-MNIST is lowest in our run and what that temperature
# costs in likelihood. Where the two optima differ, one model with one knob gives **better
# samples at a worse likelihood**: the two measures disagree about the same model. (FID
# also rewards variety, so somewhere colder still, as the samples become too alike, it
# must turn up again; at T = 0 every sample of a class is the same image.)
#
# ### 12c · Good likelihood, bad samples: a mixture with noise
#
# The reverse direction needs no training at all, only an identity. *Strategy: bounds.*
# Take the flow $p$ and mix it with the uniform density $q = 1$ on $[0,1]^D$:
# $p_{\text{mix}} = 0.01\,p + 0.99\,q$. Since $\log p_{\text{mix}} \ge \log 0.01 + \log p$,
#
# $$\text{bits/dim}(p_{\text{mix}}) \le \text{bits/dim}(p) + \frac{\log_2 100}{784} = \text{bits/dim}(p) + 0.0085,$$
#
# while 99% of its samples are uniform noise (Theis et al. 2016 make this argument). Both
# densities are exact here, so we compute the mixture's test bits/dim exactly and measure
# its samples.

# %%
with torch.no_grad():
    lp_mix = torch.logsumexp(torch.stack([math.log(0.01) + lp_marginal,
                                          torch.full_like(lp_marginal, math.log(0.99))]), 0)
bpd_mix = metrics.bits_per_dim(lp_mix, 784, dequantized_8bit=True).mean().item()
mix_gen = torch.Generator().manual_seed(21)
from_flow = torch.rand(N_FID, generator=mix_gen) < 0.01
noise_images = torch.round(torch.rand(N_FID, 1, 28, 28, generator=mix_gen) * 255) / 255
mix_samples = torch.where(from_flow[:, None, None, None].to(DEVICE), flow_t1, noise_images.to(DEVICE))
print(f"{'':>30} {'test bits/dim':>14} {'FID-MNIST':>10} {'judge unsure':>13}")
print(f"{'the flow':>30} {bpd_marginal.mean():>14.4f} {fid_here['flow, T = 1']:>10.1f} {unsure_share(flow_t1):>13.1%}")
print(f"{'1% flow + 99% uniform noise':>30} {bpd_mix:>14.4f} {metrics.fid_mnist(mix_samples):>10.1f} "
      f"{unsure_share(mix_samples):>13.1%}")
print(f"the mixture costs {bpd_mix - bpd_marginal.mean().item():.4f} bits/dim (bound {math.log2(100) / 784:.4f}); "
      f"{from_flow.float().mean():.1%} of its {N_FID:,} samples come from the flow")

# %% [markdown]
# A model whose samples are 99% static is, by bits/dim, indistinguishable from the flow at
# the precision anyone reports (the difference is in the third decimal). And chapter 06's
# GAN is the mirror image: its samples are the best in Table 1, yet it has **no density**
# on the 784-dimensional cube at all (its samples lie on a surface of at most 100
# dimensions, the size of its code), so its test likelihood is not even defined. Bits/dim
# and sample quality measure different things; neither is a proxy for the other. An exact
# likelihood is a fine way to *train* (stable, covers every mode) and to *compare density
# models*, but it does not promise pictures. So the seed's "may be the best approach" does
# not survive our numbers: on MNIST at our budget the flow has the exact likelihood and the
# stability, and draws far less convincing digits than the GANs (Table 1 also places it
# against the VAE); published flows on natural images have likewise trailed GANs and
# diffusion models in sample quality.
# Seed 002's last slide hopes for flows with full, unconstrained Jacobians; section 3
# measured why nobody trains those on images.

# %% [markdown]
# ## 13 · Verify: the numbers of this chapter in one place

# %%
print(f"Jacobian: dense 784x784 log-det {dense_total * 1e3:.0f} ms vs coupling sum {t_sum * 1e6:.1f} µs; "
      f"slogdet grows ~ D^{exponent:.1f}")
print(f"every layer type and a whole 2-scale RealNVP: inverse and log-det equal to autograd "
      f"(worst errors {max(r[2] for r in rows):.0e}, {max(r[3] for r in rows):.0e})")
print(f"bits/dim: uniform 8, per-pixel histograms {hist_bpd:.3f}, live run {live_bpd:.3f}, shipped flow "
      f"{bpd_marginal.mean():.3f} here / {recorded if recorded is not None else float('nan'):.3f} recorded; "
      f"target {TARGET}: " + ("met" if best <= TARGET else f"missed by {best - TARGET:.3f}"))
print(f"label: accuracy {flow_acc:.3f}; worth {saved_bits.mean():.2f} bits per digit; flow as classifier "
      f"{(flow_classifier == y_eval).float().mean():.3f}")
print(f"FID-MNIST ({N_FID:,}): flow {fid_here['flow, T = 1']:.1f}, "
      f"DCGAN {fid_here['DCGAN (ch. 06)']:.1f}, conditional DCGAN {fid_here['conditional DCGAN (ch. 06)']:.1f}, "
      f"VAE {fid_here['VAE (ch. 04)']:.1f}")
print(f"\nwhole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")

# %% [markdown]
# ## Exercises
#
# **1. The inverse of the logit.** Show that `postprocess` inverts the logit transform of
# `preprocess`, and compute the log-det of the *inverse* map from $y$ to $u$. Why does the
# sampler never need it?
#
# <details><summary>Solution</summary>
#
# From $y = \log p - \log(1-p)$ we get $p = \sigma(y)$, the sigmoid, and $u = (p -
# \alpha)/(1 - 2\alpha)$, which is `postprocess` (it also clamps to $[0, 1]$, a no-op for
# $u$ inside the range). Its log-det is minus the forward one: $\log|du/dy| = \log \sigma(y)
# + \log(1 - \sigma(y)) - \log(1 - 2\alpha)$. The sampler only *moves* points, $x =
# f^{-1}(z)$; log-determinants are needed only to evaluate densities, and the density of
# a sample is computed (if wanted) by running it forward.
#
# </details>
#
# **2. An additive coupling.** NICE (Dinh et al. 2015), RealNVP's predecessor, used $y_b =
# x_b + t(x_a)$, with no scale. What is its log-det? Train a live-run-sized flow in which
# every $s$ is zero (hint: set every coupling's `scale` parameter to zero and freeze it)
# and compare its bits/dim after the same minutes.
#
# <details><summary>Solution</summary>
#
# The Jacobian is triangular with ones on the diagonal, so the log-det is 0: an additive
# coupling preserves volume. Only the logit step (and, in NICE, a final diagonal scaling)
# can change volume. With `scale` frozen at zero ($s = 0 \cdot \tanh(\cdot) = 0$):
#
# ```python
# def freeze_scales(step, history, model):
#     for m in model.modules():
#         if isinstance(m, flow.AffineCoupling):
#             m.scale.data.zero_()
#
# additive, hist = flow.train_recipe("flow", minutes=LIVE_MINUTES, epochs=1, config=LIVE_CFG,
#                                    callback=freeze_scales, every=1)
# print(flow.test_bits_per_dim(additive, test.images[::EVERY][:N_BPD]).mean())
# ```
#
# (The callback runs after each step, so the scales are reset every step; the gradient
# they receive is discarded.) Expect the volume-preserving flow to do worse for the same
# minutes: the background pixels, stretched by the logit, can only be *moved* by its
# couplings, never squeezed, so the Gaussian must pay for their spread. Dinh et al. added
# the scale in RealNVP for this reason.
#
# </details>
#
# **3. A rounder path.** Repeat the interpolation of section 11 with chapter 06's
# `gan.slerp` on the flattened latents (relative to the class means) instead of the
# straight line. Does the judge get less unsure in the middle?
#
# <details><summary>Solution</summary>
#
# ```python
# mu_a = flow_model.class_means[test.labels[first_idx]]
# mu_b = flow_model.class_means[test.labels[second_idx]]
# e_a, e_b = (z_a - mu_a).flatten(1), (z_b - mu_b).flatten(1)
# e_path = gan.slerp(e_a, e_b, ts).view(len(ts), N_PAIRS, 1, 28, 28)
# mu_path = torch.stack([(1 - t) * mu_a + t * mu_b for t in ts])
# slerp_images = torch.stack([decode(flow_model, m + e) for m, e in zip(mu_path, e_path)])
# conf = top_probability(slerp_images.flatten(0, 1)).view(len(ts), -1).cpu()
# print((conf.min(0).values < 0.9).float().mean())
# ```
#
# The slerp keeps the noise part at its typical length, so the middle images are less
# faint and thin; the judge still dips between classes, because the crossing from one
# digit to another is forced by geometry, not by the path's length.
#
# </details>
#
# **4. How many bits is a pixel's neighbourhood worth?** The per-pixel histograms of
# section 6 ignore all dependence between pixels; the flow uses it. Express the difference
# in bits per digit, and compare it with what the label is worth (section 10).
#
# <details><summary>Solution</summary>
#
# `(hist_bpd - bpd_marginal.mean().item()) * 784` bits per digit: over a hundred with our flow
# (a better flow gains more), against about 2 for the label. Almost all of the information in a digit is in how its pixels go
# together (stroke continuity, thickness, style), and almost none in which of ten classes
# it belongs to. That is why a likelihood is such a blunt instrument for judging whether a
# model draws the *right* digit.
#
# </details>
#
# **5. The flow as a classifier, honestly.** Section 10 read the flow's class from $p(c)
# p(x \mid c)$. Is that a good classifier compared with the judge (≥ 99%)? What does it say
# about where the flow spends its capacity?
#
# <details><summary>Solution</summary>
#
# Compare `(flow_classifier == y_eval).float().mean()` with
# `metrics.label_accuracy(x_eval, y_eval)`. A generative classifier has to explain every
# pixel, and the class changes only a small part of the log-density (a few bits out of
# about a thousand per digit); small errors in modelling style and thickness can swamp the
# class signal, so such classifiers usually trail a discriminative network. The flow
# spends its capacity where the bits are: on strokes and texture, not on the class.
#
# </details>

# %% [markdown]
# ## The bridge to chapter 09
#
# Flows delivered what chapter 07 asked for: an **exact likelihood** trained by plain
# maximum likelihood, an exact encoder, and sampling in **one pass** instead of 784. We
# verified every log-determinant against the brute force and watched the loss fall without
# any game. But the price is in the architecture: to keep the Jacobian triangular, each
# layer moves half of the numbers by an elementwise affine map, and the whole map must be a
# bijection of the full 784-dimensional space. Our flow's samples are far behind the GANs'
# by FID-MNIST, and the temperature trades the very likelihood the model was trained for
# against the look of its samples. What if we kept the idea of
# turning noise into an image step by step, but dropped the demand that *one* map be
# invertible with a computable determinant? Chapter 09's **diffusion** model does that:
# it destroys images with many small steps of Gaussian noise, a process we never need to
# invert exactly, and trains a network to undo **one small step at a time**. Each step is
# an easy denoising problem, no determinant appears anywhere, and the network may be any
# shape it likes. We trade one big, constrained, invertible map for many small,
# unconstrained denoising steps, and the samples finally get both sharp and varied.
