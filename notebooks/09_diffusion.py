# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # 09 · Diffusion: many small denoising steps
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Chapter 08's flow turned noise into a digit in one pass and gave an
# exact likelihood, but paid for both in its architecture: one map, invertible, with a
# determinant we can compute, moving half of the numbers at a time. Its samples stayed
# well behind the GANs'. This chapter keeps the picture of a path from noise to an image
# and drops the demand that the path be one invertible map. We **destroy** digits on
# purpose, in a thousand small steps of Gaussian noise whose every detail we know, and
# train a network to undo **one small step at a time**. The forward process needs no
# learning at all; we derive why any of its steps can be drawn in one go and check it by
# Monte Carlo. We then build the pieces: the noise schedule, the training objective
# (predict the noise), the U-Net that predicts it, the reverse step, and we train one
# while we watch. With the shipped model we watch digits come out of noise, test the
# remarks of seed 002's slides one by one (what the extra noise in each reverse step is
# for, whether fewer steps cost diversity, whether the model copies its training set, and
# what the network really estimates), and finally reach the goal set in chapter 00:
# $y = f(\text{label}, \theta, Z)$, a digit of the label we ask for, drawn fresh each time,
# with **classifier-free guidance** deciding how hard the label is obeyed.

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

import drawjourney as dj
from drawjourney import data, judge, metrics, plot, runtime, train, widgets
from drawjourney.models import diffusion, mlp

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator for the notebook's own random draws

CUDA = DEVICE.type == "cuda"


def size(fast, cpu, cuda):
    """One size per way of running: fast mode, default on CPU/MPS, default on CUDA."""
    return fast if FAST else (cuda if CUDA else cpu)


N_CHAINS = size(200, 2_000, 4_000)        # Monte Carlo chains for the one-step check
LIVE_MINUTES = size(0.1, 2.0, 2.0)        # the live run's budget
SNAP_EVERY = size(4, 100, 200)            # live-run snapshot interval, in steps
N_EPS = size(100, 1_000, 10_000)          # test digits for the noise-prediction error
N_ERR = size(20, 200, 1_000)              # test digits per step in the error-by-step plot
N_DDPM = size(2, 24, 1_000)               # samples per DDPM run: 1000 network passes each
N_SAME = size(2, 4, 16)                   # samples from one shared starting noise
N_LARGE = size(10, 1_000, 5_000)          # samples for DDIM-50 and DDIM-10 at a larger n
DDIM_STEPS = (1000, 250, 50, 10) if (FAST or CUDA) else (250, 50, 10)   # DDIM-1000 costs DDPM's time
N_NN = size(10, 100, 1_000)               # samples whose nearest training digits we find
SWEEP_STEPS = size(5, 20, 50)             # DDIM steps in the guidance sweep and the widget
GRID_STEPS = size(5, 25, 50)              # DDIM steps for the sample grid of section 8
N_W = size(20, 300, 2_000)                # guided samples per guidance weight
WEIGHTS = (0.0, 1.0, 3.0) if FAST else (0.0, 0.5, 1.0, 2.0, 4.0)
GRID_COLS = size(1, 4, 10)                # samples per label in the grids
MLP_STEPS = size(50, 3_000, 3_000)        # chapter 01's paired MLP, trained again at 28x28
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; live run {LIVE_MINUTES} min; DDPM on {N_DDPM} "
      f"samples; DDIM {DDIM_STEPS} at n = {N_DDPM}, DDIM-50/10 at n = {N_LARGE}; {N_W} samples per guidance weight")

# %% [markdown]
# ## 1 · The idea: destroy slowly, then learn to undo
#
# Seed 002 describes two processes. The **forward** process takes a clean image $x_0$ and
# adds a little Gaussian noise, again and again, for $T = 1000$ steps:
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\!\big(x_t;\ \sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big),
# \qquad t = 1, \dots, T,$$
#
# with the variances $\beta_t$ fixed in advance, rising linearly from $\beta_1 = 10^{-4}$ to
# $\beta_T = 0.02$ (Ho et al. 2020). The factor $\sqrt{1-\beta_t}$ shrinks the image a
# little as noise is added, so the total variance stays near 1 and the end point is
# (almost exactly) standard Gaussian noise, whatever the digit was. Nothing here is learned.
# The **reverse** process starts from that noise and walks back, step by step, to a
# digit; each backward step is a small denoising problem, and that is what a network
# learns.
#
# The network works on pixel values in $[-1, 1]$ (`diffusion.to_model_scale`), so that
# "image" and "noise" have the same scale; every sampler hands images back in $[0, 1]$.
# The schedule is a small module of buffers: `betas`, `alphas` $= 1 - \beta$ and
# `alpha_bars` $= \bar\alpha_t = \prod_{s \le t} \alpha_s$, indexed $0..T-1$ for the paper's
# $t = 1..T$ (index 0 is the first, gentlest step). Section 2 shows why $\bar\alpha_t$ is
# the number that matters: after $t$ steps, the image has been scaled by
# $\sqrt{\bar\alpha_t}$ and buried under noise of variance $1 - \bar\alpha_t$. Their ratio
# is the **signal-to-noise ratio** $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$.
#
# The panel below dissolves four test digits (the same noise draw for every $t$, so you
# see one digit fade, not four new noise patterns) beside the SNR curve, with a marker
# at $t$. Drag the slider.

# %%
test = data.mnist("test", device=DEVICE)
train_set = data.mnist("train", device=DEVICE)
linear = diffusion.Schedule(1000, "linear").to(DEVICE)
T = linear.T
x0_demo = diffusion.to_model_scale(test.images[:4])                 # four test digits on [-1, 1]
eps_demo = torch.randn(x0_demo.shape, generator=GEN).to(DEVICE)     # one noise draw, reused for every t
snr_linear = linear.snr().cpu()


def forward_panel(fig, t, schedule=linear, snr=snr_linear):
    """Four digits at step index t (same noise) beside log10 SNR with a marker at t."""
    ax_img, ax_snr = fig.subplots(1, 2, width_ratios=[1.1, 1])
    x_t = diffusion.q_sample(schedule, x0_demo, t, eps_demo)
    ax_img.imshow(plot.to_grid(diffusion.from_model_scale(x_t), nrow=2), cmap="gray", vmin=0, vmax=1)
    abar = float(schedule.alpha_bars[t])
    ax_img.set(title=f"t = {t + 1}: signal x{math.sqrt(abar):.3f}, noise sd {math.sqrt(1 - abar):.3f}",
               xticks=[], yticks=[])
    ax_snr.semilogy(range(1, schedule.T + 1), snr.numpy())
    ax_snr.semilogy([t + 1], [float(snr[t])], "ro")
    ax_snr.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax_snr.set(xlabel="step t", ylabel="SNR = abar / (1 - abar)", title=f"SNR(t) = {float(snr[t]):.3g}")


def forward_explorer():
    """A slider over t redrawing `forward_panel` (the slider counts t from 1, as the paper does)."""
    return widgets.FigureControls(lambda fig, t: forward_panel(fig, t - 1), {"t": (1, T, 1, 200)},
                                  description="Forward process: a slider over t dissolves 4 digits",
                                  figsize=(8, 3.4), beside=False)


forward_explorer()

# %%
show_t = [0, 50, 100, 200, 300, 400, 600, 999]
x_seq = torch.stack([diffusion.q_sample(linear, x0_demo[:1], t, eps_demo[:1])[0] for t in show_t])
fig = Figure(figsize=(12, 3.3), layout="constrained")
ax_strip, ax_snr = fig.subplots(1, 2, width_ratios=[2.2, 1])
ax_strip.imshow(plot.to_grid(diffusion.from_model_scale(x_seq), nrow=len(show_t), pad=2), cmap="gray",
                vmin=0, vmax=1)
ax_strip.set_xticks([30 * i + 14 for i in range(len(show_t))], [f"t={t + 1}" for t in show_t])
ax_strip.set(yticks=[], title="one digit under the linear schedule (static view of the slider)")
ax_snr.semilogy(range(1, T + 1), snr_linear.numpy())
ax_snr.semilogy([t + 1 for t in show_t], snr_linear[show_t].numpy(), "ro")
ax_snr.axhline(1.0, color="grey", linestyle=":", linewidth=1)
ax_snr.set(xlabel="step t", ylabel="SNR (log scale)", title="signal-to-noise ratio, markers at the strip's t")
fig

# %%
half = int((snr_linear < 1).nonzero()[0])
print(f"SNR falls from {snr_linear[0]:.3g} at t = 1 to {snr_linear[-1]:.2e} at t = {T}; it drops below 1 "
      f"(more noise than signal) at t = {half + 1}, and below 0.01 at t = {int((snr_linear < 0.01).nonzero()[0]) + 1}")

# %% [markdown]
# The digit is still readable at a few hundred steps and is gone long before the end: the
# linear schedule spends its last few hundred steps turning noise into slightly different
# noise (the printed line says where the SNR crosses 1 and 0.01). Section 3 comes back to
# that.
#
# ## 2 · Formulate: any step in one draw
#
# *Strategy: find an identity.* Training will need $x_t$ for a random $t$, thousands of
# times per second. Running $t$ noising steps each time would be absurd; we want
# $q(x_t \mid x_0)$ directly. Write one step with its own noise,
# $x_t = \sqrt{\alpha_t}\, x_{t-1} + \sqrt{1-\alpha_t}\, \varepsilon_t$, $\varepsilon_t \sim
# \mathcal N(0, I)$ independent of everything before. Suppose (induction) that
# $x_{t-1} = \sqrt{\bar\alpha_{t-1}}\, x_0 + \sqrt{1 - \bar\alpha_{t-1}}\, \bar\varepsilon$
# with $\bar\varepsilon \sim \mathcal N(0, I)$. Then
#
# $$x_t = \sqrt{\bar\alpha_t}\, x_0 + \underbrace{\sqrt{\alpha_t (1 - \bar\alpha_{t-1})}\,
# \bar\varepsilon + \sqrt{1-\alpha_t}\, \varepsilon_t}_{\text{two independent Gaussians}}.$$
#
# The joint density of the chain is a **product of Gaussian factors**, $\prod_s q(x_s \mid
# x_{s-1})$, and integrating out the intermediate steps leaves a Gaussian again: the sum of
# two independent zero-mean Gaussians is Gaussian with the variances added,
# $\alpha_t - \bar\alpha_t + 1 - \alpha_t = 1 - \bar\alpha_t$. So
#
# $$q(x_t \mid x_0) = \mathcal N\!\big(x_t;\ \sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\big),
# \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\, \varepsilon
# \quad (\texttt{q\_sample}).$$
#
# *Strategy: verify.* We run `N_CHAINS` copies of the slow chain, step by step, from one
# digit, and compare the mean and variance of every pixel after $t$ steps with the
# formula. The Monte Carlo error of a mean is $\sqrt{(1-\bar\alpha_t)/N}$ and of a
# variance about $(1-\bar\alpha_t)\sqrt{2/N}$, so we report the worst pixel's error in
# those units (a few units over 784 pixels is what chance gives). We also check
# `alpha_bars` against our own product of the linear betas.

