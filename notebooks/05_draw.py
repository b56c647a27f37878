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
# # 05 · DRAW: drawing in steps, looking where to draw
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Chapter 04 got rid of the RBM's two costs at once. The variational
# autoencoder draws a sample in one forward pass (a code $z \sim \mathcal N(0, I)$, then a
# decoder network), and it trains on a bound on $\log p(x)$, the ELBO, that we can compute
# and differentiate without any partition function. Its samples are varied digits, but
# soft and often smudged, and its likelihood is still some way from the best models in the
# literature. This chapter starts by asking *where* the VAE loses its nats. The answer
# (measured in section 1) points at how it draws: every one of the 784 pixels is decided in
# a single shot from a single code, and the decoder never gets to look at what it drew.
# A person drawing a digit works differently: a stroke, a look, a correction. The **DRAW**
# network (Gregor et al., 2015) turns that habit into a model, a VAE unrolled over time
# that writes on a canvas in $T$ steps, looking at its own mistakes, with a differentiable
# **attention** that chooses where to read and where to write. We build its two new
# pieces, the recurrence and the Gaussian attention grid, check them against the package,
# train one while we watch, and then put the shipped models on the bench against the VAE.

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
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import drawjourney as dj
from drawjourney import data, metrics, plot, runtime, train, widgets
from drawjourney.models import draw, vae

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator for every random draw we look at

LIVE_MINUTES = 0.1 if FAST else 2.0      # the live run's budget ...
LIVE_EPOCHS = 1                          # ... or one epoch, whichever comes first
LIVE_CONFIG = draw.DRAWConfig(T=16, read_n=2, write_n=5, enc_size=128, dec_size=128, z_dim=16)
INIT_STEPS = 15 if FAST else 300       # updates per run of the starting-grid experiment
N_DIAG = 200 if FAST else 1_000          # test digits for the "where do the nats go" maps
N_STATS = 200 if FAST else 1_000         # samples / test digits for the attention and KL statistics
N_BOUND = 500 if FAST else 10_000        # test digits for the -ELBO measured here
N_COND = 20 if FAST else 100             # label-conditioned samples per digit
MC_REPEATS = 4 if FAST else 20           # z draws per digit for the Monte Carlo check of the KL
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; live run {LIVE_MINUTES} min; "
      f"-ELBO on {N_BOUND} test digits; statistics over {N_STATS} drawings")

# %% [markdown]
# ## 1 · Diagnose: where does the VAE lose its nats?
#
# *Strategy: diagnose before you fix.* Chapter 04 found the VAE's uncertainty sitting on
# the edges of strokes, and measured what a stroke one pixel out of place costs: tens of
# nats. How much of the VAE's whole bill is that? Its loss per image is a reconstruction
# term, $-\log p(x \mid z)$ summed over the 784 pixels, plus the KL of its code, and the
# sum over pixels can be split up: which pixels does the VAE pay for? We take the shipped
# VAE of chapter 04, draw one $z$ from its encoder for each test digit, and keep the
# per-pixel Bernoulli loss as a map. We also sort the pixels into three kinds, from the test digit
# alone: **edge** pixels, whose 3x3 neighbourhood holds both ink and paper (the border of
# a stroke, on either side); **inside** pixels, ink surrounded by ink; and **paper**, far
# from any stroke. MNIST strokes are only two or three pixels wide, so nearly every ink
# pixel is an edge pixel, and so is the paper right next to a stroke. And we draw the
# **error image** $x - \sigma(\text{logits})$, what is still missing (white) or too much
# (black) after the VAE's one shot.

# %%
def pixel_kinds(x):
    """Edge / inside / paper masks of binary digits x (B, 1, H, W), each a bool tensor like x."""
    grown = F.max_pool2d(x, 3, stride=1, padding=1)          # any ink in the 3x3 neighbourhood
    shrunk = -F.max_pool2d(-x, 3, stride=1, padding=1)       # all ink in the 3x3 neighbourhood
    edge = grown != shrunk
    return {"edge": edge, "inside": (shrunk == 1) & ~edge, "paper": (grown == 0) & ~edge}


test = data.mnist("test", binarize="static", device=DEVICE)   # the course's fixed binary test set
vae_model = (dj.pretrained("vae") if runtime.use_pretrained() else vae.train_recipe("vae")[0])
vae_model = vae_model.to(DEVICE).eval()
x_diag = test.images[:N_DIAG]
with torch.no_grad():
    vae_mu, vae_logvar = vae_model.encode(x_diag)
    z = vae_mu + (0.5 * vae_logvar).exp() * torch.randn(vae_mu.shape, generator=GEN).to(DEVICE)
    vae_logits = vae_model.decode(z)
vae_kl = vae.kl_normal(vae_mu, vae_logvar).mean().item()
vae_nll_map = F.binary_cross_entropy_with_logits(vae_logits, x_diag, reduction="none")
kinds = pixel_kinds(x_diag)
vae_rec = vae_nll_map.flatten(1).sum(1).mean().item()
print(f"VAE of chapter 04 on {N_DIAG} test digits, one z each: reconstruction "
      f"{vae_rec:.1f} nats per image, KL {vae_kl:.1f} nats")
print(f"{'pixel kind':>10} {'share of pixels':>16} {'share of the nats':>18} {'nats per pixel':>15}")
for name, mask in kinds.items():
    nats = (vae_nll_map * mask).sum().item()
    print(f"{name:>10} {mask.float().mean().item():>16.1%} "
          f"{nats / vae_nll_map.sum().item():>18.1%} {nats / mask.sum().item():>15.3f}")

# %%
show = slice(0, 8)
fig = Figure(figsize=(10, 5.4), layout="constrained")
rows = [("test digit x", x_diag[show]),
        ("VAE's pixel means σ(logits)", torch.sigmoid(vae_logits[show])),
        ("error image x - σ (grey = 0)", (x_diag[show] - torch.sigmoid(vae_logits[show]) + 1) / 2),
        ("loss per pixel (nats, white = 3+)", (vae_nll_map[show] / 3).clamp(max=1))]
for ax, (name, images) in zip(fig.subplots(4, 1), rows):
    plot.grid(images, nrow=8, ax=ax, title=name)
fig.suptitle("where the chapter-04 VAE pays: one shot, one z per digit")
fig

# %% [markdown]
# We measured (numbers above): the edge pixels are about a quarter of the image and carry
# nearly all of the reconstruction nats; per pixel they cost far more than the paper away
# from the strokes. The error images say the same thing in pictures: the VAE gets the
# digit and its rough shape right, and what is left is thin bands along the strokes: ink
# a pixel too far left, a loop a little too small, an end too short. Those are exactly the
# mistakes you would fix by *looking* at the drawing and correcting it.
#
# The VAE cannot do that. Its decoder turns one code into all 784 pixel probabilities in a
# single pass, and given $z$ the pixels are independent: there is no step at which it sees
# that a stroke landed in the wrong place, and no second chance. Everything about where
# every stroke goes must be packed into one vector $z$ up front.
#
# ## 2 · The idea: draw like an artist
#
# The DRAW paper opens with the observation that a person asked to draw a scene does it
# iteratively, checking the work after each change; the "learning to draw" post in our
# seeds makes the same point with painters, who sketch, block in values, then refine. The
# post also names the problem this raises for a machine: **how does a network focus on one
# part of an image at a time?** DRAW's answer has three parts:
#
# 1. **A canvas drawn in $T$ steps.** The decoder is a recurrent network. At step $t$ it
#    adds an update to a canvas, $c_t = c_{t-1} + \operatorname{write}(h^{dec}_t)$, and
#    the image is $\sigma(c_T)$ at the end. Strokes can be added, darkened or erased (the
#    updates are real numbers on the logit scale).
# 2. **Looking at the mistakes.** The encoder is a recurrent network too. At step $t$ it
#    reads the image $x$ and the **error image** $\hat x_t = x - \sigma(c_{t-1})$, what the
#    canvas still gets wrong, and passes a little information (a code $z_t$) to the
#    decoder. Each step's code only has to say what to fix next.
# 3. **Attention.** Reading and writing can go through a small grid of Gaussian filters
#    whose position, spacing and blur the decoder chooses at every step: a $2 \times 2$
#    glimpse to read, a $5 \times 5$ patch to write (section 4).
#
# Written out, with $\sigma$ the logistic function, $c_0$ a learned starting canvas and all
# states starting at zero, one step $t = 1, \dots, T$ is
#
# $$\begin{aligned}
# \hat x_t &= x - \sigma(c_{t-1}) && \text{the error image}\\
# r_t &= \operatorname{read}(x, \hat x_t, h^{dec}_{t-1}) && \text{look at the image and the error}\\
# h^{enc}_t &= \operatorname{LSTM}^{enc}\big(h^{enc}_{t-1}, [r_t, h^{dec}_{t-1}]\big) &&\\
# z_t &\sim q(z_t \mid h^{enc}_t) = \mathcal N\big(\mu_t, \operatorname{diag}\sigma_t^2\big) && \mu_t, \log\sigma_t^2 \text{ linear in } h^{enc}_t\\
# h^{dec}_t &= \operatorname{LSTM}^{dec}\big(h^{dec}_{t-1}, z_t\big) &&\\
# c_t &= c_{t-1} + \operatorname{write}(h^{dec}_t) && \text{draw}
# \end{aligned}$$
#
# and $p(x \mid z_{1:T})$ is independent Bernoulli pixels with logits $c_T$. To **sample**
# a new digit, run the decoder alone with each $z_t \sim \mathcal N(0, I)$: no encoder, no
# image. Note the decoder state feeds back into the encoder: what the encoder reads next
# depends on what the decoder has drawn so far. (The seed post writes
# $\mu_t = W(h^{enc}_t),\ \sigma_t = W(h^{enc}_t)$; as written that could give a negative
# standard deviation. The linear layer emits $\log \sigma_t^2$, and its exponential is
# always positive.)

# %% [markdown]
# ## 3 · Formulate: the bound, and why the KL terms add up
#
# *Strategy: formulate, then reuse an identity.* DRAW is a VAE whose code is the sequence
# $z_{1:T}$. Two facts about its distributions give the loss.
#
# **The prior factorizes.** Sampling draws every $z_t$ from $\mathcal N(0, I)$ whatever
# came before, so $p(z_{1:T}) = \prod_t \mathcal N(z_t; 0, I)$. The decoder's states are
# deterministic functions of $z_{1:t}$, so $c_T$, and with it $p(x \mid z_{1:T})$, is
# fixed once all codes are.
#
# **The encoder factorizes over steps given the history.** $h^{enc}_t$ depends on $x$ and,
# through $h^{dec}_{t-1}$ and the canvas, on $z_{1:t-1}$; so
# $q(z_{1:T} \mid x) = \prod_t q(z_t \mid x, z_{1:t-1})$, each factor a diagonal Gaussian.
#
# Put both into chapter 04's ELBO, $\log p(x) \ge \mathbb E_q[\log p(x \mid z) +
# \log p(z) - \log q(z \mid x)]$. The logarithm of a product is a sum:
#
# $$\log p(x) \ge \mathbb E_q\big[\log p(x \mid z_{1:T})\big]
# - \sum_{t=1}^{T} \mathbb E_q\Big[\log q(z_t \mid x, z_{1:t-1}) - \log \mathcal N(z_t; 0, I)\Big].$$
#
# In the $t$-th term, take the expectation over $z_t$ first, with the history $z_{1:t-1}$
# held fixed: it is exactly $\operatorname{KL}\big(q(z_t \mid x, z_{1:t-1}) \,\|\,
# \mathcal N(0, I)\big)$, a KL between two Gaussians, which chapter 04 wrote in closed form,
# $\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2)$. What is left is an
# expectation over the history, which one sampled run estimates. So the loss of one image is
#
# $$-\text{ELBO}(x) = \underbrace{-\log p(x \mid c_T)}_{\text{reconstruction of } \sigma(c_T)}
# + \sum_{t=1}^{T} \underbrace{\operatorname{KL}\big(q(z_t \mid x, z_{1:t-1}) \,\|\, \mathcal N(0, I)\big)}_{\text{KL}_t
# \text{: the price of step } t\text{'s message}},$$
#
# one reconstruction at the end, and one KL per step, each evaluated along the run's own
# sampled history. Read as a code length, which is how the paper reads it, $\text{KL}_t$ is
# how many nats the encoder sends the decoder at step $t$, and the reconstruction term is
# how many it costs to fix the remaining pixels. Two more remarks. The ELBO is still a
# lower bound, and the IWAE bound of chapter 04 applies unchanged: the importance weight is
# $\log p(x \mid z_{1:T}) + \sum_t [\log \mathcal N(z_t; 0, I) - \log q(z_t \mid \cdot)]$.
# And the prior need not be fixed: the text-to-image DRAW in Mansimov's slides (alignDRAW,
# Mansimov et al. 2016) learns a prior $p(z_t \mid z_{1:t-1}, y)$ for $t \ge 2$, and its
# bound has the same shape with that prior inside each KL. We keep $\mathcal N(0, I)$.

# %% [markdown]
# ## 4 · Build (a): attention, a grid of Gaussian filters
#
# A read that takes the whole image gives the encoder 784 numbers at every step; a write
# that paints the whole canvas asks the decoder for 784 numbers at every step. DRAW's
# attention lets each step touch a small region instead, and stays differentiable so that
# *where* to look is learned by gradient descent like everything else.
#
# **The grid.** For an image $B$ pixels high and $A$ wide, a linear layer of the decoder
# state emits five numbers $(\tilde g_X, \tilde g_Y, \log\sigma^2, \log\tilde\delta,
# \log\gamma)$ (Gregor et al. 2015, eqs. 19-29). They become a centre, a stride and an
# $N \times N$ grid of filter centres,
#
# $$g_X = \tfrac{A+1}{2}(\tilde g_X + 1), \quad g_Y = \tfrac{B+1}{2}(\tilde g_Y + 1), \quad
# \delta = \tfrac{\max(A, B) - 1}{N - 1}\,\tilde\delta, \qquad
# \mu_X^i = g_X + \big(i - \tfrac N2 - 0.5\big)\delta, \quad
# \mu_Y^j = g_Y + \big(j - \tfrac N2 - 0.5\big)\delta,$$
#
# with pixels counted from 1, so $\tilde g_X = -1, 0, 1$ put the centre half a pixel
# beyond the left edge ($g_X = 0$), in the middle ($14.5$ for $A = 28$) and half a pixel
# beyond the right edge ($29$). At each centre sits a Gaussian of variance $\sigma^2$;
# because the grid is a product of a row and a column of centres, the filters separate into
# two banks, $F_X$ ($N \times A$) and $F_Y$ ($N \times B$):
#
# $$F_X[i, a] = \frac{1}{Z_X}\exp\Big(-\frac{(a - \mu_X^i)^2}{2\sigma^2}\Big), \qquad
# F_Y[j, b] = \frac{1}{Z_Y}\exp\Big(-\frac{(b - \mu_Y^j)^2}{2\sigma^2}\Big),$$
#
# where $Z$ makes each row sum to 1. **Read** and **write** are then two matrix products
# each,
#
# $$\operatorname{read}(x) = \gamma\, F_Y\, x\, F_X^\top \;\;(N \times N), \qquad
# \operatorname{write}(w) = \tfrac1\gamma\, F_Y^\top\, w\, F_X \;\;(B \times A),$$
#
# where the glimpse of $x$ and of $\hat x$ is read with the same filters, and the decoder
# emits the $N \times N$ patch $w$ through another linear layer. $\gamma$ scales what is
# read and divides what is written. The seed post calls $(g_X, g_Y)$ "the center pixel
# of the center filter"; that holds for odd $N$ only. For even $N$, such as the $N = 2$
# read of our model, the offsets are $\pm\tfrac12\delta$ and $g$ sits between filters.
#
# We write the filterbank ourselves, straight from the formulas, and compare with
# `draw.filterbank` on random emissions. One detail: dividing by $Z$ after exponentiating
# can fail, so `stable=True` subtracts each row's largest exponent first. That changes
# nothing mathematically (the factor cancels in the ratio). The check below tries both
# ways on random grids around the middle of the image.

# %%
def grid_centres(g, log_delta, N, size, longest):
    """Filter centres mu^i (batch, N) along one axis of `size` pixels (eqs. 19-22), counted
    from 1; g is g~ and log_delta is log delta~, each (batch,); longest = max(A, B)."""
    centre = (size + 1) / 2 * (g + 1)
    delta = (longest - 1) / (N - 1) * log_delta.exp()
    i = torch.arange(1, N + 1, dtype=g.dtype, device=g.device)
    return centre[:, None] + (i - N / 2 - 0.5) * delta[:, None]


def my_filterbank(g_x, g_y, log_sigma2, log_delta, N, A, B, stable=True):
    """F_x (batch, N, A) and F_y (batch, N, B) from the raw emissions, each (batch,), as in
    eqs. 19-25 of the paper. stable=False divides exp(...) by Z as written; stable=True
    subtracts each row's largest exponent before exponentiating (same value, no underflow)."""
    sigma2 = log_sigma2.exp()[:, None, None]

    def bank(mu, size):
        a = torch.arange(1, size + 1, dtype=g_x.dtype, device=g_x.device)
        exponent = -(a - mu[:, :, None]) ** 2 / (2 * sigma2)           # (batch, N, size)
        if stable:
            exponent = exponent - exponent.amax(dim=2, keepdim=True)
        unnormalized = exponent.exp()
        return unnormalized / unnormalized.sum(dim=2, keepdim=True)   # divide by Z

    return (bank(grid_centres(g_x, log_delta, N, A, max(A, B)), A),
            bank(grid_centres(g_y, log_delta, N, B, max(A, B)), B))


def my_read(images, F_x, F_y, gamma):
    """gamma F_y x F_x^T: images (batch, B, A) -> glimpses (batch, N, N)."""
    return gamma[:, None, None] * F_y @ images @ F_x.transpose(1, 2)


def my_write(patches, F_x, F_y, gamma):
    """(1 / gamma) F_y^T w F_x: patches (batch, N, N) -> canvas updates (batch, B, A)."""
    return F_y.transpose(1, 2) @ patches @ F_x / gamma[:, None, None]


emissions = torch.randn(64, 5, generator=GEN) * 0.3 + torch.tensor([0.0, 0.0, 0.0, -0.5, 0.0])
g_x, g_y, log_sigma2, log_delta, log_gamma = emissions.unbind(1)
off_rows, nan_rows, all_rows = 0, 0, 0
for N in (2, 5, 12):
    mine = my_filterbank(g_x, g_y, log_sigma2, log_delta, N, 28, 28)
    as_written = my_filterbank(g_x, g_y, log_sigma2, log_delta, N, 28, 28, stable=False)
    theirs = draw.filterbank(g_x, g_y, log_sigma2, log_delta, N, 28, 28)
    for g, m, w, t in zip((g_x, g_y), mine, as_written, theirs):
        torch.testing.assert_close(m, t)
        mu = grid_centres(g, log_delta, N, 28, 28)
        on_image = (mu >= 1) & (mu <= 28)                          # filter rows centred on a pixel
        torch.testing.assert_close(w[on_image], t[on_image])
        off_rows += int((~on_image).sum())
        nan_rows += int(torch.isnan(w[~on_image]).any(dim=1).sum())
        all_rows += on_image.numel()
F_x, F_y = draw.filterbank(g_x, g_y, log_sigma2, log_delta, 5, 28, 28)
digits, patches = test.images[:64, 0].cpu(), torch.randn(64, 5, 5, generator=GEN)
torch.testing.assert_close(my_read(digits, F_x, F_y, log_gamma.exp()),
                           draw.read_glimpse(digits, F_x, F_y, log_gamma.exp()))
torch.testing.assert_close(my_write(patches, F_x, F_y, log_gamma.exp()),
                           draw.write_patch(patches, F_x, F_y, log_gamma.exp()))
ones = torch.ones(64)
torch.testing.assert_close((my_read(digits, F_x, F_y, ones) * patches).sum((1, 2)),
                           (digits * my_write(patches, F_x, F_y, ones)).sum((1, 2)))
print("my_filterbank = draw.filterbank for N = 2, 5, 12 on 64 random emissions; my_read = "
      "draw.read_glimpse, my_write = draw.write_patch; with gamma = 1, <read(x), w> = <x, write(w)>")
print(f"exp(...) / Z as written agrees on every filter row centred on the image; {off_rows} of the "
      f"{all_rows} rows are centred off it, and {nan_rows} of those are NaN in float32")

# %% [markdown]
# The last check is an identity worth a sentence: with $\gamma = 1$, write is the
# **transpose** (adjoint) of read, $\langle F_Y x F_X^\top, w\rangle = \langle x, F_Y^\top w
# F_X\rangle$. Whatever the grid can see, it can paint back, at the same places and with
# the same blur.
#
# ### Why two small matrices, not one big filter
#
# *Strategy: bounds, by counting.* Each of the $N^2$ filters is a full $B \times A$ image
# (a Gaussian blob, nearly zero away from its centre). Applied naively, the glimpse is one
# $N^2 \times AB$ matrix times the flattened image. Because each 2-D Gaussian is a product
# of a row and a column Gaussian, that big matrix is the Kronecker product $F_Y \otimes
# F_X$, and the product can be done in two steps: $F_Y x$ costs $N \cdot B \cdot A$
# multiplies, and then $(F_Y x) F_X^\top$ costs $N \cdot A \cdot N$. We check the identity
# on one digit and count.

# %%
# NBVAL_CHECK_OUTPUT
full = torch.kron(F_y[0], F_x[0])                            # (N^2, AB): all 25 filters, flattened
torch.testing.assert_close(full @ digits[0].flatten(), (F_y[0] @ digits[0] @ F_x[0].T).flatten())
print("(F_Y kron F_X) vec(x) = vec(F_Y x F_X^T) on a test digit, N = 5")
print(f"{'image':>9} {'N':>3} {'full: multiplies = numbers':>27} {'separable: multiplies':>22}"
      f" {'numbers':>8} {'ratio of multiplies':>20}")