# %%
my_betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
my_alpha_bars = torch.cumprod(1 - my_betas, 0)
torch.testing.assert_close(linear.alpha_bars.cpu(), my_alpha_bars.float())
print("alpha_bars = cumprod(1 - linspace(1e-4, 0.02, 1000)), as the schedule module holds")

check_at = [10, 100, 500, 1000]
x_chain = x0_demo[:1].cpu().double().expand(N_CHAINS, -1, -1, -1).clone()
mc_gen = torch.Generator().manual_seed(1)
print(f"\n{N_CHAINS:,} chains of one digit, step by step; worst pixel in units of its Monte Carlo error")
print(f"{'t':>6} {'abar_t':>9} {'mean: worst |err|/se':>21} {'var: worst |err|/se':>20}")
for t in range(1, T + 1):
    beta = my_betas[t - 1]
    x_chain = (1 - beta).sqrt() * x_chain + beta.sqrt() * torch.randn(x_chain.shape, generator=mc_gen,
                                                                      dtype=torch.float64)
    if t in check_at:
        abar = my_alpha_bars[t - 1]
        mean_err = (x_chain.mean(0) - abar.sqrt() * x0_demo[0].cpu().double()).abs().max()
        var_err = (x_chain.var(0) - (1 - abar)).abs().max()
        print(f"{t:>6} {abar:>9.4f} {mean_err / ((1 - abar) / N_CHAINS).sqrt():>21.2f} "
              f"{var_err / ((1 - abar) * math.sqrt(2 / N_CHAINS)):>20.2f}")

# %% [markdown]
# The worst of 784 pixels stays within a few standard errors at every $t$ we checked: the
# slow chain and the one-step formula draw from the same distribution. From now on we
# never run the chain again; `q_sample` jumps straight to any $t$.
#
# ## 3 · Build: the schedule as a module (linear and cosine)
#
# The linear schedule of Ho et al. destroys the signal early: the SNR panel showed it
# below 1 well before half way. Nichol & Dhariwal (2021) proposed choosing $\bar\alpha_t$
# directly, so the signal fades evenly:
#
# $$\bar\alpha_t = \frac{f(t)}{f(0)}, \qquad f(t) = \cos^2\!\Big(\frac{t/T + s}{1+s}\cdot
# \frac{\pi}{2}\Big), \qquad s = 0.008,$$
#
# with $\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}$ clipped at 0.999 (the small offset
# $s$ keeps $\beta_1$ from being too small to matter). We write it from the formula and
# compare with `Schedule(T, "cosine")`; then we plot both schedules.

# %%
def my_cosine_betas(T, s=0.008):
    """beta_t of the cosine schedule, t = 1..T, from abar_t = f(t) / f(0)."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


cosine = diffusion.Schedule(T, "cosine").to(DEVICE)
torch.testing.assert_close(cosine.betas.cpu(), my_cosine_betas(T).float())
print("my cosine betas = Schedule(1000, 'cosine').betas")
print(f"parameters of a schedule module: {sum(p.numel() for p in cosine.parameters())}; buffers: "
      + ", ".join(f"{name} {tuple(b.shape)}" for name, b in cosine.named_buffers()))

# %%
fig = Figure(figsize=(13, 6), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1])
ax_abar, ax_snr2, ax_beta = top.subplots(1, 3)
steps_axis = range(1, T + 1)
for name, sched in (("linear", linear), ("cosine", cosine)):
    ax_abar.plot(steps_axis, sched.alpha_bars.cpu(), label=name)
    ax_snr2.semilogy(steps_axis, sched.snr().cpu(), label=name)
    ax_beta.semilogy(steps_axis, sched.betas.cpu(), label=name)
ax_abar.set(xlabel="step t", ylabel="abar_t (signal variance left)", title="how much signal is left")
ax_snr2.set(xlabel="step t", ylabel="SNR (log scale)", title="signal-to-noise ratio")
ax_beta.set(xlabel="step t", ylabel="beta_t (log scale)", title="noise added per step")
for ax in (ax_abar, ax_snr2, ax_beta):
    ax.legend()
strip_t = [0, 100, 250, 400, 550, 700, 850, 999]
rows = [torch.stack([diffusion.q_sample(s, x0_demo[1:2], t, eps_demo[1:2])[0] for t in strip_t])
        for s in (linear, cosine)]
ax_rows = bottom.subplots(1, 1)
ax_rows.imshow(plot.to_grid(diffusion.from_model_scale(torch.cat(rows)), nrow=len(strip_t), pad=2),
               cmap="gray", vmin=0, vmax=1)
ax_rows.set_xticks([30 * i + 14 for i in range(len(strip_t))], [f"t={t + 1}" for t in strip_t])
ax_rows.set_yticks([14, 44], ["linear", "cosine"])
ax_rows.set(title="the same digit and noise under both schedules")
fig.suptitle("two noise schedules over T = 1000 steps")
fig

# %%
for name, sched in (("linear", linear), ("cosine", cosine)):
    snr = sched.snr().cpu()
    print(f"{name:>7}: SNR < 1 from t = {int((snr < 1).nonzero()[0]) + 1}; SNR < 0.01 from t = "
          f"{int((snr < 0.01).nonzero()[0]) + 1}; final abar {float(sched.alpha_bars[-1]):.2e}")

# %% [markdown]
# Under the cosine schedule the digit survives much longer, and fewer of the thousand steps
# are spent on images that are already noise. Both schedules end at essentially pure noise
# (the last $\bar\alpha$ is printed), which the sampler needs: it starts from
# $\mathcal N(0, I)$ and must not be surprised by what is left of a digit. The course's
# model keeps Ho et al.'s linear schedule, the one in seed 002 (`model.config.schedule`
# says which); exercise 1 asks what changing it would do.
#
# ## 4 · Build: the objective, predict the noise
#
# What should the network learn? Given a noisy $x_t$ and its step $t$, the missing piece is
# the noise $\varepsilon$ that made it: knowing $\varepsilon$, we would know $x_0$ exactly,
# $x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}$. Ho et al. train a
# network $\varepsilon_\theta(x_t, t)$ to **predict the noise** with a plain mean squared
# error, at a step drawn uniformly for each image:
#
# $$L(\theta) = \mathbb E_{x_0,\ t \sim \mathcal U\{1..T\},\ \varepsilon \sim \mathcal N(0, I)}
# \Big\| \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 +
# \sqrt{1-\bar\alpha_t}\, \varepsilon,\ t\big)\Big\|^2.$$
#
# This is a simplified (reweighted) form of the model's variational bound; Ho et al. found
# it gives better samples than the bound itself. Chapter 01 taught us to be wary of an MSE:
# its optimum is a conditional mean. Here that is exactly what we want, because the
# conditional mean of the noise, $\mathbb E[\varepsilon \mid x_t]$, is what the reverse
# step needs (section 6), and it is one well-defined vector per $x_t$, not a blurred
# average of digits we wanted to tell apart.
#
# For classifier-free guidance (section 14) the network also takes a label $y$, replaced by
# a "no label" token with probability $p_\text{uncond}$ during training, so that one
# network learns both $\varepsilon_\theta(x_t, t, y)$ and $\varepsilon_\theta(x_t, t,
# \varnothing)$. We write the loss with the public forward pass only (one pass with the
# labels, one without, and a per-image choice) and check it against
# `diffusion.ddpm_loss`, drawing $t$, then $\varepsilon$, then the drops from one seeded
# generator, in that order, as the package does.

# %%
def my_ddpm_loss(model, schedule, x0, labels, p_uncond, generator):
    """The epsilon objective for images x0 in [0, 1]: draws t, eps, then the label drops."""
    x0 = diffusion.to_model_scale(x0)
    B = x0.shape[0]
    t = torch.randint(0, schedule.T, (B,), generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    drop = torch.rand(B, generator=generator) < p_uncond
    abar = schedule.alpha_bars[t].view(B, 1, 1, 1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    with_label, without = model(x_t, t, labels), model(x_t, t, None)
    eps_hat = torch.where(drop.view(B, 1, 1, 1), without, with_label)
    return (eps - eps_hat).pow(2).mean()


check_net = diffusion.UNet(diffusion.UNetConfig(channels=8, n_res=1, T=50))
for p in check_net.parameters():          # a fresh U-Net predicts 0: its last layers start at 0
    if p.dim() > 1 and not p.any():
        torch.nn.init.normal_(p, std=0.1)
x_check, y_check = test.images[:16].cpu(), test.labels[:16].cpu()
for p_uncond in (0.0, 0.3, 1.0):
    mine = my_ddpm_loss(check_net, check_net.schedule, x_check, y_check, p_uncond, torch.Generator().manual_seed(3))
    theirs = diffusion.ddpm_loss(check_net, check_net.schedule, x_check, y_check, p_uncond=p_uncond,
                                 generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mine, theirs)
    print(f"p_uncond = {p_uncond}: my loss {mine:.5f} = ddpm_loss {theirs:.5f}")

# %% [markdown]
# One more identity before we build the network, because it shapes what the loss rewards.
# If the network predicted nothing, $\varepsilon_\theta = 0$, the loss would be
# $\mathbb E\|\varepsilon\|^2 / D = 1$ per pixel. At large $t$, though, $x_t$ is almost
# all noise, so the trivial guess $\varepsilon_\theta = x_t$ is already nearly right;
# at small $t$ the noise is a faint speckle on a clean digit and must be told apart from
# the digit's own texture. *Strategy: small cases.* We compute the loss of the two trivial
# predictors at several $t$ on test digits: the learned network has to beat both, and the
# hard part of its job is wherever both are poor.

# %%
probe_t = torch.tensor([0, 10, 50, 100, 250, 500, 750, 999])
x0_probe = diffusion.to_model_scale(test.images[:500])
trivial = []
for t in probe_t.tolist():
    eps = torch.randn(x0_probe.shape, generator=GEN).to(DEVICE)
    x_t = diffusion.q_sample(linear, x0_probe, t, eps)
    trivial.append(((eps - 0).pow(2).mean().item(), (eps - x_t).pow(2).mean().item()))
print(f"{'t':>6} {'eps_hat = 0':>12} {'eps_hat = x_t':>14}")
for t, (zero, copy) in zip(probe_t.tolist(), trivial):
    print(f"{t + 1:>6} {zero:>12.3f} {copy:>14.3f}")

# %% [markdown]
# Predicting zero costs 1 at every step; copying $x_t$ is nearly free at the end of the
# chain and hopeless at the start. The network's real work is in the early and middle
# steps, where a digit is still there to be recognized. Section 8 measures where the trained
# networks land on this scale.
#
# ## 5 · Build: a U-Net with a clock
#
# The network maps a $28 \times 28$ noisy image to a $28 \times 28$ noise estimate, so its
# output has the shape of its input. The standard shape for that job is a **U-Net**
# (Ronneberger et al. 2015, used by Ho et al.): convolutions at full resolution, then
# halved twice ($28 \to 14 \to 7$) so that a layer can see the whole digit, then doubled
# back, with **skip connections** carrying each resolution's features across to the way
# up, so fine detail need not squeeze through the coarse middle. Each block is a residual
# block (GroupNorm, SiLU, 3x3 convolution, twice). At $7 \times 7$ there is one
# self-attention layer, letting every position look at every other (49 positions, cheap).
#
# The network must know **which step** it is denoising: the same $x_t$ means different
# things at $t = 10$ and $t = 900$. The step enters as a **sinusoidal embedding** (sines
# and cosines of $t$ at geometrically spaced frequencies, as positions do in a
# transformer), passed through a small MLP and *added* to the features inside every
# residual block. The label, if any, is a learned embedding added to the same vector, with
# one extra row for "no label". We print the layout of the course's recipe and trace the
# shapes of one batch through it.

# %%
RECIPE = diffusion.RECIPES["diffusion"]
print(f"the recipe: {RECIPE}")
unet = diffusion.UNet(RECIPE["config"])
print(f"parameters: {sum(p.numel() for p in unet.parameters()):,}")
for name in ("time", "label", "inp", "down", "downsample", "mid", "mid_attn", "up", "upsample", "out"):
    part = getattr(unet, name)
    print(f"  {name:>10}: {sum(p.numel() for p in part.parameters()):>9,} parameters")

shapes = []
hooks = [m.register_forward_hook(lambda m, i, o, n=n: shapes.append((n, tuple(o.shape))))
         for n, m in unet.named_modules() if n.count(".") == 1 and n.split(".")[0] in ("down", "downsample", "up", "mid")]
with torch.no_grad():
    unet(torch.randn(2, 1, 28, 28), 500, labels=[3, 7])
for h in hooks:
    h.remove()
print("\nshapes on the way (batch of 2):")
print("  " + "\n  ".join(f"{n:>12} -> {s}" for n, s in shapes))

# %%
emb = diffusion.timestep_embedding(torch.arange(T), RECIPE["config"].channels)
fig = Figure(figsize=(10, 3.2), layout="constrained")
ax = fig.subplots()
im = ax.imshow(emb.T.numpy(), aspect="auto", cmap="RdBu", extent=[1, T, emb.shape[1] - 0.5, -0.5])
fig.colorbar(im, ax=ax, label="feature value")
ax.set(xlabel="step t", ylabel="feature (sines, then cosines)",
       title="the sinusoidal timestep embedding: fast features tell neighbours apart, slow ones the stage")
fig

# %% [markdown]
# Nothing in the network is specific to noise: it is an image-to-image map that receives a
# clock and a label. Unlike chapter 08's coupling layers, it need not be invertible and has
# no determinant to keep cheap, so it may be any shape we like; exercise 5 swaps it for a
# small transformer.
#
# ## 6 · Build: the reverse step
#
# To walk back we need $q(x_{t-1} \mid x_t)$. It is intractable (it depends on the whole
# data distribution), but **given $x_0$** it is a Gaussian we can write down. By Bayes,
# $q(x_{t-1} \mid x_t, x_0) \propto q(x_t \mid x_{t-1})\, q(x_{t-1} \mid x_0)$, a product
# of two Gaussians in $x_{t-1}$ (section 2's identity again); completing the square gives
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t, \tilde\beta_t I\big), \quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\, x_0 +
# \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\, x_t, \quad
# \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t.$$
#
# We do not know $x_0$, but the network's noise estimate gives one,
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta)/\sqrt{\bar\alpha_t}$.
# Substituting it and simplifying, the mean becomes the update on seed 002's slide:
#
# $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1-\alpha_t}{\sqrt{1-\bar\alpha_t}}\,
# \varepsilon_\theta(x_t, t)\Big) + \sigma_t z, \qquad z \sim \mathcal N(0, I),\
# z = 0 \text{ at the last step}.$$
#
# The slide leaves $\sigma_t$ open; Ho et al. tried $\sigma_t^2 = \beta_t$ and
# $\sigma_t^2 = \tilde\beta_t$ and found both work; the package uses $\tilde\beta_t$.
# *Strategy: identities, verified.* First the algebra: with the **true** noise as the
# estimate, the slide's update must equal the posterior mean $\tilde\mu_t$ exactly.

# %%
x0_true = x0_demo.double().cpu()
for t in (1, 10, 500, 999):
    b, ab, ab_prev = my_betas[t], my_alpha_bars[t], my_alpha_bars[t - 1]      # float64, section 2
    a = 1 - b
    eps = torch.randn(x0_true.shape, generator=GEN, dtype=torch.float64)
    x_t = ab.sqrt() * x0_true + (1 - ab).sqrt() * eps
    slide = (x_t - (1 - a) / (1 - ab).sqrt() * eps) / a.sqrt()
    posterior_mean = ab_prev.sqrt() * b / (1 - ab) * x0_true + a.sqrt() * (1 - ab_prev) / (1 - ab) * x_t
    torch.testing.assert_close(slide, posterior_mean)
print("with the true noise, the slide's update is the posterior mean of q(x_{t-1} | x_t, x_0), at every t checked")

# %% [markdown]
# Now the whole sampler, written inline: start from $x_T \sim \mathcal N(0, I)$ and apply
# the step $T$ times. It takes the starting noise as an argument (experiment (a) needs
# that), and a `noise` switch for the $\sigma_t z$ term. To compare it with the package's
# `ddpm_sample` we draw as the package does: $x_T$ first, then one $z$ per step (drawn even
# where it is not used), from one seeded generator. We check on the small U-Net of section
# 4 with $T = 50$, its last layer randomized so that it predicts something.

# %%
@torch.no_grad()
def my_ddpm_sample(model, x_T, labels, generator, noise=True):
    """DDPM's T reverse steps from x_T (n, 1, S, S) on [-1, 1]; images in [0, 1]."""
    s = model.schedule
    x = x_T
    for t in reversed(range(s.T)):
        eps = model(x, t, labels)
        x_prev = (x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * eps) / s.alphas[t].sqrt()
        z = torch.randn(x.shape, generator=generator).to(x.device)
        if t > 0 and noise:
            sigma = (s.betas[t] * (1 - s.alpha_bars[t - 1]) / (1 - s.alpha_bars[t])).sqrt()
            x_prev = x_prev + sigma * z
        x = x_prev
    return diffusion.from_model_scale(x)