for A, N in ((28, 2), (28, 5), (28, 12), (64, 12), (256, 12)):
    B = A
    full_mults, sep_mults = N * N * A * B, N * B * A + N * A * N
    print(f"{A:>4}x{B:<4} {N:>3} {full_mults:>27,} {sep_mults:>22,} {N * (A + B):>8,}"
          f" {full_mults / sep_mults:>20.1f}")

# %% [markdown]
# The separable form saves a factor of about $N$ in multiplies (exactly
# $N^2 AB / (NAB + N^2 A) = NB/(B + N)$) and a factor of $NAB/(A+B)$ in stored filter
# numbers: for a $5 \times 5$ write on a 28x28 canvas, 280 numbers describe the grid
# instead of 19,600. The seed post's remark that each filter "spans the entire image" is
# right. Its hint that separated 1-D filters make the response computable "in linear
# time" is loose: for a fixed grid the naive product is linear in the number of pixels
# too ($N^2$ multiplies per pixel). What separability buys is the constant, $N + N^2/B$
# multiplies per pixel instead of $N^2$, and far less memory.
#
# ### When the filter leaves the image: $Z$ as written, and the softmax
#
# *Strategy: experiment with an extreme case.* Nothing stops the network from emitting a
# centre far outside the image. Then every pixel is many standard deviations from every
# filter centre, every $\exp(\cdot)$ underflows to zero, and the paper's $Z$ is $0$. The
# package instead normalizes each filter row with a softmax over pixels: mathematically the
# same $\exp(\cdot)/Z$, but computed after subtracting the largest exponent, so the
# nearest pixel always gets a finite weight. Many DRAW implementations instead add a small
# $\varepsilon$ to $Z$. We compare the three on one filter, with the grid centred at
# $\tilde g_X = 3$, which puts the middle filter at $g_X = 58$, 30 pixels right of the
# image. We also ask how strongly the filter's position reacts to its centre: the gradient
# of its mean pixel position $\sum_a a\,F_X[i, a]$ with respect to $\tilde g_X$. On the
# image, moving $\tilde g_X$ by 1 moves the filter by $(A+1)/2 = 14.5$ pixels.

# %%
def filter_row(g, normalize):
    """The middle filter (i = 3) of a 5-filter grid centred at g~_X = g (sigma^2 = 1,
    delta~ = 1), in float32, normalized three ways; with d(its mean pixel position) / d g~_X."""
    g = torch.tensor([g], requires_grad=True)
    zero = torch.zeros(1)
    if normalize == "softmax (package)":
        row = draw.filterbank(g, zero, zero, zero, 5, 28, 28)[0][0, 2]
    else:                                           # eq. 25 by hand: exp(...) / Z, mu = g_X
        mu = 14.5 * (g + 1)
        e = torch.exp(-(torch.arange(1, 29) - mu) ** 2 / 2)
        row = e / (e.sum() + (1e-8 if normalize == "Z + 1e-8" else 0.0))
    position = (row * torch.arange(1, 29)).sum()
    grad, = torch.autograd.grad(position, g)
    return row.detach(), grad.item()


print(f"{'g~_X':>5} {'normalization':>18} {'row sum':>8} {'largest weight (pixel)':>23} "
      f"{'d position / d g~_X':>20}")
for g in (0.0, 3.0):
    for normalize in ("Z as written", "Z + 1e-8", "softmax (package)"):
        row, grad = filter_row(g, normalize)
        top = f"{row.max().item():.3g} ({int(row.argmax()) + 1})" if torch.isfinite(row).all() else "nan"
        print(f"{g:>5} {normalize:>18} {row.sum().item():>8.3g} {top:>23} {grad:>20.3g}")

# %% [markdown]
# With the grid on the image (first three rows) all three agree: the row sums to 1 and
# the filter follows its centre at 14.5 pixels per unit of $\tilde g_X$. Off the image the
# paper's formula in float32 gives $0/0$ = NaN, which would poison the whole batch's
# gradient at the first such step. The $\varepsilon$ fix avoids the NaN but the filter
# becomes all zeros: a glimpse of nothing. The softmax gives a proper filter that reads the
# edge pixel (column 28). So the package's claim holds: the softmax never underflows. What
# it does not do is bring a lost filter back: its position gradient is essentially zero
# too, because a filter stuck on the edge pixel no longer moves when its centre moves. A
# filter far off the image cannot find its way back by gradient under any of the three;
# the softmax only makes sure the model gets a finite loss while it is out there.

# %% [markdown]
# ### Try it: the attention grid on a digit
#
# Move the centre, the stride $\tilde\delta$ (log scale), the blur $\sigma^2$ (log scale)
# and the grid size $N$. Left: the digit with the $N \times N$ filter centres (dots), the
# box through the outermost centres, and a square of half-width $\sigma$ around one filter.
# Middle: the $N \times N$ glimpse $F_Y x F_X^\top$ ($\gamma = 1$). Right: the glimpse
# written back, $F_Y^\top (\text{glimpse}) F_X$: what the grid can see, at the resolution
# it sees it.

# %%
def attention_panels(axes, image, g_x, g_y, log_delta, log_sigma2, N):
    """Draw the grid on `image` (H, W), its glimpse and the glimpse written back into 3 axes."""
    H, W = image.shape
    params = [torch.tensor([float(v)]) for v in (g_x, g_y, log_sigma2, log_delta)]
    F_x, F_y = draw.filterbank(*params, N, W, H)
    glimpse = F_y[0] @ image @ F_x[0].T
    back = F_y[0].T @ glimpse @ F_x[0]
    delta = (max(H, W) - 1) / (N - 1) * math.exp(log_delta)
    mu_x = grid_centres(params[0], params[3], N, W, max(H, W))[0] - 1   # 0-based pixel coordinates
    mu_y = grid_centres(params[1], params[3], N, H, max(H, W))[0] - 1
    sigma = math.exp(0.5 * log_sigma2)
    ax_grid, ax_glimpse, ax_back = axes
    ax_grid.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax_grid.scatter(mu_x.repeat(N), mu_y.repeat_interleave(N), s=10, color="tab:red")
    x0, y0, span = float(mu_x[0]), float(mu_y[0]), float(mu_x[-1] - mu_x[0])
    ax_grid.add_patch(Rectangle((x0, y0), span, span, fill=False, edgecolor="tab:orange"))
    xm, ym = float(mu_x[N // 2]), float(mu_y[N // 2])        # one filter near the middle
    ax_grid.add_patch(Rectangle((xm - sigma, ym - sigma), 2 * sigma, 2 * sigma, fill=False,
                                edgecolor="tab:cyan"))
    ax_grid.set(xlim=(-0.5, W - 0.5), ylim=(H - 0.5, -0.5),
                title=f"g=({(W + 1) / 2 * (g_x + 1):.1f}, {(H + 1) / 2 * (g_y + 1):.1f}), "
                      f"δ={delta:.2f}, σ={sigma:.2f}")
    ax_glimpse.imshow(glimpse, cmap="gray", vmin=0, vmax=1)
    ax_glimpse.set_title(f"{N}x{N} glimpse")
    ax_back.imshow(back, cmap="gray", vmin=0, vmax=max(float(back.max()), 0.05))
    ax_back.set_title("written back")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def filterbank_explorer(image):
    """Sliders over (g~_X, g~_Y, log delta~, log sigma^2, N) redrawing `attention_panels` live."""
    return widgets.FigureControls(
        lambda fig, **values: attention_panels(fig.subplots(1, 3), image, **values),
        {"g_x": (-1.5, 1.5, 0.05, 0.0), "g_y": (-1.5, 1.5, 0.05, 0.0),
         "log_delta": (-3.0, 1.0, 0.1, -0.2), "log_sigma2": (-3.0, 4.0, 0.1, 2.0), "N": (2, 12, 1, 5)},
        labels={"g_x": "g~_X", "g_y": "g~_Y", "log_delta": "log δ~", "log_sigma2": "log σ²"},
        description="Filterbank explorer: sliders for centre, stride, blur, N", figsize=(7.2, 2.6))


a_digit = test.images[1, 0].cpu()                           # a 2
filterbank_explorer(a_digit)

# %%
settings = [
    ("5x5, the package's start", dict(g_x=0.0, g_y=0.0, log_delta=math.log(0.8), log_sigma2=1.99, N=5)),
    ("5x5, zoomed on the top", dict(g_x=0.0, g_y=-0.45, log_delta=-1.6, log_sigma2=-1.5, N=5)),
    ("5x5, sharp filters, wide stride", dict(g_x=0.0, g_y=0.0, log_delta=0.0, log_sigma2=-2.5, N=5)),
    ("2x2, the package's start", dict(g_x=0.0, g_y=0.0, log_delta=math.log(0.5), log_sigma2=3.82, N=2)),
    ("2x2, every emission 0", dict(g_x=0.0, g_y=0.0, log_delta=0.0, log_sigma2=0.0, N=2))]
fig = Figure(figsize=(7.2, 12.5), layout="constrained")
for axes, (name, kwargs) in zip(fig.subplots(len(settings), 3), settings):
    attention_panels(axes, a_digit, **kwargs)
    axes[0].set_ylabel(name, fontsize=9)
fig.suptitle("the attention grid on a test digit: centres (red), box (orange), ±σ (cyan)")
fig

# %% [markdown]
# The seed post's reading of the parameters holds up: a large stride with large filters
# sees the whole digit at low resolution, a small stride zooms in. The third row shows a
# failure it does not mention: filters much narrower than the stride ($\sigma \ll \delta$)
# sample isolated pixels and miss the strokes that fall between them (**aliasing**), so
# the glimpse depends on chance alignments. A useful grid keeps $\sigma$ comparable to
# $\delta$; the network has to learn that balance.
#
# The last two rows are about where a grid *starts*. The package initializes each
# attention layer's bias as a blurred view of the whole image: the $N$ centres in the
# middles of $N$ equal strips ($\tilde\delta = (N-1)/N$) and $\sigma$ half the stride.
# The natural alternative, every emission 0, is fine for $N = 5$ but puts a $2 \times 2$
# grid's centres on the four corner pixels ($\delta = 27\tilde\delta$, so the two centres
# sit at $14.5 \pm 13.5$), where every MNIST digit is black. Section 6 tests what that
# does to training.
#
# **Without attention** there are no filters: read is the concatenation $[x, \hat x_t]$,
# all $2 \times 784$ numbers at every step, and write is a linear layer from $h^{dec}_t$ to
# all 784 canvas logits. The recurrence and the loss are unchanged. The package's
# `DRAWConfig(attention=False)` is that variant; we will compare the two.

# %% [markdown]
# ## 5 · Build (b): the recurrence, by hand
#
# Now the whole model in one function, from the equations of section 2, with our own
# filterbank, read and write, and the package model's layers as the weights (its two
# LSTM cells, the linear layers emitting $q$'s parameters, the attention parameters and
# the patch). Along the way we keep what the analysis needs later: every canvas, every
# step's KL, and both attention emissions. For the check we draw the $z_t$ from the same
# seeded generator as the package does, so the two runs see the same noise and must agree
# to float precision: the canvases, each step's KL, the ELBO, and the importance weight
# $\log p(x \mid z) + \sum_t [\log \mathcal N(z_t; 0, I) - \log q(z_t \mid \cdot)]$.

# %%
def unroll(model, x, generator, labels=None):
    """Run DRAW's T steps on images x (B, 1, S, S) as in section 2. Returns a dict of
    canvas logits (T, B, S, S), kl (T, B) and log_ratio (T, B) = log N(z_t; 0, I) - log q(z_t)
    in nats, q's mu and logvar (T, B, z_dim), and the read and write emissions (T, B, 5)
    (None without attention)."""
    c = model.config
    S, batch = c.image_size, x.shape[0]
    image = x.view(batch, S, S)
    h_enc, s_enc = x.new_zeros(batch, c.enc_size), x.new_zeros(batch, c.enc_size)
    h_dec, s_dec = x.new_zeros(batch, c.dec_size), x.new_zeros(batch, c.dec_size)
    canvas = model.canvas0.expand(batch, S, S)
    onehot = None if labels is None else F.one_hot(labels, c.n_classes).to(x.dtype)
    out = {"canvas": [], "kl": [], "log_ratio": [], "mu": [], "logvar": [], "read": [], "write": []}
    for _ in range(c.T):
        x_hat = image - torch.sigmoid(canvas)                             # the error image
        if c.attention:
            e = model.read_attention(h_dec)                               # (B, 5)
            F_x, F_y = my_filterbank(*e[:, :4].unbind(1), c.read_n, S, S)
            gamma = e[:, 4].exp()
            r = torch.cat([my_read(image, F_x, F_y, gamma).flatten(1),
                           my_read(x_hat, F_x, F_y, gamma).flatten(1)], dim=1)
            out["read"].append(e)
        else:
            r = torch.cat([image.flatten(1), x_hat.flatten(1)], dim=1)
        h_enc, s_enc = model.encoder(torch.cat([r, h_dec], dim=1), (h_enc, s_enc))
        mu, logvar = model.to_q(h_enc).chunk(2, dim=1)
        eps = torch.randn(mu.shape, generator=generator).to(x.device)
        z = mu + (0.5 * logvar).exp() * eps
        out["kl"].append(0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1))
        out["mu"].append(mu)
        out["logvar"].append(logvar)
        out["log_ratio"].append((-0.5 * z ** 2 + 0.5 * eps ** 2 + 0.5 * logvar).sum(1))
        dec_in = z if onehot is None else torch.cat([z, onehot], dim=1)
        h_dec, s_dec = model.decoder(dec_in, (h_dec, s_dec))
        if c.attention:
            e = model.write_attention(h_dec)
            F_x, F_y = my_filterbank(*e[:, :4].unbind(1), c.write_n, S, S)
            patch = model.to_patch(h_dec).view(batch, c.write_n, c.write_n)
            canvas = canvas + my_write(patch, F_x, F_y, e[:, 4].exp())
            out["write"].append(e)
        else:
            canvas = canvas + model.to_patch(h_dec).view(batch, S, S)
        out["canvas"].append(canvas)
    return {k: torch.stack(v) if v else None for k, v in out.items()}


def elbo_of(run, x):
    """(log p(x | c_T), sum_t KL_t), each (B,) nats, from an `unroll` result."""
    rec = -F.binary_cross_entropy_with_logits(run["canvas"][-1], x[:, 0], reduction="none")
    return rec.flatten(1).sum(1), run["kl"].sum(0)


x_check = test.images[:32]
for config in (LIVE_CONFIG, draw.DRAWConfig(T=4, enc_size=32, dec_size=32, attention=False),
               draw.DRAWConfig(T=4, enc_size=32, dec_size=32, z_dim=4, n_classes=10)):
    torch.manual_seed(1)
    net = draw.DRAW(config).to(DEVICE)
    draw.init_canvas(net, test.images)
    y = test.labels[:32] if config.n_classes else None
    with torch.no_grad():
        run = unroll(net, x_check, torch.Generator().manual_seed(5), y)
        canvases, kls = net(x_check, y, generator=torch.Generator().manual_seed(5))
        rec, kl = elbo_of(run, x_check)
        torch.testing.assert_close(run["canvas"], canvases[:, :, 0])
        torch.testing.assert_close(run["kl"], kls)
        torch.testing.assert_close(rec - kl, net.elbo(x_check, y, generator=torch.Generator().manual_seed(5)))
        torch.testing.assert_close(rec + run["log_ratio"].sum(0), net.log_importance_weights(
            x_check, 1, y, generator=torch.Generator().manual_seed(5))[0])
print("unroll = the package's DRAW (canvases, KL per step, ELBO, importance weight) with "
      "attention, without, and label-conditioned")

# %% [markdown]
# One step of the derivation is still only algebra: that the expectation of
# $\log q(z_t \mid \cdot) - \log \mathcal N(z_t; 0, I)$ over $z_t$ is the closed-form
# $\text{KL}_t$. *Strategy: verify by Monte Carlo.* We run the same test digits many times
# with fresh noise (on a freshly initialized model; any weights will do) and compare, step
# by step, the average log-ratio with the average closed-form KL.

# %%
net = draw.DRAW(LIVE_CONFIG).to(DEVICE)
draw.init_canvas(net, test.images)
x_mc = test.images[:50].repeat(MC_REPEATS, 1, 1, 1)
with torch.no_grad():
    run = unroll(net, x_mc, GEN)
sampled = -run["log_ratio"]                           # log q - log p at the sampled z_t, (T, n)
gap = sampled.mean(1) - run["kl"].mean(1)
se = sampled.std(1) / math.sqrt(sampled.shape[1])
print(f"{x_mc.shape[0]} runs (50 test digits x {MC_REPEATS} draws); per step t: mean of "
      f"log q - log p vs mean closed-form KL_t")
print(f"largest |difference| over the {len(gap)} steps: {gap.abs().max().item():.3f} nats; "
      f"largest |difference| / standard error: {(gap.abs() / se).max().item():.2f}")
print(f"sum over steps: sampled {sampled.sum(0).mean().item():.2f}, closed form "
      f"{run['kl'].sum(0).mean().item():.2f} nats per image")

# %% [markdown]
# The differences stay within a few standard errors of zero, as they must if the closed
# form is the expectation of the sampled log-ratio. Training uses the closed form: it has
# the same expectation and less noise.
#
# ## 6 · Experiment: a live run
#
# *Strategy: experiment.* We train a DRAW with attention from scratch: the shipped recipe
# (`draw.train_recipe("draw")`: Adam at $10^{-3}$ with a cosine decay, gradient norm
# clipped at 5 because the LSTMs are unrolled over 16 steps, pixels freshly binarized in
# every batch, $c_0$ started at the data's mean digit), with LSTMs of 128 units instead of
# 256 so that each step is cheaper, for one epoch or `LIVE_MINUTES`, whichever ends first.
# The progress bar shows the $-$ELBO; the history also keeps its two parts, `rec` and `kl`.
# Every few steps a callback draws ten digits from the same seeded noise, so we can watch
# the drawings form.

# %%
snapshots = []


def keep_drawings(step, history, model):
    """Callback: the last canvas of 10 samples from a fixed seed, at this step."""
    canvases, _ = model.sample(10, generator=torch.Generator().manual_seed(0))
    snapshots.append((step, canvases[-1].cpu()))


live_model, live_hist = draw.train_recipe("draw", epochs=LIVE_EPOCHS, minutes=LIVE_MINUTES,
                                          config=LIVE_CONFIG, callback=keep_drawings,
                                          every=10 if FAST else 50)
print(f"live run: {live_hist.steps} steps of 100 digits ({live_hist.epochs} full epochs, stopped "
      f"by {live_hist.stopped_by}) in {live_hist.seconds:.0f} s on {runtime.describe()}")
print(f"-ELBO (training batches): {live_hist.losses['loss'][0]:.1f} nats at step 1, "
      f"{live_hist.last('loss', 50):.1f} over the last 50 steps (reconstruction "
      f"{live_hist.last('rec', 50):.1f} + KL {live_hist.last('kl', 50):.1f})")

# %%
fig = Figure(figsize=(10, 3.2), layout="constrained")
ax_loss, ax_kl = fig.subplots(1, 2)
plot.loss_curves(live_hist, keys=["loss", "rec"], smooth=0.9, ax=ax_loss,
                 title="-ELBO and its reconstruction part")
ax_loss.set_ylabel("nats per image")
plot.loss_curves(live_hist, keys=["kl"], smooth=0.9, ax=ax_kl, title="KL, summed over 16 steps")
ax_kl.set_ylabel("nats per image")
fig.suptitle(f"the live run: DRAW with attention, LSTMs 128, {live_hist.steps} steps "
             f"in {live_hist.seconds:.0f} s")
fig

# %%
forming = widgets.FrameScrubber([frames for _, frames in snapshots],
                                titles=[f"10 samples after {s} training steps" for s, _ in snapshots],
                                label="step", scale=3, nrow=5)
forming

# %%
forming.strip(max_frames=5, title="samples of the live run from fixed noise, as training goes on")

# %% [markdown]
# In the first updates the KL term is small and the reconstruction large: the model draws
# the starting canvas, the mean digit, and the encoder says almost nothing. Then the KL
# climbs as the decoder learns to use what the encoder sends, and the reconstruction falls
# much faster than the KL rises. The samples move from a grey ghost of the mean digit
# towards blurred digit shapes. Two minutes is a start; the shipped model trained for
# close to an hour, and the paper's far longer.
#
# ### Diagnose: a grid that starts in the corners
#
# The live run started its attention at the package's blurred whole-image view (section
# 4). The package's first version started every emission at zero instead, and its DRAW
# stalled at the mean digit. *Strategy: experiment, changing one thing.* Two runs of the
# live run's model, the same seed, data and optimizer, for `INIT_STEPS` updates each; one of them with both attention layers' biases set to 0, so that every
# emission starts near 0. Before training, we also look at what each starting read grid
# sees: the $2 \times 2$ glimpse of 1,000 test digits, and how much it varies from digit
# to digit.

# %%
train_set = data.mnist("train", binarize="dynamic", device=DEVICE)


def short_run(zero_start, steps):
    """The live run's DRAW trained for `steps` updates; zero_start=True sets both attention
    layers' biases to 0 first. Returns (history, spread of the first read glimpse over
    1000 test digits)."""
    runtime.seed(0)
    net = draw.DRAW(LIVE_CONFIG).to(DEVICE)
    draw.init_canvas(net, train_set.images)
    if zero_start:
        with torch.no_grad():
            for layer in (net.read_attention, net.write_attention):
                layer.bias.zero_()
    with torch.no_grad():
        digits = test.images[:1000, 0]
        first_read = net.read(digits, torch.zeros_like(digits),
                              torch.zeros(1000, LIVE_CONFIG.dec_size, device=DEVICE))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step_fn(batch):
        losses = net.loss(batch[0])
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()
        return losses

    history = train.fit(step_fn, data.batches(train_set, 100, seed=0), steps=steps,
                        desc="zero start" if zero_start else "package start")
    return history, first_read[:, :4].std(0).mean().item()


starts = {"package start": short_run(False, INIT_STEPS), "every emission 0": short_run(True, INIT_STEPS)}
for name, (hist, spread) in starts.items():
    print(f"{name:>16}: first glimpse varies by {spread:.3f} (std over test digits); after "
          f"{hist.steps} updates ({hist.seconds:.0f} s): -ELBO {hist.last('loss', 20):.1f}, "
          f"KL {hist.last('kl', 20):.2f} nats (means of the last 20 updates)")

# %%
fig = Figure(figsize=(10, 3.2), layout="constrained")
ax_loss, ax_kl = fig.subplots(1, 2)
for name, (hist, _) in starts.items():
    for ax, key in ((ax_loss, "loss"), (ax_kl, "kl")):
        values = torch.tensor(hist.losses[key])
        window = max(1, min(20, len(values) // 5))
        smooth = values.unfold(0, window, 1).mean(1)
        ax.plot(range(window - 1, len(values)), smooth, label=name)
ax_loss.set(xlabel="update", ylabel="-ELBO (nats per image)", title="-ELBO, running mean")
ax_kl.set(xlabel="update", ylabel="KL (nats per image)", title="KL summed over steps, running mean")
for ax in (ax_loss, ax_kl):
    ax.legend(fontsize=8)
fig.suptitle(f"where the attention starts: two runs of {INIT_STEPS} updates, all else equal")
fig

# %% [markdown]
# We measured (full run: 300 updates each): from the package's start the $-$ELBO falls
# and the KL grows, as in the live run. From the zero start the $-$ELBO does not move from
# the mean digit's, about 206 nats, and the KL falls to zero: the encoder sends nothing.
# The printed spread of the first glimpse says why. The read is the encoder's *only* view
# of the image, and a grid on the four corner pixels sees the same black for every digit
# (its glimpse does not vary at all), so the encoder has nothing to send, and the KL term
# pushes each $q(z_t \mid \cdot)$ onto the prior: **posterior collapse**, by blindness.
# Nor can gradient descent walk the grid inward: moving a filter a little along uniformly
# black pixels changes nothing, so its position gradient is about zero, the same trap as
# the off-image filter of section 4. The model could in principle find its way out; in
# 300 updates it does not.
#
# ### The shipped models
#
# For the analysis we use the course's shipped DRAWs, trained with the full recipes (the
# cells print what each checkpoint records about how): with attention (`draw`: $T = 16$,
# $2 \times 2$ read, $5 \times 5$ write, LSTMs of 256, 16 latent numbers per step),
# without attention (`draw_noattn`), and label-conditioned (`draw_cond`, section 10).
# On a CPU the notebook loads them; on a GPU it trains the recipes itself.

# %%
def load_or_train(name):
    """The shipped model `name`, or on a GPU the full recipe trained here; with what it records."""
    if runtime.use_pretrained():
        net = dj.pretrained(name)
        info = net.checkpoint_info
        print(f"{name}: loaded the shipped checkpoint; it records:")
        print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in info["metrics"].items()))
        print(f"  made by: {info['provenance']['command']}")
    else:
        net, hist = draw.train_recipe(name)
        print(f"{name}: trained the full recipe here, {hist.steps} steps in "
              f"{hist.seconds / 60:.1f} min on {runtime.describe()}")
    print(f"  recipe: {draw.RECIPES[name]['epochs']} epochs; {net.config}")
    return net.to(DEVICE).eval()


model = load_or_train("draw")
noattn = load_or_train("draw_noattn")

# %% [markdown]
# ## 7 · Experiment: watch it draw
#
# The scrubbers below show $\sigma(c_t)$ for $t = 0$ (the learned start canvas, before any
# step) to $t = 16$, with the box of step $t$'s write attention drawn in grey: the part of
# the canvas that the $5 \times 5$ patch of that step painted (`draw.attention_box`
# spans the outermost filter centres; `draw.with_boxes` outlines it on an upscaled copy).
# First, reconstructions of ten test digits, one of each class: the encoder reads the
# digit and the error at every step. Then ten fresh samples: the decoder alone, with
# $z_t \sim \mathcal N(0, I)$.

# %%
SCALE = 4
SHOW_T = [0, 1, 2, 3, 4, 6, 8, 12, 16]


def step_table(frames, row_names, col_names, title):
    """A figure of frames (R, C, 1, H, W) with a name per row (left) and per column (top)."""
    R, C = frames.shape[:2]
    fig = Figure(figsize=(0.85 * C + 0.8, 0.85 * R + 0.6), layout="constrained")
    axes = fig.subplots(R, C, squeeze=False)
    for r in range(R):
        for c in range(C):
            axes[r, c].imshow(frames[r, c, 0].cpu(), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(col_names[c], fontsize=8)
            if c == 0:
                axes[r, c].set_ylabel(row_names[r], fontsize=8)
    fig.suptitle(title)
    return fig




def framed(net, canvases, writes):
    """T + 1 frames (n, 1, 28s, 28s): sigma(c_0), then sigma(c_t) with its write box if any."""
    start = torch.sigmoid(net.canvas0.detach()).expand(canvases.shape[1], 1, 28, 28)
    frames = [start.repeat_interleave(SCALE, -2).repeat_interleave(SCALE, -1)]
    if writes is None:
        big = canvases.repeat_interleave(SCALE, -2).repeat_interleave(SCALE, -1)
    else:
        boxes = draw.attention_box(writes, net.config.write_n, 28, 28)
        big = draw.with_boxes(canvases, boxes, scale=SCALE)
    return [f.cpu() for f in frames + list(big)]


one_of_each = torch.stack([(test.labels == k).nonzero()[0, 0] for k in range(10)])
recon_canvases, recon_writes = model.reconstruct(test.images[one_of_each],
                                                 generator=torch.Generator().manual_seed(0))
step_titles = ["t = 0: the start canvas"] + [f"t = {t}: σ(c_{t}), write box of step {t}"
                                             for t in range(1, model.config.T + 1)]
redraw_frames = framed(model, recon_canvases, recon_writes)
redraw = widgets.FrameScrubber(redraw_frames, titles=step_titles, label="t", scale=1, nrow=5)
redraw

# %%
def frames_table(frames, title, row_names, targets=None):
    """Static fallback of a canvas scrubber: its first len(row_names) images at the steps
    SHOW_T, and a last column with the target images (n, 1, 28, 28) if given."""
    rows = range(len(row_names))
    columns = [torch.stack([frames[t][i] for i in rows]) for t in SHOW_T]
    names = [f"t = {t}" for t in SHOW_T]
    if targets is not None:
        big = targets[:len(row_names)].cpu().repeat_interleave(SCALE, -2).repeat_interleave(SCALE, -1)
        columns, names = columns + [big], names + ["target x"]
    return step_table(torch.stack(columns, dim=1), row_names, names, title)


frames_table(redraw_frames, "DRAW redraws test digits in 16 steps (grey box: where step t wrote)",
             [f"test {k}" for k in range(5)], targets=test.images[one_of_each])

# %%
sample_canvases, sample_writes = model.sample(10, generator=torch.Generator().manual_seed(1))
dream_frames = framed(model, sample_canvases, sample_writes)
dreams = widgets.FrameScrubber(dream_frames, titles=step_titles, label="t", scale=1, nrow=5)
dreams

# %%
frames_table(dream_frames, "DRAW draws new digits (decoder alone, z_t ~ N(0, I))",
             [f"sample {i + 1}" for i in range(5)])

# %% [markdown]
# The shipped model has a routine, the same for test digits and for its own samples. Its
# first steps write with wide boxes and paint a blurred blob, a rough underpainting. Then
# a small box appears at the bottom of the digit and climbs, step by step, to the top,
# and the strokes appear where it passes: the digit is drawn from the bottom up. Section
# 8 measures this.
#
# And the same question for the model without attention: what does its canvas look like
# along the way? One row per model, five samples each, at a few steps.

# %%
noattn_canvases, _ = noattn.sample(10, generator=torch.Generator().manual_seed(1))
along_the_way = torch.stack([torch.stack([c[t - 1, i] for t in SHOW_T[1:]])
                             for c in (sample_canvases, noattn_canvases) for i in range(3)])
step_table(along_the_way, [f"{m}\nsample {i + 1}" for m in ("attention", "no attention") for i in range(3)],
           [f"t = {t}" for t in SHOW_T[1:]], "σ(c_t) along the way: with and without attention")

# %% [markdown]
# Scrub through and compare. With attention, each step changes the canvas only in and
# around its box (the filters' tails reach a couple of $\sigma$ beyond it), so a digit
# can be built up piece by piece. Without attention, every step can change the whole
# canvas, and the digit comes into focus everywhere at once, from a blur, more like a
# photograph developing than like a pen. How much of that is real, and does it help the
# likelihood? Three measurements.

# %% [markdown]
# ## 8 · Diagnose: how the drawing is spent
#
# *Strategy: divide and conquer.* The bound of section 3 is a sum over steps, so we can
# ask each step what it did: (a) **the KL of step $t$**, the nats the encoder sent at that
# step (from the package's `forward` on test digits); (b) **the ink it moved**, the summed
# absolute change $\sum_{\text{pixels}} |\sigma(c_t) - \sigma(c_{t-1})|$ (on samples); and
# (c) **whether the digit can be read yet**: the judge (chapter 01's classifier) reads
# the reconstruction's canvas $\sigma(c_t)$ at every step, and we count how often it names
# the true digit.

# %%
x_stats, y_stats = test.images[:N_STATS], test.labels[:N_STATS]
per_step = {}
t0 = time.perf_counter()
for name, net in (("attention", model), ("no attention", noattn)):
    with torch.no_grad():
        canv, kls = net(x_stats, generator=torch.Generator().manual_seed(2))
        pictures = torch.sigmoid(canv)                                       # (T, n, 1, 28, 28)
        samples, _ = net.sample(N_STATS, generator=torch.Generator().manual_seed(3))
    start = torch.sigmoid(net.canvas0.detach()).expand_as(samples[0])
    moved = torch.diff(torch.cat([start[None], samples]), dim=0).abs()      # (T, n, 1, 28, 28)
    per_step[name] = {
        "kl": kls.mean(1).cpu(),
        "ink": moved.flatten(2).sum(2).mean(1).cpu(),
        "where": (moved.mean(1) / moved.mean(1).amax(dim=(1, 2, 3), keepdim=True)).cpu(),
        "read": torch.tensor([metrics.label_accuracy(pictures[t], y_stats)
                              for t in range(net.config.T)]),
        "samples": samples,
    }
print(f"{N_STATS} test digits and {N_STATS} samples per model, {time.perf_counter() - t0:.0f} s")
for name, st in per_step.items():
    total = st["kl"].sum().item()
    half_by = int((st["kl"].cumsum(0) < 0.5 * total).sum()) + 1
    readable_by = int((st["read"] < 0.9 * st["read"][-1]).nonzero().max()) + 2 \
        if (st["read"] < 0.9 * st["read"][-1]).any() else 1
    busiest = int(st["ink"].argmax()) + 1
    print(f"{name:>12}: KL {total:.1f} nats in all, half of it sent by step {half_by}; most ink "
          f"moved at step {busiest}; the judge reads the true digit at steps 1 / 4 / 8 / 16: "
          f"{st['read'][0]:.0%} / {st['read'][3]:.0%} / {st['read'][7]:.0%} / "
          f"{st['read'][-1]:.0%} (and stays above 90% of its final score from step {readable_by})")

# %%
steps = torch.arange(1, model.config.T + 1)
fig = Figure(figsize=(12, 3.4), layout="constrained")
ax_kl, ax_ink, ax_read = fig.subplots(1, 3)
for name, st in per_step.items():
    ax_kl.plot(steps, st["kl"], "o-", label=name)
    ax_ink.plot(steps, st["ink"], "o-", label=name)
    ax_read.plot(steps, st["read"], "o-", label=name)
ax_kl.set(xlabel="step t", ylabel="mean KL_t (nats)", title="(a) nats sent at each step")
ax_ink.set(xlabel="step t", ylabel="Σ |σ(c_t) - σ(c_t-1)| (pixels)",
           title="(b) ink moved at each step (samples)")
ax_read.set(xlabel="step t", ylabel="judge accuracy on σ(c_t)", ylim=(0, 1.02),
            title="(c) can the digit be read yet?")
for ax in (ax_kl, ax_ink, ax_read):
    ax.legend(fontsize=8)
fig.suptitle(f"how DRAW spends its 16 steps ({N_STATS} test digits or samples per model)")
fig

# %%
step_table(torch.stack([per_step[name]["where"] for name in per_step]), list(per_step),
           [f"t = {t}" for t in steps.tolist()],
           f"where the ink changes at step t (mean |Δσ(c_t)| over {N_STATS} samples, each map "
           f"scaled to its own maximum)")

# %% [markdown]
# How to read these. A model that settles *which* digit early and then corrects details
# sends most of its nats in the first steps, and the judge can name the digit long before
# the last step. A model that spreads its work over the steps sends a similar amount at
# each step, and its digit becomes readable late. The printed lines say where each model sits: how soon half its KL has
# been sent, which step moves the most ink, and from which step on the judge's reading is
# close to final. The ink maps show what attention changes. Without attention, the change
# at every step is spread over the whole region where digits have ink: each step touches
# the entire drawing. With attention, each single step changes only the inside of its
# box; averaged over many samples whose boxes sit in different places the maps still
# blur, but they show *where* each step tends to work, and those places move from step
# to step.
#
# In our full run the two models are the two kinds. Without attention, half the KL is
# sent by step 5 and the judge names most digits correctly from step 5 on: the first
# steps settle the digit and its shape everywhere at once, and the rest refine. With
# attention, the KL is spent evenly, one or two nats a step (half of it only by step 8);
# its busiest step for ink is the blocking-in at the start; and the judge names fewer
# than one digit in five correctly until step 5, about half by step 9, and nearly all
# only at the end. Its ink maps say why: after the first steps, each step works on a new
# horizontal band of the digit, and the bands climb from the bottom to the top.
#
# Now the attention itself. Where do the write boxes go, and how large are they? And the
# read, which we never see in `sample`: our `unroll` kept its emissions for test digits.

# %%
with torch.no_grad():
    run = unroll(model, x_stats, torch.Generator().manual_seed(2))
    _, dream_writes = model.sample(N_STATS, generator=torch.Generator().manual_seed(3))
names = draw.ATTENTION_PARAMS


def geometry(emissions, N):
    """Box width (pixels), centre (x, y) and filter sigma (pixels) per step and image."""
    params = emissions if isinstance(emissions, dict) else {k: emissions[..., i] for i, k in enumerate(names)}
    box = draw.attention_box(params, N, 28, 28)
    return {"width": (box[..., 2] - box[..., 0]).cpu(),
            "cx": ((box[..., 0] + box[..., 2]) / 2).cpu(), "cy": ((box[..., 1] + box[..., 3]) / 2).cpu(),
            "sigma": (0.5 * params["log_sigma2"]).exp().cpu()}


geo = {"write, samples": geometry(dream_writes, model.config.write_n),
       "write, test digits": geometry(run["write"], model.config.write_n),
       "read, test digits": geometry(run["read"], model.config.read_n)}
fig = Figure(figsize=(12, 3.6), layout="constrained")
ax_w, ax_s, ax_c = fig.subplots(1, 3)
for name, g in geo.items():
    q = torch.quantile(g["width"], torch.tensor([0.25, 0.5, 0.75]), dim=1)
    line, = ax_w.plot(steps, q[1], "o-", label=name)
    ax_w.fill_between(steps, q[0], q[2], color=line.get_color(), alpha=0.2)
    ax_s.plot(steps, g["sigma"].median(1).values, "o-", label=name)
ax_w.axhline(27, color="grey", linestyle="--", linewidth=1)
ax_w.set(xlabel="step t", ylabel="box width (pixels)",
         title="box width: median and quartiles (27 = edge to edge)")
ax_s.set(xlabel="step t", ylabel="median σ (pixels)", title="filter blur σ")
g = geo["write, samples"]
paths = ax_c.scatter(g["cx"][:, :40].flatten(), g["cy"][:, :40].flatten(), s=6,
                     c=steps.repeat_interleave(40), cmap="viridis")
ax_c.set(xlim=(-2, 29), ylim=(29, -2), aspect="equal", xlabel="x (pixels)", ylabel="y (pixels)",
         title="write-box centres of 40 samples")
ax_c.plot(g["cx"].median(1).values, g["cy"].median(1).values, "k.-", linewidth=1,
          label="median centre per step")
ax_c.legend(fontsize=8, loc="lower right")
fig.colorbar(paths, ax=ax_c, label="step t")
for ax in (ax_w, ax_s):
    ax.legend(fontsize=8)
fig.suptitle("where DRAW's attention goes, step by step")
fig

# %%
for name, g in geo.items():
    move = torch.hypot(torch.diff(g["cx"], dim=0), torch.diff(g["cy"], dim=0)).median().item()
    print(f"{name:>19}: median box width {g['width'][0].median().item():5.1f} px at step 1, "
          f"{g['width'][-1].median().item():5.1f} px at step 16 (all steps "
          f"{g['width'].median().item():5.1f}); median σ {g['sigma'].median().item():.2f} px; "
          f"median move of the centre between steps {move:.1f} px")
g = geo["write, samples"]
height = g["cy"].median(1).values
iqr = lambda v: (torch.quantile(v, 0.75) - torch.quantile(v, 0.25)).item()
r, w = geo["read, test digits"], geo["write, test digits"]
apart = torch.hypot(r["cx"] - w["cx"], r["cy"] - w["cy"]).median().item()
print(f"test digits: the read box of step t is centred {apart:.1f} px (median) from the write "
      f"box of the same step, which it precedes")
print(f"median write centre: y = {height[3]:.1f} px at step 4, {height[7]:.1f} at step 8, "
      f"{height[-1]:.1f} at step 16 (y grows downwards); spread over samples at step 8: "
      f"x {iqr(g['cx'][7]):.1f} px, y {iqr(g['cy'][7]):.1f} px (interquartile ranges)")

# %% [markdown]
# Read these numbers against the grid's geometry: the $5 \times 5$ write box spans
# $4\delta$, so a box 10 pixels wide has filters 2.5 pixels apart. In our full run the
# write boxes are wide (over 20 pixels) for the first two or three steps, the
# underpainting; from step 4 on they are about 10 pixels wide with $\sigma$ about 1.5
# pixels, and the median centre climbs from near the bottom of the digit to near its top,
# about 2 pixels a step. The read follows the same path: its box of step $t$, chosen before
# step $t$ writes, is centred a couple of pixels from that step's write box, and its width
# and blur track the write's. The encoder looks where the decoder is about to draw.
#
# The seed post says that DRAW on MNIST "writes out the digits like a person writing with
# a pen", and the paper's Figure 1 does look like handwriting. Our model is half of that.
# Its writes are small and follow one another along a path, as a pen's would. But the path
# is nearly the *same* for every digit, one bottom-to-top sweep (the spread over samples
# at step 8 is a few pixels), and it runs against the way people write: a person starts
# a 0 at the top and goes round; this model scans a window upwards over whatever digit it
# is drawing. It is a pen-sized brush on a fixed route, which is a reasonable way to cut
# a 28x28 image into 16 small jobs, and it explains section 8's numbers: the KL is spent
# evenly because every step has a fresh strip to draw, and the judge can name the digit
# only once the sweep has covered enough of it.

# %% [markdown]
# ## 9 · Verify: the likelihood, against the VAE and the paper
#
# *Strategy: verify, on the course's common scale.* All three models are measured the same
# way on the same data: the $-$ELBO in nats per image, one sampled run per digit, on the
# course's statically binarized test set, computed here (`draw.test_bound`,
# `vae.test_bound`); next to it what each checkpoint records, including the IWAE estimate
# of $-\log p(x)$, a tighter bound (the estimator column names its $k$: 50 importance
# samples per digit for the DRAWs, thousands for the VAE; too slow to recompute here). The paper reports the $-$ELBO for DRAW: 80.97 nats
# with attention and 87.40 without (Gregor et al. 2015, Table 2); the course's target for
# the shipped DRAW is $-$ELBO $\le 82$. The paper's binarization is another random draw of
# the same process, so the numbers compare to within about a nat.

# %%
def recorded(net):
    """The metrics a checkpoint recorded ({} for a model trained in this notebook)."""
    return getattr(net, "checkpoint_info", {}).get("metrics", {})


def fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


table = {}
x_bound = test.images[:N_BOUND]
for name, net, paper in (("VAE (chapter 04)", vae_model, None),
                         ("DRAW, no attention", noattn, 87.40),
                         ("DRAW, attention", model, 80.97)):
    t0 = time.perf_counter()
    bounds = (vae.test_bound(net, x_bound) if isinstance(net, vae.VAE) else draw.test_bound(net, x_bound))
    table[name] = {"bound": bounds.mean().item(), "se": bounds.std().item() / math.sqrt(N_BOUND),
                   "seconds": time.perf_counter() - t0, "paper": paper, "metrics": recorded(net),
                   "params": sum(p.numel() for p in net.parameters())}
print(f"Table 1 · test NLL in nats per image, {N_BOUND} static binary test digits "
      f"(recorded numbers: all 10,000)")
print(f"{'':>19} {'-ELBO here':>15} {'-ELBO rec.':>10} {'IWAE rec.':>9} {'estimator':>12} "
      f"{'paper':>6} {'params':>9} {'train min':>9} {'FID':>6}")
for name, r in table.items():
    m = r["metrics"]
    train_min = None if "train_seconds" not in m else m["train_seconds"] / 60
    print(f"{name:>19} {r['bound']:>8.2f} ± {r['se']:4.2f} {fmt(m.get('test_nll_bound_nats')):>10} "
          f"{fmt(m.get('test_nll_nats')):>9} {m.get('test_nll_estimator', '-'):>12} "
          f"{fmt(r['paper']):>6} {r['params']:>9,} {fmt(train_min, '.0f'):>9} "
          f"{fmt(m.get('fid_mnist'), '.1f'):>6}")
seconds = ", ".join(f"{r['seconds']:.1f}" for r in table.values())
print(f"(± one standard error over the test digits; the three -ELBOs took {seconds} s here)")

# %%
ours = table["DRAW, attention"]["bound"]
target = 82.0
gain = table["DRAW, no attention"]["bound"] - ours
vae_gain = table["VAE (chapter 04)"]["bound"] - ours
print(f"DRAW with attention: -ELBO {ours:.2f} nats; paper 80.97; course target <= {target}: "
      + ("met" if ours <= target else f"missed by {ours - target:.2f} nats"))
print(f"attention vs no attention: {'attention' if gain > 0 else 'no attention'} ahead by "
      f"{abs(gain):.2f} nats (paper: attention ahead by 6.43)")
print(f"DRAW with attention vs the chapter-04 VAE: {'DRAW' if vae_gain > 0 else 'the VAE'} ahead "
      f"by {abs(vae_gain):.2f} nats of -ELBO")
print("\nthe budgets behind these numbers:")
for name, net, row in (("draw", model, "DRAW, attention"), ("draw_noattn", noattn, "DRAW, no attention"),
                       ("vae", vae_model, "VAE (chapter 04)")):
    m = recorded(net)
    minutes = fmt(m["train_seconds"] / 60, ".0f") if "train_seconds" in m else "-"
    recipe = (vae.RECIPES if name == "vae" else draw.RECIPES)[name]
    shape = (f"trained on the IWAE bound with k = {recipe['k']}" if name == "vae" else
             f"T = {net.config.T} steps of {net.config.z_dim} latent numbers")
    print(f"  {name}: recipe {recipe['epochs']} epochs of 600 updates, {shape}; "
          f"{table[row]['params']:,} parameters; recorded training {minutes} min on "
          f"{m.get('hardware', runtime.describe())}")
print("  the paper's MNIST models (its Table 3): T = 64 steps of 100 latent numbers, LSTMs of 256")

# %% [markdown]
# How to read Table 1:
#
# - **Attention against no attention.** In our full run the model without attention
#   comes out slightly ahead (the line above says by how much), the reverse of the
#   paper's 6.4 nats for attention. The comparison is not on equal terms, and the budget
#   lines say why: the recipes gave the model without attention fewer epochs (the session
#   that trained them had two CPU cores), while it has about three times the parameters,
#   nearly all in its 784-wide read and write layers. So at these budgets attention bought
#   no nats; what it changed is *how* the digit gets drawn (section 8).
# - **DRAW against the chapter-04 VAE**: the difference is printed above. Note the VAE's
#   recipe: many more epochs, and a 5-sample IWAE objective, which optimizes the IWAE
#   bound rather than the ELBO and can leave its ELBO looser than an ELBO-trained VAE's;
#   its IWAE column is the fairer number for it.
# - **Against the paper and the target**, the printed gap is the honest answer. The paper's
#   models ran $T = 64$ steps with 100 latent numbers per step (ours: 16 steps of 16) and
#   were trained far longer; our checkpoints had ten or twenty epochs on two CPU cores. The line
#   above says whether the target of 82 nats is met.
# - The IWAE column sits below the $-$ELBO column, as it must: more importance samples give
#   a tighter bound, and the distance between the two says how loose the one-sample ELBO
#   is for each model.
# - *Strategy: verify the instrument.* In the default mode "$-$ELBO here" is measured on
#   all 10,000 digits with the same seeded draws as the recorded number, so the two columns
#   must agree up to float rounding: a check that the model we loaded is the model that
#   was measured. (Fast mode measures 500 digits, so there they differ by noise.)
#
# In our full run the shipped DRAW misses the target by about 11 nats (the paper by about
# 12), it does **not** beat the chapter-04 VAE (its $-$ELBO is about two nats worse), and
# attention does not beat no attention. The ideas of section 2 have not paid off in nats
# at our budget. Before blaming the ideas, a control.
#
# ### Diagnose: the idea, or the budget?
#
# *Strategy: diagnose with a control.* A model that has learned about all its training
# can teach it scores better on the digits it trained on than on new ones: it has begun
# to fit its training set. A model whose training stopped early scores the same on both.
# We measure each model's $-$ELBO on training digits (binarized once, with a fixed seed)
# and compare with its test number.

# %%
x_train = torch.bernoulli(train_set.images[:N_BOUND].cpu(),
                          generator=torch.Generator().manual_seed(0)).to(DEVICE)
for name, net in (("VAE (chapter 04)", vae_model), ("DRAW, no attention", noattn),
                  ("DRAW, attention", model)):
    bound = vae.test_bound if isinstance(net, vae.VAE) else draw.test_bound
    on_train = bound(net, x_train).mean().item()
    print(f"{name:>18}: -ELBO {on_train:.2f} on {N_BOUND} training digits, "
          f"{table[name]['bound']:.2f} on test digits: test - train = "
          f"{table[name]['bound'] - on_train:+.2f} nats")

# %% [markdown]
# In our full run the VAE scores about a nat better on its training digits than on the
# test digits: after its many epochs it has started to fit the training set, and more of
# the same training would buy it little. Both DRAWs score the same on both: they are
# nowhere near that point. Their bounds are set by how long they trained, not yet by what
# they can represent: a sixth of the VAE's epochs or less, in a similar wall time (the
# budget lines above), because one DRAW update runs two LSTMs 16 times where the VAE runs
# its encoder once and its decoder five times. So the fair summary is: at equal CPU time on two cores the plain VAE wins;
# DRAW has room left that more training could use, and whether that room holds the
# paper's margins (over the VAE, and of attention over none) our budget cannot tell. (The paper's
# 80.97 came from 64 steps of 100 latent numbers each, trained far longer.)
#
# Where did the nats go? Section 1 found the VAE paying nearly all its reconstruction nats
# at stroke edges. We split DRAW's bound the same way, on the same test digits.

# %%
with torch.no_grad():
    canv, draw_kls = model(x_diag, generator=torch.Generator().manual_seed(4))
draw_nll_map = F.binary_cross_entropy_with_logits(canv[-1], x_diag, reduction="none")
print(f"{N_DIAG} test digits, one sampled z per digit; nats per image")
print(f"{'':>10} {'VAE':>7} {'DRAW':>7} {'DRAW - VAE':>11}")
for name, mask in kinds.items():
    v = (vae_nll_map * mask).flatten(1).sum(1).mean().item()
    d = (draw_nll_map * mask).flatten(1).sum(1).mean().item()
    print(f"{name:>10} {v:>7.2f} {d:>7.2f} {d - v:>+11.2f}")
draw_kl = draw_kls.sum(0).mean().item()
print(f"{'KL':>10} {vae_kl:>7.2f} {draw_kl:>7.2f} {draw_kl - vae_kl:>+11.2f}")
vae_total = vae_nll_map.flatten(1).sum(1).mean().item() + vae_kl
draw_total = draw_nll_map.flatten(1).sum(1).mean().item() + draw_kl
print(f"{'-ELBO':>10} {vae_total:>7.2f} {draw_total:>7.2f} {draw_total - vae_total:>+11.2f}")

# %% [markdown]
# If DRAW's extra machinery paid off where section 1 found the VAE's losses, the edge row
# is where its reconstruction would beat the VAE's; the KL row shows what it spends in
# exchange. Both models are scored on the same digits with one sampled code each, so the
# rows add up to each model's $-$ELBO on these digits. In our full run the two models
# look alike row by row: DRAW sends about as many nats of code as the VAE and still pays
# about as much at the edges. At this budget, looking at the error image sixteen times
# has not yet taught it to place strokes more exactly than one shot from one code.

# %% [markdown]
# ## 10 · Words in, digits out: a label-conditioned DRAW
#
# The seed post came to DRAW from text-to-image synthesis, and Mansimov's slides end with
# **alignDRAW**, which draws images from captions ("a stop sign is flying in blue skies"):
# a recurrent network reads the caption, and at every step the DRAW decoder attends to
# the words while it draws. We build the smallest version of that idea: the caption is a
# single word, the digit's label, fed to the decoder as a one-hot vector at every step,
# $h^{dec}_t = \operatorname{LSTM}^{dec}(h^{dec}_{t-1}, [z_t, y])$. The bound is the same
# with every distribution conditioned on $y$, so it bounds $\log p(x \mid y)$. The shipped
# `draw_cond` is a smaller model than `draw` (the cell prints its configuration).
#
# First the drawings: each row asks for one digit; the columns are steps, grey boxes the
# write attention.

# %%
cond = load_or_train("draw_cond")
asked = torch.arange(10, device=DEVICE).repeat_interleave(N_COND)
t0 = time.perf_counter()
cond_canvases, cond_writes = cond.sample(len(asked), labels=asked,
                                         generator=torch.Generator().manual_seed(5))
cond_seconds = time.perf_counter() - t0
first = torch.arange(0, len(asked), N_COND)                           # one sample per label
boxes = draw.attention_box({k: v[:, first] for k, v in cond_writes.items()}, cond.config.write_n, 28, 28)
with_box = draw.with_boxes(cond_canvases[:, first], boxes, scale=2)   # (T, 10, 1, 56, 56)
step_table(torch.stack([with_box[t - 1] for t in SHOW_T[1:]], dim=1), [f"asked: {k}" for k in range(10)],
           [f"t = {t}" for t in SHOW_T[1:]], "the label-conditioned DRAW draws each digit in 16 steps")

# %%
final = cond_canvases[-1]
accuracy = metrics.label_accuracy(final, asked)
per_label = metrics.judge().predict(final).view(10, N_COND).eq(torch.arange(10, device=final.device)[:, None])
per_step_acc = [metrics.label_accuracy(cond_canvases[t], asked) for t in range(cond.config.T)]
print(f"{len(asked)} samples ({N_COND} per digit) in {cond_seconds:.1f} s; the judge reads the "
      f"asked digit in {accuracy:.1%} of them (recorded: "
      f"{fmt(recorded(cond).get('label_accuracy'), '.1%')})")
print("per digit: " + "  ".join(f"{k}: {per_label[k].float().mean().item():.0%}" for k in range(10)))
print("by step t: " + "  ".join(f"{t + 1}: {a:.0%}" for t, a in enumerate(per_step_acc)))
shows_at = next((t + 1 for t, a in enumerate(per_step_acc) if a >= 0.5), None)
print(f"the judge first names the asked digit in half of the samples at step {shows_at}")
cond_y = geometry(cond_writes, cond.config.write_n)["cy"].median(1).values
print(f"median write centre of the conditional model: y = {cond_y[3]:.1f} px at step 4, "
      f"{cond_y[7]:.1f} at step 8, {cond_y[-1]:.1f} at step 16 (the unconditional model: "
      f"{height[3]:.1f}, {height[7]:.1f}, {height[-1]:.1f})")
cond_bound = draw.test_bound(cond, x_bound, test.labels[:N_BOUND]).mean().item()
print(f"-ELBO of log p(x | y) on {N_BOUND} test digits: {cond_bound:.2f} nats; so -log p(x) <= "
      f"{cond_bound:.2f} + log 10 = {cond_bound + math.log(10):.2f} nats, a bound on the "
      f"unconditional likelihood too")

# %% [markdown]
# The last line uses a small identity, *strategy: bounds*: $p(x) = \sum_y p(y)\,p(x \mid y)
# \ge \tfrac1{10}\,p(x \mid y_{\text{true}})$, so a conditional model's $-\log p(x \mid y)$
# plus $\log 10 = 2.30$ nats bounds the unconditional NLL of the digit. That puts the small
# conditional model on the scale of Table 1.
#
# The scrubber shows all the samples at once, ten per row, one row per asked digit.

# %%
cond_frames = widgets.FrameScrubber(
    [cond_canvases[t, torch.cat([torch.arange(k * N_COND, k * N_COND + 10) for k in range(10)])]
     for t in range(cond.config.T)],
    titles=[f"step {t + 1}: row k asks for digit k" for t in range(cond.config.T)],
    label="t", scale=2, nrow=10)
cond_frames

# %%
cond_frames.strip(max_frames=5, title="label-conditioned samples, 10 per digit (rows 0-9), "
                                      "as the canvas fills")

# %% [markdown]
# Every drawing starts from the same canvas, the mean digit, whatever the label; the
# per-step line says at which step the asked digit becomes readable to the judge, and how
# the score climbs from there to the final one. Look at the boxes, too: in our full run
# the conditional model also sweeps a small brush along the digit, but from the top
# *down*, the opposite way to the unconditional `draw` (the last printed line). The
# direction of the sweep is a convention that each training run settles into, not
# something the digits dictate. The label is the whole "caption" here, so
# the conditional model only has to learn style from $z$. alignDRAW's captions describe
# scenes in several words, and its decoder chooses which word to attend to at each step
# with a second attention, over the words instead of over pixels.

# %% [markdown]
# ## 11 · Diagnose: are the drawings sharp?
#
# *Strategy: measure what the eye sees.* Chapter 04 ended with a question: what happens to
# the blur when each step only has to fix what the previous steps got wrong? DRAW's
# samples, like the VAE's, are the decoder's pixel means $\sigma(c_T)$, and the seed post
# notes that DRAW's digits keep the VAE's "blurry softness". Real binarized digits have
# every pixel at exactly 0 or 1. We measure the softness as chapter 04 did, the share of
# the inked pixels (mean above 0.1) that are grey (mean below 0.9), and add the samples'
# total Bernoulli entropy: the nats of pixel noise that drawing actual 0/1 pixels would
# add. In our full run the seed is right and the answer to chapter 04's question is
# plain: DRAW's samples are as grey as the VAE's, about two inked pixels in three.

# %%
def softness(images):
    """(share of the inked pixels (mean > 0.1) that are grey (mean < 0.9), as in chapter 04;
    Bernoulli entropy of the pixels in nats per image). Both are 0 for binary images."""
    p = images.clamp(1e-6, 1 - 1e-6)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).flatten(1).sum(1)
    grey = ((p > 0.1) & (p < 0.9)).sum() / (p > 0.1).sum()
    return grey.item(), entropy.mean().item()


vae_samples = vae_model.sample(N_STATS, generator=torch.Generator().manual_seed(3))
soft = {"binary test digits": test.images[:N_STATS], "VAE (chapter 04)": vae_samples,
        "DRAW, no attention": per_step["no attention"]["samples"][-1],
        "DRAW, attention": per_step["attention"]["samples"][-1], "DRAW, label-conditioned": final}
print(f"{'':>24} {'grey among inked pixels':>24} {'pixel entropy (nats)':>21}")
for name, images in soft.items():
    share, entropy = softness(images)
    print(f"{name:>24} {share:>24.0%} {entropy:>21.1f}")

# %%
dream = per_step["attention"]["samples"][-1][:8]
coin = torch.bernoulli(dream.cpu(), generator=GEN)
fig = Figure(figsize=(10, 4.2), layout="constrained")
for ax, (name, images) in zip(fig.subplots(3, 1), [("DRAW's sample: the pixel means σ(c_T)", dream),
                                                  ("one draw of the Bernoulli pixels", coin),
                                                  ("the means thresholded at 0.5", (dream > 0.5).float())]):
    plot.grid(images, nrow=8, ax=ax, title=name)
fig.suptitle("a pixel-likelihood model gives a mean image, not a drawing")
fig

# %% [markdown]
# The likelihood model's "sample" is a mean over pixel coins. Flipping the coins (middle
# row) gives a true sample of the model, and it is speckled, because the decoder made each
# edge pixel a coin flip and the flips are independent given $z_{1:T}$. Thresholding (bottom)
# looks cleaner but is no longer a sample of anything the model defines. The softness is
# not a bug of DRAW: it is what a model trained to maximize $\log p(x)$ with independent
# pixels *should* do when it is unsure exactly where a stroke's edge is. Hedging costs it
# little in nats; committing to a wrong edge costs a lot.

# %% [markdown]
# ## Exercises
#
# **1. The attention as a plain copy.** Choose the five emissions and $N$ so that the read
# glimpse *is* the 28x28 image (to within 1%). Which parameters matter?
#
# <details><summary>Solution</summary>
#
# With $N = A = 28$ and $\tilde g_X = \tilde g_Y = 0$, the centre is $g = 14.5$ and
# $\tilde\delta = 1$ gives $\delta = 27/27 = 1$, so $\mu^i = 14.5 + (i - 14 - 0.5) = i$:
# one filter on every pixel. A small $\sigma$ makes each filter (almost) a single pixel,
# so $F_X \approx F_Y \approx I$; $\gamma = 1$.
#
# ```python
# z = torch.zeros(1)
# F_x, F_y = draw.filterbank(z, z, torch.tensor([-3.0]), z, 28, 28, 28)
# glimpse = draw.read_glimpse(test.images[:1, 0].cpu(), F_x, F_y, torch.ones(1))
# print((glimpse - test.images[:1, 0].cpu()).abs().max())   # about 2e-4 with log sigma^2 = -3
# ```
# With $\log\sigma^2 = -3$ ($\sigma \approx 0.22$ pixels) each filter puts about $4 \cdot
# 10^{-5}$ of its weight on each neighbour, so the glimpse is the image to well within 1%.
# At $\log\sigma^2 = 0$ ($\sigma = 1$) the neighbours get about a quarter of the weight
# each and the glimpse is visibly blurred. The stride and centre must be exact; $\sigma$
# only has to be small compared with the stride.
#
# </details>
#
# **2. Does the encoder look at its mistakes?** Make a copy of the shipped model whose
# read gets an error image of zeros, $\hat x_t = 0$, and measure the $-$ELBO on 1,000 test
# digits against the real model.
#
# <details><summary>Solution</summary>
#
# ```python
# class NoErrorImage(draw.DRAW):
#     def read(self, x, x_hat, h_dec):
#         return super().read(x, torch.zeros_like(x_hat), h_dec)
#
# blind = NoErrorImage(model.config).to(DEVICE)
# blind.load_state_dict(model.state_dict())
# blind.eval()
# for name, net in (("with the error image", model), ("error image set to 0", blind)):
#     print(name, draw.test_bound(net, test.images[:1000]).mean().item())
# ```
# In our run the bound on these 1,000 digits goes from about 92 nats to about 350, worse
# than drawing the mean digit: the trained encoder leans on the error image completely.
# That does not prove the error image is *needed* (a model trained without it would learn to
# compare $x$ with its own memory of the canvas, which the decoder state feeds it), only
# that this model uses it. Training both variants with the same budget is the real test:
# build one model from `draw.DRAW` and one from this subclass and train each with a loop
# like section 6's `short_run`.
#
# </details>
#
# **3. Does DRAW use its bigger code?** DRAW has $16 \times 16 = 256$ latent numbers per
# image, the VAE 32. Count how many of each are *active* (mean KL over test digits above
# 0.01 nats), and how DRAW's active ones are spread over the steps.
#
# <details><summary>Solution</summary>
#
# `unroll` keeps each step's $\mu_t$ and $\log\sigma_t^2$, so the KL of every single latent
# number is one line. For a fair comparison, count the VAE's active numbers by the same
# criterion.
#
# ```python
# with torch.no_grad():
#     run = unroll(model, test.images[:1000], torch.Generator().manual_seed(0))
#     mu, logvar = vae_model.encode(test.images[:1000])
# draw_kl = 0.5 * (run["mu"] ** 2 + run["logvar"].exp() - 1 - run["logvar"]).mean(1)  # (T, z_dim)
# vae_kl_each = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).mean(0)                  # (z_dim,)
# print((draw_kl > 0.01).sum().item(), "of", draw_kl.numel(), "active in DRAW; per step:",
#       (draw_kl > 0.01).sum(1).tolist())
# print((vae_kl_each > 0.01).sum().item(), "of", vae_kl_each.numel(), "active in the VAE")
# ```
# In our run DRAW uses 42 of its 256 numbers, two or three per step, against 24 of the
# VAE's 32, and section 9 found the two spending about the same KL per digit. So the
# bigger code is mostly unused: each unused number saves its KL and costs the decoder
# little, the same economy that leaves some of the VAE's numbers idle. DRAW spends about
# as much information as the VAE, only cut into sixteen small messages, each conditioned
# on what is already on the canvas.
#
# </details>
#
# **4. Sharper samples for free?** Compute FID-MNIST against the binary test digits for
# 1,000 DRAW samples three ways: the mean images, one Bernoulli draw of the pixels, and the
# means thresholded at 0.5 (as in section 11). Which looks most like real binary digits
# to the judge, and is that the model's fault or the measurement's?
#
# <details><summary>Solution</summary>
#
# ```python
# means = model.sample(1000, generator=torch.Generator().manual_seed(7))[0][-1]
# reference = test.images
# for name, images in (("means", means), ("Bernoulli draw", torch.bernoulli(means)),
#                      ("thresholded", (means > 0.5).float())):
#     print(name, metrics.fid_mnist(images, reference))
# ```
# In our run (1,000 samples, so the values are larger than the 10,000-sample FIDs the
# checkpoints record) the thresholded means score best, about 16, the means about 29,
# and the Bernoulli draws worst, about 44. The Bernoulli draw is the only true sample of
# the model, and its speckle moves it away from real digits; the threshold is a
# post-processing step the model never trained for and the likelihood cannot score.
# Either way, the model itself was trained to get pixel probabilities right one by one,
# not to make images that look real as a whole: that is the question a critic network
# asks in chapter 06.
#
# </details>

# %% [markdown]
# ## The bridge to chapter 06
#
# DRAW gave the decoder what section 1 found missing: steps, a look at the error image
# between them, and a choice of where to write. At our budget that bought no nats, over
# the VAE or over a DRAW without attention (section 9, with a control that blames the
# budget more than the idea), but it bought a model whose drawing we can watch, measure
# and steer: an underpainting, then a
# small brush sweeping up the digit, and with a label fed at every step, digits to order.
# And look at section 11: its drawings are still soft. Every sample is a grid of pixel
# probabilities, and the honest sample, a coin flip per pixel, is speckled. That is the
# pixel likelihood at work, not the architecture: a decoder scored one independent pixel
# at a time does best by *averaging* over the places a stroke might be, and no number of
# steps changes what the loss rewards. Chapter 01 met the same problem with squared
# error, and chapters 03 to 05 changed the model but kept the pixels independent given a
# hidden code, each scored by its own probability. So what if no pixel-by-pixel score
# judged the drawings at all? A second network
# could look at a whole image and say whether it looks real, and the generator could learn
# to fool it. That is the **generative adversarial network**, chapter 06.

# %%
print(f"whole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")