for noise in (True, False):
    g = torch.Generator().manual_seed(11)
    x_T = torch.randn(6, 1, 28, 28, generator=g)
    mine = my_ddpm_sample(check_net, x_T, torch.arange(6), g, noise=noise)
    theirs = diffusion.ddpm_sample(check_net, check_net.schedule, 6, labels=torch.arange(6), noise=noise,
                                   generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(mine, theirs)
print("my sampler = diffusion.ddpm_sample (same draws), with and without the sigma_t z term")

# %% [markdown]
# ## 7 · Experiment: a live run
#
# Every piece is checked; now a network learns. The loop is the course's `train.fit` with
# a step of our own: the (checked) `ddpm_loss` on a batch of training digits with their
# labels (dropped 10% of the time, as the recipe does), one Adam step. The network is a
# smaller U-Net than the recipe's (one residual block per resolution instead of two); the
# shipped model also averages its weights over training (an EMA), which we skip here. In
# fast mode the live network also gets a short chain, $T = 100$, so that the experiments
# below that walk every step can run in seconds (the default mode uses the shipped model
# there). A callback draws ten digits, one per label, from fixed noise every `SNAP_EVERY`
# steps (with DDIM, section 11, in 20 steps).

# %%
LIVE_CFG = diffusion.UNetConfig(channels=8 if FAST else 16, n_res=1, n_classes=10, T=100 if FAST else 1000)
runtime.seed(0)
live_net = diffusion.UNet(LIVE_CFG).to(DEVICE)
live_opt = torch.optim.Adam(live_net.parameters(), lr=1e-3)
snapshots = []


def live_step(batch):
    x, y = batch
    loss = diffusion.ddpm_loss(live_net, live_net.schedule, x, y, p_uncond=0.1)
    live_opt.zero_grad(set_to_none=True)
    loss.backward()
    live_opt.step()
    return loss


def keep_samples(step, history):
    live_net.eval()
    snapshots.append((step, diffusion.ddim_sample(live_net, live_net.schedule, 10, steps=20, labels=torch.arange(10),
                                                   generator=torch.Generator(device=DEVICE).manual_seed(7)).cpu()))
    live_net.train()


live_net.train()
live_hist = train.fit(live_step, data.batches(train_set, 64, seed=0), minutes=LIVE_MINUTES,
                      callback=keep_samples, every=SNAP_EVERY, desc="live diffusion")
live_net.eval()
print(f"live run: {live_hist.steps} steps ({live_hist.steps * 64:,} digits) in {live_hist.seconds:.0f} s on "
      f"{runtime.describe()}; {sum(p.numel() for p in live_net.parameters()):,} parameters")
print(f"training loss: first 20 steps {sum(live_hist.losses['loss'][:20]) / min(20, live_hist.steps):.3f}, "
      f"last 50 {live_hist.last(n=50):.3f} (predicting 0 scores 1)")

# %%
fig = Figure(figsize=(12, 4.2), layout="constrained")
ax_loss, ax_snap = fig.subplots(1, 2, width_ratios=[1, 1.3])
plot.loss_curves(live_hist, smooth=0.9, ax=ax_loss, logy=True,
                 title="live run: noise-prediction MSE per batch")   # the plot adds the seconds
ax_loss.axhline(1.0, color="grey", linestyle=":", label="predict 0: 1.0")
ax_loss.set(ylabel="MSE per pixel")
ax_loss.legend(fontsize=8)
show_snaps = [snapshots[i] for i in plot.frame_indices(len(snapshots), 6)]
ax_snap.imshow(plot.to_grid(torch.cat([s for _, s in show_snaps]), nrow=10), cmap="gray", vmin=0, vmax=1)
ax_snap.set(title="labels 0-9 from fixed noise (DDIM-20), one row per snapshot", xticks=[],
            yticks=[29 * i + 14 for i in range(len(show_snaps))])
ax_snap.set_yticklabels([f"step {s}" for s, _ in show_snaps])
fig.suptitle("a small diffusion model learning: the loss falls quickly, the digits take their time")
fig

# %% [markdown]
# The loss falls fast from 1 (a fresh network predicts no noise at all) and then flattens:
# most of $\varepsilon$ at large $t$ is just $x_t$ (section 4's table), which a network
# learns in a few hundred steps; the remaining error is where the digits are decided.
# The samples take far longer than the loss suggests: after two minutes (759 steps in the
# saved run) four of the ten are digit-like strokes and the rest are still speckle or
# blotches, although the loss stopped falling fast after a hundred steps. A low average loss
# is not yet a sampler that works: every one of the thousand steps must be right, and the
# small-$t$ steps, where the loss is largest (next figure), decide the strokes.
#
# ## 8 · The shipped model
#
# The course's diffusion model is the recipe printed in section 5 (a class-conditional
# U-Net, labels dropped 10% of the time, weights averaged). On a CPU the notebook loads
# it; on a GPU it trains it.

# %%
if runtime.use_pretrained():
    net = dj.pretrained("diffusion")
else:
    net = diffusion.train_recipe("diffusion", epochs=1 if FAST else None)[0]
net = net.to(DEVICE).eval()
info = getattr(net, "checkpoint_info", {"metrics": {}, "provenance": {}})
rec = info["metrics"]
print(f"config: {net.config}; {sum(p.numel() for p in net.parameters()):,} parameters")
print("recorded: " + (", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items())
                      or "nothing"))
print(f"made by: {info['provenance'].get('command', 'this notebook')}")
eps_mse = diffusion.test_eps_mse(net, test.images[:N_EPS], test.labels[:N_EPS])
print(f"noise-prediction MSE on {N_EPS:,} test digits: {eps_mse.mean():.4f} ± {eps_mse.std() / math.sqrt(N_EPS):.4f} "
      f"(recorded on 10,000: {rec.get('test_eps_mse', float('nan')):.4f})")
# DDPM walks all T steps; in fast mode the experiments that do so use the live network (T = 100).
ddpm_net = live_net if FAST else net

# %% [markdown]
# A single MSE hides where the error is. We measure it at a range of steps, for the shipped
# network, the live one, and section 4's two trivial predictors, on the same test digits
# and the same noise.

# %%
t_grid = [0, 10, 30, 100, 200, 300, 500, 700, 999]
x0_err, y_err = diffusion.to_model_scale(test.images[:N_ERR]), test.labels[:N_ERR]
err_by_t = {"shipped": [], "live run": [], "predict 0": [], "predict x_t": []}
with torch.no_grad():
    for t in t_grid:
        eps = torch.randn(x0_err.shape, generator=GEN).to(DEVICE)
        x_t = diffusion.q_sample(net.schedule, x0_err, t, eps)
        err_by_t["shipped"].append((net(x_t, t, y_err) - eps).pow(2).mean().item())
        live_t = min(t, live_net.schedule.T - 1)
        x_live = diffusion.q_sample(live_net.schedule, x0_err, live_t, eps)
        err_by_t["live run"].append((live_net(x_live, live_t, y_err) - eps).pow(2).mean().item())
        err_by_t["predict 0"].append(eps.pow(2).mean().item())
        err_by_t["predict x_t"].append((x_t - eps).pow(2).mean().item())
fig = Figure(figsize=(7, 4), layout="constrained")
ax = fig.subplots()
for name, errs in err_by_t.items():
    ax.semilogy([t + 1 for t in t_grid], errs, "o-" if name in ("shipped", "live run") else ":", label=name)
ax.set(xlabel="step t", ylabel="noise-prediction MSE per pixel (log)",
       title=f"where the error is: {N_ERR} test digits, one noise draw per t")
ax.legend()
fig

# %% [markdown]
# The error of the trained networks is largest at the smallest $t$, where the noise is a
# faint speckle that looks like the digit's own texture, and smallest where $x_t$ is
# mostly noise. Small errors in $\varepsilon$ at small $t$ matter little, though: the
# image is rebuilt as $x_0 \approx (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon)/
# \sqrt{\bar\alpha_t}$, and $\sqrt{1-\bar\alpha_t}$ is tiny there. Both trained curves
# sit below "predict 0" everywhere and below "predict $x_t$" up to at least $t = 700$; at the
# very end of the chain copying $x_t$ is better still (about 4e-5 at $t = 1000$ against the
# shipped network's 1e-4): a network that must also handle $t = 1$ never becomes an exact
# identity. The live run's curve lies above the shipped one at every $t$.
#
# Here are the shipped model's digits, `GRID_COLS` per label, by DDIM in `GRID_STEPS` steps
# with the guidance weight the bench uses (both explained below).

# %%
grid_labels = torch.arange(10, device=DEVICE).repeat_interleave(GRID_COLS)
t0 = time.perf_counter()
grid_samples = diffusion.ddim_sample(net, net.schedule, len(grid_labels), steps=GRID_STEPS, labels=grid_labels,
                                     guidance=diffusion.BENCH_GUIDANCE,
                                     generator=torch.Generator(device=DEVICE).manual_seed(0))
print(f"{len(grid_labels)} samples in {time.perf_counter() - t0:.1f} s (DDIM-{GRID_STEPS}, w = {diffusion.BENCH_GUIDANCE})")
plot.grid(grid_samples.cpu(), nrow=10 if GRID_COLS == 1 else 2 * GRID_COLS,
          title=f"the shipped model: labels 0-9 in order, {GRID_COLS} each (DDIM-{GRID_STEPS}, w = {diffusion.BENCH_GUIDANCE})")

# %% [markdown]
# ## 9 · Watching the reverse process
#
# `ddpm_sample` with `return_trajectory=True` keeps every step's $x_t$ and the clean image
# the network implies there, $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta)/
# \sqrt{\bar\alpha_t}$. We draw `N_DDPM` unconditional digits (the no-label token) by the
# full 1000-step DDPM and time it; this run is also the DDPM row of experiments (a) and
# (b). In the scrubber the top row is $x_t$ and the bottom row $\hat x_0$.

# %%
runtime.synchronize(DEVICE)
t0 = time.perf_counter()
ddpm_images, traj = diffusion.ddpm_sample(ddpm_net, ddpm_net.schedule, N_DDPM, generator=torch.Generator(device=DEVICE).manual_seed(1),
                                          return_trajectory=True)
runtime.synchronize(DEVICE)
ddpm_seconds = time.perf_counter() - t0
T_run = ddpm_net.schedule.T
print(f"DDPM-{T_run}: {N_DDPM} samples in {ddpm_seconds:.1f} s ({ddpm_seconds / N_DDPM:.2f} s per image) on "
      f"{runtime.describe()}")
show = min(N_DDPM, 8)
frame_ids = list(range(0, T_run, max(T_run // 100, 1))) + [T_run - 1]
frames = [torch.cat([diffusion.from_model_scale(traj["x_t"][i, :show]),
                     diffusion.from_model_scale(traj["x0_hat"][i, :show])]) for i in frame_ids]
reverse_scrubber = widgets.FrameScrubber(frames, titles=[f"t = {int(traj['t'][i]) + 1}: x_t (top), x0_hat (bottom)"
                                                         for i in frame_ids],
                                         label="step", scale=4, nrow=show)
reverse_scrubber.show(len(frame_ids) // 2)
reverse_scrubber

# %%
reverse_scrubber.strip(max_frames=8, title="the reverse process: x_t (top row of each panel), the implied x0_hat (bottom)")

# %% [markdown]
# Two things to notice. The $\hat x_0$ row commits early: long before $x_t$ shows anything
# but noise, the implied clean image is a blurred digit, the *average* of the digits that
# could still come out of this $x_t$ (an MSE-trained prediction is a conditional mean,
# chapter 01 again). As $t$ falls the average sharpens into one digit. And the $x_t$ row
# never looks like a blurred digit: it stays noisy until late and the noise fades
# gradually, not by averaging nearby pixels but because each step removes the part of the
# noise the network has identified. In the saved run $\hat x_0$ is a blurred but readable
# digit by $t \approx 570$, while $x_t$ shows nothing but noise until about $t = 430$.
#
# ## 10 · Experiment (a): what is the $\sigma_t z$ term for?
#
# Seed 002 says the small noise added in each reverse step "creates diversity", and that
# without it the reverse process would regenerate a noise-free image from the training
# data. *Strategy: experiment.* We run DDPM again from the **same** starting noises with
# `noise=False`, and measure three things for both runs: the class histogram of the
# samples (do all digits appear?), FID-MNIST (at the small $n$ DDPM allows on a CPU: an
# FID on few samples is biased upward, so compare the two rows with each other, not with
# the 10,000-sample numbers), and the distance between samples that share a starting
# noise. For the last one we use our own sampler, which takes $x_T$: `N_SAME` copies of
# one $x_T$, each with its own $z$ draws.

# %%
runtime.synchronize(DEVICE)
t0 = time.perf_counter()
quiet_images = diffusion.ddpm_sample(ddpm_net, ddpm_net.schedule, N_DDPM, noise=False,
                                     generator=torch.Generator(device=DEVICE).manual_seed(1))
quiet_seconds = time.perf_counter() - t0
x_T_shared = torch.randn(1, 1, 28, 28, generator=GEN).to(DEVICE).expand(N_SAME, -1, -1, -1).clone()
same_start = my_ddpm_sample(ddpm_net, x_T_shared, None, torch.Generator().manual_seed(2), noise=True)


def mean_pairwise_distance(images):
    """Mean L2 distance between distinct pairs of images (N, 1, H, W), in [0, 1] pixel units."""
    d = torch.cdist(images.flatten(1), images.flatten(1))
    n = images.shape[0]
    return (d.sum() / (n * (n - 1))).item()


rows_a = {"DDPM with sigma_t z": ddpm_images, "DDPM without (noise=False)": quiet_images}
print(f"{N_DDPM} samples per row, same starting noises; DDPM-{T_run}")
print(f"{'':>28} {'entropy (bits)':>15} {'top class':>10} {'FID-MNIST':>10} {'pairwise dist.':>15} {'mean ink':>9}")
hist_a = {}
for name, images in rows_a.items():
    h = metrics.class_histogram(images)
    hist_a[name] = h
    print(f"{name:>28} {h.entropy_bits:>15.2f} {h.max_fraction:>10.2f} {metrics.fid_mnist(images):>10.1f} "
          f"{mean_pairwise_distance(images):>15.2f} {images.mean().item():>9.3f}")
real_a = test.images[:N_DDPM]
print(f"{'real test digits':>28} {metrics.class_histogram(real_a).entropy_bits:>15.2f} "
      f"{metrics.class_histogram(real_a).max_fraction:>10.2f} {metrics.fid_mnist(real_a):>10.1f} "
      f"{mean_pairwise_distance(real_a):>15.2f} {real_a.mean().item():>9.3f}")
print(f"\nfrom one shared x_T: {N_SAME} samples with sigma_t z are {mean_pairwise_distance(same_start):.2f} apart "
      f"on average; without it they are identical by construction (no random draw after x_T)")

# %%
fig = Figure(figsize=(12, 3.6), layout="constrained")
ax_with, ax_without, ax_same = fig.subplots(1, 3)
plot.grid(ddpm_images[:16].cpu(), nrow=4, ax=ax_with, title="with sigma_t z")
plot.grid(quiet_images[:16].cpu(), nrow=4, ax=ax_without, title="without (same starting noise)")
plot.grid(same_start.cpu(), nrow=min(N_SAME, 4), ax=ax_same, title=f"one x_T, {N_SAME} different z sequences")
fig.suptitle(f"experiment (a): the reverse step's noise term (DDPM-{T_run}, unconditional)")
fig

# %% [markdown]
# What the slide gets right: the $\sigma_t z$ term is where a DDPM sampler's randomness
# enters after the start, and with it the same $x_T$ still leads to different digits (the
# right panel). Dropping it does more than we expected, though: the samples **collapse**.
# From the same 24 starting noises, most of the quiet run's samples are a thin upright
# "1" (the top-class share and the entropy in the table), the pairwise distance falls to a
# third of the noisy run's, the mean ink drops and FID-MNIST explodes. The update without
# noise takes the posterior *mean* at every step. Each mean is a little smoother and more
# typical than any single image, and a thousand of them in a row pull every path towards
# the simplest, most average digit there is: a "1" has the least ink and the least to get
# wrong. So the slide's "without it, a noise-free image from the training data" is half
# right: the images are clean, and section 12 shows they land very close to training
# "1"s, but not because the model copies its training set: many different starting noises
# end on the same few strokes. Section 11's DDIM removes the noise term *properly*: it
# changes the update so that a deterministic path still lands on a varied, sharp sample.
#
# ## 11 · Experiment (b): fewer steps with DDIM
#
# A thousand network passes per image is the price of DDPM: on a CPU the cell above
# printed the seconds per image. Song et al. (2021) noticed that the training objective
# only ever uses $q(x_t \mid x_0)$, never the step-to-step chain, so a *different*
# reverse process with the same marginals can reuse the trained network. Their DDIM
# update jumps from step $t$ to an earlier step $t'$ of a subsequence:
#
# $$x_{t'} = \sqrt{\bar\alpha_{t'}}\, \hat x_0 + \sqrt{1 - \bar\alpha_{t'} - \sigma^2}\,
# \varepsilon_\theta(x_t, t) + \sigma z, \qquad \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,
# \varepsilon_\theta}{\sqrt{\bar\alpha_t}},$$
#
# "predict the clean image, then re-noise it to the level of $t'$, reusing the predicted
# noise as the noise". With $\sigma = 0$ ($\eta = 0$) the path is deterministic given
# $x_T$. Seed 002's slide on subsampling predicts two costs of fewer steps: larger
# modelling errors, and **less diversity**. We measure both: FID-MNIST, and three
# diversity numbers (class-histogram entropy, top class share, mean pairwise distance), for
# DDIM at each step count in `DDIM_STEPS`, on the same number of unconditional samples as
# DDPM above, and for DDIM-50 and DDIM-10 again on `N_LARGE` samples (which shows how much
# of an FID is the small-$n$ bias). In the default CPU mode DDIM-1000 is left out (it costs
# what DDPM costs); fast mode and CUDA run it.

# %%
def timed_ddim(model, n, steps, seed):
    runtime.synchronize(DEVICE)
    t0 = time.perf_counter()
    images = diffusion.ddim_sample(model, model.schedule, n, steps=min(steps, model.schedule.T),
                                   generator=torch.Generator(device=DEVICE).manual_seed(seed))
    runtime.synchronize(DEVICE)
    return images, time.perf_counter() - t0


def describe_samples(images):
    h = metrics.class_histogram(images)
    return dict(fid=metrics.fid_mnist(images), entropy=h.entropy_bits, top=h.max_fraction,
                dist=mean_pairwise_distance(images))


trade = [dict(name=f"DDPM-{T_run}", steps=T_run, n=N_DDPM, seconds=ddpm_seconds, **describe_samples(ddpm_images))]
ddim_large = {}
for steps in sorted({min(s, T_run) for s in DDIM_STEPS}, reverse=True):
    images, seconds = timed_ddim(ddpm_net, N_DDPM, steps, seed=1)
    trade.append(dict(name=f"DDIM-{min(steps, T_run)}", steps=min(steps, T_run), n=N_DDPM, seconds=seconds,
                      **describe_samples(images)))
for steps in (50, 10):
    images, seconds = timed_ddim(ddpm_net, N_LARGE, steps, seed=2)
    ddim_large[steps] = images
    trade.append(dict(name=f"DDIM-{steps}", steps=steps, n=N_LARGE, seconds=seconds, **describe_samples(images)))
real_desc = {n: describe_samples(test.images[:n]) for n in (N_DDPM, N_LARGE)}
print(f"{'sampler':>10} {'n':>6} {'s / image':>10} {'FID-MNIST':>10} {'entropy':>8} {'top class':>10} {'pair dist.':>11}")
for r in trade:
    print(f"{r['name']:>10} {r['n']:>6} {r['seconds'] / r['n']:>10.3f} {r['fid']:>10.1f} {r['entropy']:>8.2f} "
          f"{r['top']:>10.2f} {r['dist']:>11.2f}")
for n, d in real_desc.items():
    print(f"{'real test':>10} {n:>6} {'':>10} {d['fid']:>10.1f} {d['entropy']:>8.2f} {d['top']:>10.2f} {d['dist']:>11.2f}")

# %%
fig = Figure(figsize=(12, 4), layout="constrained")
ax_fid, ax_div = fig.subplots(1, 2)
for n, marker in ((N_DDPM, "o"), (N_LARGE, "s")):
    rows_n = [r for r in trade if r["n"] == n and r["name"].startswith("DDIM")]
    ax_fid.loglog([r["seconds"] / r["n"] for r in rows_n], [max(r["fid"], 1e-3) for r in rows_n], marker + "-",
                  label=f"DDIM, n = {n}")
    for r in rows_n:
        ax_fid.annotate(str(r["steps"]), (r["seconds"] / r["n"], max(r["fid"], 1e-3)), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
    ax_div.semilogx([r["steps"] for r in rows_n], [r["dist"] for r in rows_n], marker + "-",
                    label=f"DDIM pairwise distance, n = {n}")
    ax_div.axhline(real_desc[n]["dist"], linestyle=":", color="grey")
ddpm_row = trade[0]
ax_fid.loglog([ddpm_row["seconds"] / ddpm_row["n"]], [max(ddpm_row["fid"], 1e-3)], "r*", markersize=12,
              label=f"DDPM-{T_run}, n = {N_DDPM}")
ax_div.semilogx([T_run], [ddpm_row["dist"]], "r*", markersize=12, label=f"DDPM-{T_run}")
ax_fid.set(xlabel="seconds per image (log)", ylabel="FID-MNIST (log)", title="cost against quality (labels: steps)")
ax_div.set(xlabel="sampling steps (log)", ylabel="mean pairwise distance", title="diversity (dotted: real digits)")
ax_fid.legend(fontsize=8)
ax_div.legend(fontsize=8)
fig.suptitle(f"experiment (b): DDIM step counts on {runtime.describe()}")
fig

# %%
ddim50 = next(r for r in trade if r["name"] == "DDIM-50" and r["n"] == N_DDPM)
speedup = (ddpm_row["seconds"] / ddpm_row["n"]) / (ddim50["seconds"] / ddim50["n"])
fid_gap = ddim50["fid"] / ddpm_row["fid"] - 1
print(f"DDIM-50 is {speedup:.0f}x faster per image than DDPM-{T_run} (target >= 15x: "
      f"{'met' if speedup >= 15 else 'missed'}); FID-MNIST at n = {N_DDPM}: {ddim50['fid']:.1f} vs {ddpm_row['fid']:.1f} "
      f"({fid_gap:+.0%}; target within 10%: {'met' if fid_gap <= 0.10 else 'missed'}, at a small n)")
if "ddim50_w0_fid_mnist" in rec:
    n_rec = int(rec["sampler_comparison_samples"])
    rec_speedup = rec["ddpm1000_w0_seconds_per_image"] / rec["ddim50_w0_seconds_per_image"]
    rec_gap = rec["ddim50_w0_fid_mnist"] / rec["ddpm1000_w0_fid_mnist"] - 1
    print(f"recorded by the bench on {n_rec:,} conditional samples each (labels 0-9, w = 0): DDPM-1000 FID-MNIST "
          f"{rec['ddpm1000_w0_fid_mnist']:.2f}, label accuracy {rec['ddpm1000_w0_label_accuracy']:.3f}, "
          f"{rec['ddpm1000_w0_seconds_per_image']:.2f} s/image; DDIM-50 FID-MNIST {rec['ddim50_w0_fid_mnist']:.2f}, "
          f"label accuracy {rec['ddim50_w0_label_accuracy']:.3f}, {rec['ddim50_w0_seconds_per_image']:.3f} s/image: "
          f"{rec_speedup:.0f}x faster, FID {rec_gap:+.0%} (targets >= 15x and within 10%: "
          f"{'met' if rec_speedup >= 15 and rec_gap <= 0.10 else 'missed'})")
low, high = (min((r for r in trade if r["n"] == N_LARGE), key=lambda r: r["steps"]),
             max((r for r in trade if r["n"] == N_LARGE), key=lambda r: r["steps"]))
print(f"diversity at n = {N_LARGE}: DDIM-{low['steps']} pairwise distance {low['dist']:.2f} and entropy "
      f"{low['entropy']:.2f} bits vs DDIM-{high['steps']} {high['dist']:.2f} and {high['entropy']:.2f}: "
      + ("fewer steps, less diverse" if low["dist"] < 0.97 * high["dist"] else "no loss of diversity from fewer steps"))

# %% [markdown]
# How to read this. The time per image falls in proportion to the steps; that part of the
# slide is plain arithmetic. Quality falls much more slowly than the step count, but it
# does fall. On the few DDPM-sized samples the FIDs are all bias (24 real test digits score
# about as badly as any sampler), which is why the bench's numbers on 500 samples each are
# printed too: there DDPM-1000 is clearly better than DDIM-50 (the course's target of
# "within 10%" is missed; Song et al. report the same kind of gap on CIFAR-10, FID 4.67 for
# DDIM-50 against 3.17 for DDPM-1000), while DDIM-50 is about twenty times faster.
#
# The slide's diversity claim is the interesting one, and the last lines test it. DDIM's
# randomness is all in $x_T$, and every step count maps the *same* starting noises to
# samples. *Which* digits appear does not change with the step count: the class entropy
# at $n = 1000$ is 3.30 bits at 10 steps against 3.31 at 50 (the maximum is 3.32). The
# pixel spread does fall, by about 6%, because ten big steps draw smoother, simpler
# strokes, and smoother images are closer to each other. So fewer steps cost quality
# (FID-MNIST 40 against 27 at the same $n$), and the "lost diversity" the slide predicts is
# that loss of detail, not fewer kinds of digit.
#
# ## 12 · Experiment (c): does it copy the training set?
#
# A model with a thousand-step denoiser and a 60,000-digit training set might simply learn
# to land on training digits. *Strategy: diagnose with a reference.* For `N_NN` samples
# (the DDIM-50 ones above) we find the nearest of the 60,000 training digits in pixel
# distance, and do the same for as many **test** digits: real digits the model never saw,
# which are as novel as a digit can honestly be. If the samples copied, their nearest
# training digits would be much closer than the test digits' are.

# %%
def nearest_train(images, chunk=500):
    """(distance, index) of each image's nearest training digit, L2 in [0, 1] pixel units."""
    flat_train = train_set.images.flatten(1)
    dists, idx = [], []
    for i in range(0, images.shape[0], chunk):
        d = torch.cdist(images[i:i + chunk].flatten(1).to(flat_train.device), flat_train)
        best = d.min(1)
        dists.append(best.values.cpu())
        idx.append(best.indices.cpu())
    return torch.cat(dists), torch.cat(idx)


nn_samples = ddim_large[50][:N_NN]
nn_d_samples, nn_i_samples = nearest_train(nn_samples)
nn_d_test, _ = nearest_train(test.images[:N_NN])
nn_d_quiet, _ = nearest_train(quiet_images)
print(f"nearest training digit, L2 distance (pixels in [0, 1]), {N_NN} images each:")
for name, d in (("DDIM-50 samples", nn_d_samples), ("test digits (never seen)", nn_d_test),
                (f"DDPM without sigma_t z ({N_DDPM})", nn_d_quiet)):
    print(f"{name:>32}: median {d.median():.2f}, 5th percentile {d.quantile(0.05):.2f}, min {d.min():.2f}")

# %%
order_nn = nn_d_samples.argsort()
pick = torch.cat([order_nn[:4], order_nn[-4:]]) if N_NN >= 8 else order_nn
pairs = torch.cat([nn_samples[pick].cpu(), train_set.images[nn_i_samples[pick]].cpu()])
fig = Figure(figsize=(12, 4.4), layout="constrained")
ax_pairs, ax_hist = fig.subplots(1, 2, width_ratios=[1.2, 1])
ax_pairs.imshow(plot.to_grid(pairs, nrow=len(pick)), cmap="gray", vmin=0, vmax=1)
ax_pairs.set(title="top: samples (4 closest, 4 farthest); bottom: their nearest training digits",
             xticks=[29 * i + 14 for i in range(len(pick))], yticks=[])
ax_pairs.set_xticklabels([f"{nn_d_samples[i]:.1f}" for i in pick], fontsize=8)
ax_hist.hist([nn_d_samples.numpy(), nn_d_test.numpy()], bins=25, label=["samples", "test digits"])
ax_hist.set(xlabel="distance to the nearest training digit", ylabel="images",
            title="samples vs never-seen real digits")
ax_hist.legend()
fig.suptitle("experiment (c): nearest training neighbours")
fig

# %% [markdown]
# The samples are not copies. Their nearest training digits are, if anything, *farther*
# away than a never-seen test digit's (median 5.2 against 4.1): the model draws digits that
# are a little less typical than real ones, not ones it has stored. The closest pairs are
# thin "1"s, which are close to some training "1" whatever draws them (the same holds for
# test "1"s), and even they differ in slant and thickness. The quiet DDPM samples of
# section 10 sit much closer (median 1.8) for the same reason: they are nearly all such
# "1"s. With 60,000 training digits and a network of 0.39M parameters this is the expected
# answer; memorization is a real risk for diffusion models trained long on small data sets
# (exercise 3).
#
# ## 13 · Experiment (d): what does the network estimate?
#
# The slides insist that $\varepsilon_\theta$ is "not subtracting noise" but a "movement
# direction for each pixel", a "pixel trajectory", and that adding and subtracting Gaussian
# variables can never drive the noise variance to zero. We look. For one test digit and a
# range of $t$ we show $x_t$, the true noise, the prediction $\varepsilon_\theta$, and
# the clean image it implies, and we measure how close the prediction is to the true noise
# (their correlation).

# %%
x0_d, y_d = diffusion.to_model_scale(test.images[7:8]), test.labels[7:8]
t_show = [50, 150, 300, 500, 700, 900]
eps_d = torch.randn(x0_d.shape, generator=GEN).to(DEVICE)
rows_d, corr_d = [[], [], [], []], []
with torch.no_grad():
    for t in t_show:
        x_t = diffusion.q_sample(net.schedule, x0_d, t, eps_d)
        eps_hat = net(x_t, t, y_d)
        abar = net.schedule.alpha_bars[t]
        x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
        corr_d.append(torch.corrcoef(torch.stack([eps_hat.flatten(), eps_d.flatten()]))[0, 1].item())
        for row, img in zip(rows_d, (x_t, eps_d, eps_hat, x0_hat)):
            row.append(((img.clamp(-3, 3) + 3) / 6) if img is not x_t and img is not x0_hat
                       else diffusion.from_model_scale(img))
panel = torch.cat([torch.cat(r) for r in rows_d]).cpu()
fig = Figure(figsize=(10, 7), layout="constrained")
ax = fig.subplots()
ax.imshow(plot.to_grid(panel, nrow=len(t_show), pad=2), cmap="gray", vmin=0, vmax=1)
ax.set_xticks([30 * i + 14 for i in range(len(t_show))],
              [f"t={t + 1}\ncorr {c:.2f}\n1/sqrt(abar) {float(net.schedule.alpha_bars[t]) ** -0.5:.0f}"
               for t, c in zip(t_show, corr_d)])
ax.set_yticks([30 * i + 14 for i in range(4)], ["x_t", "true noise", "predicted noise", "implied x0_hat"])
ax.set(title="what the network sees and says (noise panels: -3 black, +3 white)")
fig

# %% [markdown]
# The network **does** estimate the noise, in the plain sense: the correlation between its
# prediction and the noise that was actually added is printed under each column, and it
# is what the training loss rewards. (The bottom row at large $t$ is a poor picture for
# another reason: $\hat x_0$ divides by $\sqrt{\bar\alpha_t}$, whose inverse is printed too,
# so a small error in $\varepsilon_\theta$ becomes a large one in $\hat x_0$. Samplers that
# clip $\hat x_0$ to $[-1, 1]$ exist for this reason; the course's do not.) The correlation
# rises with $t$, from 0.97 at $t = 51$ to 1.00 from $t = 501$ on, where $x_t$ is mostly
# noise and predicting it is easy; $\hat x_0$ is a blurred but readable digit up to
# $t = 701$ and mostly noise at $t = 901$, where its error is multiplied by 61.
#
# What the slide's remark gets right is what that
# estimate is *used* for. Up to a scale, $\varepsilon_\theta$ is the direction of steepest
# increase of the log-density of noisy images,
# $\nabla_{x_t} \log q(x_t) \approx -\varepsilon_\theta(x_t, t)/\sqrt{1-\bar\alpha_t}$
# (Vincent 2011; Song & Ermon 2019), so each reverse step moves every pixel a little
# "uphill", towards likelier images: a movement direction, as the slide says.
#
# What is loose is the variance argument. Subtracting a *predicted* noise is not adding
# an independent Gaussian: the prediction is correlated with the noise inside $x_t$
# (printed above), so subtracting it removes noise, and the fresh $\sigma_t z$ added back
# is smaller than what was removed. The trajectory from section 9 shows it. We split each
# $x_t$ into the part explained by the final image, $\sqrt{\bar\alpha_t}\, x_0^{\text{final}}$,
# and the rest, and plot the rest's standard deviation against the forward process's
# $\sqrt{1-\bar\alpha_t}$; beside it, a few single pixels along the way.

# %%
final = traj["x0_hat"][-1]                                  # the last step's x0_hat: the sample on [-1, 1]
abar_run = ddpm_net.schedule.alpha_bars.cpu()[traj["t"]]
residual_sd = (traj["x_t"] - abar_run.sqrt().view(-1, 1, 1, 1, 1) * final).flatten(1).std(1)
fig = Figure(figsize=(12, 4), layout="constrained")
ax_sd, ax_px = fig.subplots(1, 2)
step_axis = (traj["t"] + 1).numpy()
ax_sd.plot(step_axis, residual_sd.numpy(), label="sd of x_t - sqrt(abar_t) x_final (reverse run)")
ax_sd.plot(step_axis, (1 - abar_run).sqrt().numpy(), "--", label="sqrt(1 - abar_t) (forward process)")
ax_sd.invert_xaxis()
ax_sd.set(xlabel="step t (reverse time: left to right)", ylabel="noise sd", title="the noise does go to zero")
ax_sd.legend(fontsize=8)
pixels = [(14, 14), (7, 14), (20, 6)]
for (i, j) in pixels:
    line, = ax_px.plot(step_axis, traj["x_t"][:, 0, 0, i, j].numpy(), alpha=0.6, label=f"x_t at pixel ({i}, {j})")
    ax_px.plot(step_axis, traj["x0_hat"][:, 0, 0, i, j].clamp(-1.5, 1.5).numpy(), color=line.get_color(),
               linewidth=2, label=f"x0_hat at ({i}, {j})")
ax_px.invert_xaxis()
ax_px.set(xlabel="step t (reverse time)", ylabel="pixel value on [-1, 1]", title="pixel trajectories of sample 1")
ax_px.legend(fontsize=7, ncol=2)
fig.suptitle("experiment (d): the reverse process removes noise, along a path")
fig

# %% [markdown]
# The left panel settles the variance question: the noise left in $x_t$ follows the
# forward process's $\sqrt{1-\bar\alpha_t}$ back down to zero. The right panel shows the
# slide's "trajectory": each pixel of $x_t$ wanders (the $\sigma_t z$ kicks) while drifting
# to its final value, and the bold $\hat x_0$ curves settle much earlier. So: the network
# estimates the noise; the sampler uses that estimate as a direction, and it is not
# "denoising" in the classical sense of averaging neighbouring pixels or frames, which is
# the fair part of the remark. (In the saved run the two curves of the left panel lie on
# top of each other from $t = 1000$ down to 0.)
#
# ## 14 · The goal: a digit of the label we ask for
#
# Chapter 00 set the problem as $y = f(\text{label}, \theta, Z)$: a label in, a
# *different* correct digit out every time. The network already takes the label. Sampling
# with $\varepsilon_\theta(x_t, t, y)$ draws from the model's $p(x \mid y)$, but a model's
# conditional is often too lenient: some samples are ambiguous. **Classifier-free
# guidance** (Ho & Salimans 2022) sharpens it with no extra classifier. Since the network
# was also trained without labels (10% of the time), it knows both predictions, and we
# extrapolate from the unconditional one past the conditional one:
#
# $$\tilde\varepsilon = (1 + w)\, \varepsilon_\theta(x_t, t, y) - w\, \varepsilon_\theta(x_t, t, \varnothing).$$
#
# By the score reading of section 13, this samples (approximately) from
# $p(x \mid y)\, p(y \mid x)^w$: images made $w$ times more typical of their label by an
# implicit classifier $p(y \mid x) \propto p(x \mid y)/p(x)$. $w = 0$ is the plain
# conditional model. We write guided DDIM inline and check it against `ddim_sample`.

# %%
@torch.no_grad()
def my_guided_ddim(model, n, steps, labels, w, generator):
    """Deterministic DDIM (eta = 0) with classifier-free guidance; images in [0, 1]."""
    s = model.schedule
    visits = diffusion.ddim_steps(s.T, steps).tolist()
    x = torch.randn(n, 1, model.config.image_size, model.config.image_size, generator=generator)
    for k in reversed(range(len(visits))):
        t = visits[k]
        ab = s.alpha_bars[t]
        ab_prev = s.alpha_bars[visits[k - 1]] if k > 0 else torch.tensor(1.0)
        eps = (1 + w) * model(x, t, labels) - w * model(x, t, None)
        x0_hat = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        x = ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps
    return diffusion.from_model_scale(x)


for w in (0.0, 2.0):
    mine = my_guided_ddim(check_net, 5, 10, torch.arange(5), w, torch.Generator().manual_seed(4))
    theirs = diffusion.ddim_sample(check_net, check_net.schedule, 5, steps=10, labels=torch.arange(5), guidance=w,
                                   generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(mine, theirs)
print("my guided DDIM = diffusion.ddim_sample (eta = 0), at w = 0 and w = 2")

# %% [markdown]
# Choose a label and a guidance weight. The eight samples share their starting noise
# across settings, so moving $w$ shows what guidance does to the *same* eight draws
# (DDIM in `SWEEP_STEPS` steps; each redraw takes a moment on a CPU).

# %%
W_SHOW = 8


def guided_decode(z, label):
    """The scrubber's `latent` is just [w]: eight samples of `label` at guidance z[0, 0]."""
    return diffusion.ddim_sample(net, net.schedule, W_SHOW, steps=SWEEP_STEPS, labels=[int(label)] * W_SHOW,
                                 guidance=float(z[0, 0]), generator=torch.Generator(device=DEVICE).manual_seed(5)).cpu()


guidance_widget = widgets.LatentScrubber(guided_decode, torch.tensor([[1.0]]), dims=[0], labels=range(10), label=4,
                                         value_range=(0.0, 6.0), step=0.5, scale=3, names=["w"], nrow=W_SHOW)
guidance_widget

# %%
guidance_widget.strip(dim=0, values=[0.0, 1.0, 3.0, 6.0],
                      title=f"label 4, the same eight starting noises at guidance w = 0, 1, 3, 6 (DDIM-{SWEEP_STEPS})")

# %% [markdown]
# *Strategy: verify with a number.* For each $w$ in `WEIGHTS` we draw `N_W` guided samples
# (labels 0-9 in turn) and let the judge read them: label accuracy, the share it is unsure
# about (top probability < 0.9, chapter 06's lesson), FID-MNIST against the test set, and
# the mean pairwise distance between samples *of the same label* (diversity within a
# class, which is what guidance is said to trade away).

# %%
judge_net = judge.judge(DEVICE)


def top_probability(images):
    with torch.no_grad():
        return judge_net.logits(images).softmax(-1).max(-1).values


def within_class_distance(images, labels):
    """Mean pairwise distance between samples of the same label, averaged over the labels."""
    per_class = [mean_pairwise_distance(images[labels == k]) for k in range(10) if (labels == k).sum() > 1]
    return sum(per_class) / len(per_class)


w_labels = torch.arange(N_W, device=DEVICE) % 10
sweep, sweep_images = [], {}
for w in WEIGHTS:
    t0 = time.perf_counter()
    images = diffusion.ddim_sample(net, net.schedule, N_W, steps=SWEEP_STEPS, labels=w_labels, guidance=w,
                                   generator=torch.Generator(device=DEVICE).manual_seed(6))
    seconds = time.perf_counter() - t0
    sweep_images[w] = images
    sweep.append(dict(w=w, acc=metrics.label_accuracy(images, w_labels), fid=metrics.fid_mnist(images),
                      unsure=(top_probability(images) < 0.9).float().mean().item(),
                      dist=within_class_distance(images, w_labels), seconds=seconds))
real_w = test.images[:N_W]
print(f"{N_W} samples per weight, DDIM-{SWEEP_STEPS}; label accuracy's standard error ~ "
      f"{math.sqrt(0.01 * 0.99 / N_W):.3f} near 99%")
print(f"{'w':>5} {'accuracy':>9} {'unsure':>7} {'FID-MNIST':>10} {'within-class dist.':>19} {'s / image':>10}")
for r in sweep:
    print(f"{r['w']:>5.1f} {r['acc']:>9.3f} {r['unsure']:>7.3f} {r['fid']:>10.1f} {r['dist']:>19.2f} "
          f"{r['seconds'] / N_W:>10.3f}")
print(f"{'real':>5} {metrics.label_accuracy(real_w, test.labels[:N_W]):>9.3f} "
      f"{(top_probability(real_w) < 0.9).float().mean().item():>7.3f} {metrics.fid_mnist(real_w):>10.1f} "
      f"{within_class_distance(real_w, test.labels[:N_W]):>19.2f}")
best_w = max(sweep, key=lambda r: (r["acc"], -r["fid"]))
best_fid_w = min(sweep, key=lambda r: r["fid"])
verdict = "met" if best_w["acc"] >= 0.99 else f"missed by {0.99 - best_w['acc']:.3f}"
print(f"\nbest label accuracy {best_w['acc']:.3f} at w = {best_w['w']} (target >= 0.99: {verdict}); "
      f"best FID-MNIST {best_fid_w['fid']:.1f} at w = {best_fid_w['w']}")

# %%
fig = Figure(figsize=(13, 4), layout="constrained")
ax_acc, ax_fidw, ax_trade = fig.subplots(1, 3)
ws = [r["w"] for r in sweep]
ax_acc.plot(ws, [r["acc"] for r in sweep], "o-", label="label accuracy")
ax_acc.plot(ws, [1 - r["unsure"] for r in sweep], "s--", label="judge sure (top p >= 0.9)")
ax_acc.set(xlabel="guidance weight w", ylabel="fraction of samples", title="obeying the label")
ax_acc.legend(fontsize=8)
ax_fidw.plot(ws, [r["fid"] for r in sweep], "o-", color="C3", label="FID-MNIST")
ax_dist = ax_fidw.twinx()
ax_dist.plot(ws, [r["dist"] for r in sweep], "s--", color="C2", label="within-class distance")
ax_fidw.set(xlabel="guidance weight w", ylabel="FID-MNIST", title=f"quality and variety (n = {N_W})")
ax_dist.set_ylabel("within-class pairwise distance")
ax_fidw.legend(loc="upper left", fontsize=8)
ax_dist.legend(loc="upper right", fontsize=8)
ax_trade.plot([r["fid"] for r in sweep], [r["acc"] for r in sweep], "o-")
for r in sweep:
    ax_trade.annotate(f"w={r['w']:g}", (r["fid"], r["acc"]), fontsize=8, xytext=(4, -10), textcoords="offset points")
ax_trade.set(xlabel="FID-MNIST (lower is better)", ylabel="label accuracy", title="the trade-off")
fig.suptitle("classifier-free guidance: what the weight w buys and costs")
fig

# %% [markdown]
# Guidance buys label accuracy quickly: the first step up from $w = 0$ (accuracy 0.98)
# to $w = 0.5$ brings it to 1.00 on these 300 samples and removes most of the samples the
# judge is unsure about. Everything past that is paid for. The samples become *too*
# typical: thicker, more uniform strokes (the strip above), the within-class distance
# falls steadily (8.8 at $w = 0$, real digits 8.7, 7.7 at $w = 4$), and FID-MNIST, which
# wants the real variety of the test set, rises from the first step on. For this model the
# FID curve has no dip: its minimum is at $w = 0$. Seed 002's DiT table shows FID
# *improving* with a moderate guidance weight on ImageNet, where an unguided model's
# samples are often not recognisable as their class at all; our conditional model is
# already right 98% of the time without help, so guidance has only the cost side left to
# show on FID. The bench records $w = 0.5$, the smallest weight here that reaches the 99%
# target.
#
# ## 15 · Verify: the journey's answer, side by side
#
# The same question for every conditional model of the course: given a label, does it draw
# a correct, varied, realistic digit? We read each model's recorded metrics (measured on
# 10,000 samples when its checkpoint was made) and measure label accuracy, the judge-unsure
# share and FID-MNIST here on `N_W` samples each, the same $n$ as the guidance sweep, for
# every model that samples cheaply. The PixelCNN draws 784 pixels one after another, so we
# read its recorded numbers only; its digits are binary, which a grey-digit FID penalizes
# (statically binarized real digits score about 4 at 28x28).

# %%
def load(name):
    """A shipped checkpoint on every device: its recorded metrics are what the table compares."""
    return dj.pretrained(name).to(DEVICE).eval()


cvae, cgan, cflow, cpix = load("cvae"), load("cgan"), load("flow"), load("pixelcnn")
runtime.seed(0)
mlp28 = mlp.MLPGenerator(mlp.MLPConfig(image_size=28)).to(DEVICE)
mlp_opt = torch.optim.Adam(mlp28.parameters(), lr=2e-3)
mlp_hist = train.fit(mlp.make_step(mlp28, mlp_opt, pair_labels=True), data.batches(train_set, 256, seed=0),
                     steps=MLP_STEPS, desc="paired MLP, 28x28")
mlp28.eval()

cmp_gen = lambda: torch.Generator(device=DEVICE).manual_seed(8)  # noqa: E731
samplers = {
    "paired MLP (ch. 01), trained here": (None, lambda: mlp28.sample(w_labels, generator=cmp_gen())),
    "conditional VAE (ch. 04)": (cvae, lambda: cvae.sample(N_W, labels=w_labels, generator=cmp_gen())),
    "conditional GAN (ch. 06)": (cgan, lambda: cgan.sample(N_W, labels=w_labels, generator=cmp_gen())),
    "conditional PixelCNN (ch. 07)": (cpix, None),
    "conditional flow, T = 1 (ch. 08)": (cflow, lambda: cflow.sample(N_W, labels=w_labels, generator=cmp_gen())),
    f"diffusion, DDIM-{SWEEP_STEPS}, w = {best_w['w']:g} (here)": (net, lambda: sweep_images[best_w["w"]]),
}
table = []
for name, (model, draw) in samplers.items():
    recorded = getattr(model, "checkpoint_info", {"metrics": {}})["metrics"] if model is not None else {}
    row = dict(name=name, rec_fid=recorded.get("fid_mnist"), rec_acc=recorded.get("label_accuracy"),
               params=sum(p.numel() for p in (model or mlp28).parameters()))
    if draw is not None:
        t0 = time.perf_counter()
        with torch.no_grad():
            images = draw()
        row.update(seconds=time.perf_counter() - t0, acc=metrics.label_accuracy(images, w_labels),
                   unsure=(top_probability(images) < 0.9).float().mean().item(), fid=metrics.fid_mnist(images))
    table.append(row)


def fmt(value, spec):
    return format(value, spec) if value is not None else "-"


print(f"{'':>42} {'params':>9} {'rec. FID':>9} {'rec. acc':>9} | here, n = {N_W}: {'acc':>6} {'unsure':>7} {'FID':>7}")
for r in table:
    print(f"{r['name']:>42} {r['params']:>9,} {fmt(r['rec_fid'], '9.1f'):>9} {fmt(r['rec_acc'], '9.3f'):>9} | "
          f"{'':>13}{fmt(r.get('acc'), '6.3f'):>6} {fmt(r.get('unsure'), '7.3f'):>7} {fmt(r.get('fid'), '7.1f'):>7}")
print(f"{'real test digits':>42} {'':>9} {'':>9} {'':>9} | {'':>13}"
      f"{metrics.label_accuracy(real_w, test.labels[:N_W]):>6.3f} {(top_probability(real_w) < 0.9).float().mean().item():>7.3f} "
      f"{metrics.fid_mnist(real_w):>7.1f}")
print(f"diffusion recorded (DDIM-{diffusion.BENCH_STEPS}, w = {rec.get('guidance_w', diffusion.BENCH_GUIDANCE)}): "
      f"FID-MNIST {fmt(rec.get('fid_mnist'), '.2f')}, label accuracy {fmt(rec.get('label_accuracy'), '.4f')}")

# %% [markdown]
# Read the table by columns. The paired MLP obeys the label (its one blurred image per label
# is easy for the judge) but its FID shows it never learned the variety, chapter 01's
# diagnosis. The conditional VAE and GAN each fixed one half: the VAE's samples vary but are
# soft, the GAN's are sharp and varied but come from a game we had to balance. The
# likelihood models (PixelCNN, flow) give numbers in nats and bits but, on a CPU budget,
# not the best pictures. The diffusion model is trained with a plain regression loss, has
# no game and no determinant, and with guidance has a dial for how strictly it obeys.
# Whether it is also the best of the course on FID is for the recorded 10,000-sample
# numbers to decide, not the small-$n$ column, and they say no: the conditional GAN keeps
# the lowest recorded FID-MNIST (1.8 against diffusion's 5.2 at $w = 0.5$), while
# diffusion has the highest label accuracy of the course (0.997 recorded, against the
# cGAN's 0.988). Our diffusion model is also the smallest conditional model in the table
# bar the PixelCNN, and it was trained for 70 minutes on one CPU thread; the literature's
# diffusion models beat GANs with far more capacity and training (`RECIPES["diffusion_gpu"]`
# is the wider recipe, for a GPU).
#
# ## 16 · Verify: the numbers of this chapter in one place

# %%
print(f"forward process: one-step q(x_t | x_0) matches {N_CHAINS:,} step-by-step chains; cosine betas checked")
print(f"inline loss, reverse step, DDPM sampler and guided DDIM equal the package's (same draws)")
print(f"live run: {live_hist.steps} steps in {live_hist.seconds:.0f} s, loss {live_hist.last(n=50):.3f}")
print(f"shipped: noise MSE {eps_mse.mean():.4f} ({N_EPS:,} test digits); trained "
      f"{rec.get('train_seconds', float('nan')) / 60:.0f} min on {rec.get('hardware', runtime.describe())}")
print(f"DDPM-{T_run} {ddpm_row['seconds'] / ddpm_row['n']:.2f} s/image, FID {ddpm_row['fid']:.1f} (n = {N_DDPM}); "
      f"DDIM-50 {speedup:.0f}x faster, FID {ddim50['fid']:.1f} (same n)")
print(f"no sigma_t z: FID {describe_samples(quiet_images)['fid']:.1f} vs {ddpm_row['fid']:.1f}, mean ink "
      f"{quiet_images.mean().item():.3f} vs {ddpm_images.mean().item():.3f}")
print(f"nearest training digit, median: samples {nn_d_samples.median():.2f}, test digits {nn_d_test.median():.2f}")
print(f"guidance: accuracy {best_w['acc']:.3f} at w = {best_w['w']}; best FID {best_fid_w['fid']:.1f} at "
      f"w = {best_fid_w['w']} (n = {N_W}); recorded at w = {rec.get('guidance_w', diffusion.BENCH_GUIDANCE)}: "
      f"accuracy {fmt(rec.get('label_accuracy'), '.4f')}, FID {fmt(rec.get('fid_mnist'), '.2f')}")
print(f"\nwhole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")

# %% [markdown]
# ## Exercises
#
# **1. Which schedule?** Train the live-run network of section 7 for the same minutes with
# `schedule="cosine"` in its config and compare its DDIM-20 samples and its loss by step
# with the linear one's. Which steps does each spend its effort on?
#
# <details><summary>Solution</summary>
#
# ```python
# cos_net = diffusion.UNet(diffusion.UNetConfig(channels=16, n_res=1, n_classes=10, schedule="cosine")).to(DEVICE)
# cos_opt = torch.optim.Adam(cos_net.parameters(), lr=1e-3)
# def cos_step(batch):
#     loss = diffusion.ddpm_loss(cos_net, cos_net.schedule, batch[0], batch[1], p_uncond=0.1)
#     cos_opt.zero_grad(); loss.backward(); cos_opt.step()
#     return loss
# train.fit(cos_step, data.batches(train_set, 64, seed=0), minutes=LIVE_MINUTES)
# ```
#
# Then repeat section 8's error-by-step measurement with `cos_net.schedule`. Training
# draws $t$ uniformly, so the schedule decides how many of the training examples show a
# half-visible digit. Under the linear schedule a large share of the steps are almost
# pure noise (section 3), where the target is nearly $x_t$ itself and little is learned;
# the cosine schedule spreads the SNR more evenly, so more of each batch teaches the
# network something. On $28 \times 28$ digits the difference is modest; Nichol & Dhariwal
# saw it matter most at low resolutions like ours and with few sampling steps.
#
# </details>
#
# **2. Predict $x_0$ instead.** Show that a network predicting $x_0$ directly, trained with
# $\|x_0 - \hat x_0\|^2$, is the $\varepsilon$ objective with a weight per step. Which
# steps does the $\varepsilon$ loss weight more?
#
# <details><summary>Solution</summary>
#
# From $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ and
# the same for the truth, $x_0 - \hat x_0 = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}\,
# (\hat\varepsilon - \varepsilon)$, so $\|x_0 - \hat x_0\|^2 = \mathrm{SNR}(t)^{-1}
# \|\varepsilon - \hat\varepsilon\|^2$. The $\varepsilon$ loss is the $x_0$ loss weighted by
# $\mathrm{SNR}(t)$: it puts far more weight on the small-$t$ steps (high SNR) than an
# $x_0$ loss would, and far less on the noisy ones, where an $x_0$ error is huge but
# harmless because the sampler will revisit the image many times.
#
# </details>
#
# **3. Make it copy.** Memorization is real for diffusion models trained long on small
# data (Carlini et al. 2023 extracted training images from Stable Diffusion). Train the
# live-run network on only 100 training digits for a few minutes and repeat experiment (c)
# against those 100. What do you expect, and why?
#
# <details><summary>Solution</summary>
#
# ```python
# tiny_set = train_set.subset(100)
# # ... train as in section 7 with data.batches(tiny_set, 50, seed=0), then:
# samples = diffusion.ddim_sample(live_net, live_net.schedule, 100, steps=50)
# d = torch.cdist(samples.flatten(1), tiny_set.images.flatten(1)).min(1).values
# ```
#
# The optimal denoiser for a data set of $N$ points is known in closed form: at every
# noise level it is a softmax-weighted average of the training images. A network that
# fits it perfectly can only produce the training images themselves. With 60,000 digits a
# small U-Net cannot fit it and generalizes (section 12); with 100 it can, and the
# nearest-neighbour distances collapse towards 0 as training goes on.
#
# </details>
#
# **4. Stochastic DDIM.** `ddim_sample` takes `eta`: 0 is deterministic, 1 with all
# $T$ steps is DDPM. Measure FID-MNIST and pairwise distance at 50 steps for
# $\eta = 0, 0.5, 1$ on the same $n$. Does the noise term help or hurt when steps are few?
#
# <details><summary>Solution</summary>
#
# ```python
# for eta in (0.0, 0.5, 1.0):
#     x = diffusion.ddim_sample(net, net.schedule, N_LARGE, steps=50, eta=eta,
#                               generator=torch.Generator(device=DEVICE).manual_seed(2))
#     print(eta, metrics.fid_mnist(x), mean_pairwise_distance(x))
# ```
#
# Song et al. found $\eta = 0$ best at few steps: fresh noise added in large jumps has to
# be removed again by the next few steps, which few steps do badly, so samples get noisier
# or blurrier. With many steps the difference vanishes. The noise term is a way of
# correcting errors made earlier on the path (it forgets some of them), which pays off
# only when there are enough steps left to use it.
#
# </details>
#
# **5. (Stretch) A tiny diffusion transformer.** Seed 002's last slides point to DiT
# (Peebles & Xie 2023): cut the image into patches, run transformer blocks whose layer
# norms are scaled and shifted by the time-and-label embedding ("adaLN"), and read the
# noise back from the patches. Build one with about the live run's parameter count (it
# only has to provide `config`, `schedule`, `inp`, `label_tokens` and `_eps` to work with
# the package's loss), train it for the live run's minutes, and compare the loss with the
# U-Net's.
#
# <details><summary>Solution</summary>
#
# ```python
# from torch import nn
#
# class TinyDiT(nn.Module):
#     """Patchify 28x28 into 4x4 patches (49 tokens), depth blocks with adaLN, unpatchify."""
#     def __init__(self, dim=96, depth=4, heads=4, patch=4, T=1000, n_classes=10):
#         super().__init__()
#         self.config = diffusion.UNetConfig(channels=16, n_res=1, n_classes=n_classes, T=T)
#         self.schedule = diffusion.Schedule(T)
#         self.p, self.dim = patch, dim
#         self.inp = nn.Conv2d(1, dim, patch, stride=patch)             # patchify
#         self.pos = nn.Parameter(torch.zeros(1, (28 // patch) ** 2, dim))
#         self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
#         self.label = nn.Embedding(n_classes + 1, dim)
#         self.blocks = nn.ModuleList(nn.ModuleDict(dict(
#             ada=nn.Linear(dim, 4 * dim), norm1=nn.LayerNorm(dim, elementwise_affine=False),
#             attn=nn.MultiheadAttention(dim, heads, batch_first=True),
#             norm2=nn.LayerNorm(dim, elementwise_affine=False),
#             mlp=nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))))
#             for _ in range(depth))
#         self.out = nn.Linear(dim, patch * patch)
#         nn.init.zeros_(self.out.weight); nn.init.zeros_(self.out.bias)
#
#     def label_tokens(self, labels, batch):
#         return None if labels is None else torch.as_tensor(labels, device=self.pos.device).long().expand(batch)
#
#     def _eps(self, x, t, tokens):
#         B = x.shape[0]
#         if tokens is None:
#             tokens = torch.full((B,), self.config.n_classes, device=x.device)
#         c = self.time(diffusion.timestep_embedding(t, self.dim)) + self.label(tokens)
#         h = self.inp(x).flatten(2).transpose(1, 2) + self.pos
#         for blk in self.blocks:
#             s1, b1, s2, b2 = blk["ada"](c)[:, None].chunk(4, -1)
#             a = blk["norm1"](h) * (1 + s1) + b1
#             h = h + blk["attn"](a, a, a, need_weights=False)[0]
#             h = h + blk["mlp"](blk["norm2"](h) * (1 + s2) + b2)
#         n = 28 // self.p
#         patches = self.out(h).view(B, n, n, self.p, self.p)
#         return patches.permute(0, 1, 3, 2, 4).reshape(B, 1, 28, 28)
#
#     def forward(self, x, t, labels=None):
#         t = torch.as_tensor(t, device=x.device).long().expand(x.shape[0])
#         return self._eps(x, t, self.label_tokens(labels, x.shape[0]))
# ```
#
# Size `dim` and `depth` so that `sum(p.numel() ...)` matches the live U-Net's, train it
# with section 7's `live_step` (swap the network and optimizer), and compare the two
# histories and section 8's error by step. At this scale and budget expect the U-Net to
# win: its convolutions build in the locality of strokes, which the transformer must
# learn from data, and DiT's advantage appears with large models and long training
# (the scaling result of Peebles & Xie). The samplers work unchanged only through the
# public forward; `ddim_sample` also checks for a `UNet`, so write a short DDIM loop with
# `my_guided_ddim` from section 14 instead.
#
# </details>

# %% [markdown]
# ## The bridge to chapter 10
#
# The journey's problem is solved: give the diffusion model a label and it draws a
# correct digit, a different one for every starting noise, and guidance sets how strictly.
# It got there with the dullest loss of the course, a mean squared error, by asking for
# something an MSE is good at (the mean of the noise) and repeating the question a
# thousand times. What it costs is time: hundreds of network passes per image where the
# GAN and the flow need one, and DDIM only narrows the gap. Every family of the course is
# now built: the MLP, the RBM, the VAE and DRAW, the GAN, the PixelCNN, the flow and
# diffusion. Each was measured in its own chapter, on its own terms. Chapter 10 puts them
# side by side, on the same data with the same metrics (likelihood where there is one,
# FID-MNIST, label accuracy, sampling time, training time), and asks what each is good
# and bad at.
