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
# # 06 · Generative adversarial networks: learn the judge
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Every model so far has been graded pixel by pixel. Chapters 01 and 02
# used the squared error, whose best answer is the average of all the images that fit the
# input; chapters 03 to 05 used the likelihood of independent (given the code) Bernoulli
# pixels, whose best answer where the model is unsure is again an average, a grey halo
# where a stroke might be. Chapter 05 measured it: DRAW's digits are as soft as the VAE's,
# because a soft edge is what a per-pixel score *rewards*. This chapter changes the grader.
# Instead of writing down a score for images, we **learn** one: a second network, the
# discriminator, is trained to tell real digits from the generator's, and the generator
# is trained to fool it (Goodfellow et al. 2014). A blurry digit is easy to catch, so the
# generator is pushed towards sharp ones. We formulate the game and solve it for the best
# judge, check the solution on a 1-D toy, watch the original loss stall and its fix learn,
# build a DCGAN by the rules on Mansimov's slide and train one while we watch, give it the
# label (a conditional GAN: finally $y = f(x, \theta, Z)$ with both $x$ and $Z$ at work),
# break it on purpose (mode collapse), look at the LAPGAN's coarse-to-fine idea, and
# verify the shipped models with the course's judge.

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
from torch import nn

import drawjourney as dj
from drawjourney import data, judge, metrics, plot, runtime, train, widgets
from drawjourney.models import gan, mlp, vae

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator: every noise vector we look at comes from it

N_SHIFT = 500 if FAST else 2_000          # test digits in the "pixel judge" experiment
TOY_STEPS = 300 if FAST else 2_000        # updates of the 1-D discriminator
SAT_STEPS = 60 if FAST else 300           # updates per run of the saturation experiment
LIVE_MINUTES = 0.1 if FAST else 2.0       # the live run stops after this many minutes ...
LIVE_STEPS = 5_000                        # ... or this many updates, whichever comes first
SNAP_EVERY = 10 if FAST else 200          # the monitor's snapshot interval, in updates
N_MONITOR = 200 if FAST else 1_000        # samples per FID-MNIST of the monitor
N_FID = 1_000 if FAST else 10_000         # samples per FID-MNIST and label-accuracy row
N_Z = 50 if FAST else 200                 # codes per label for the spreads (chapters 01 and 04)
MLP_STEPS = 300 if FAST else 3_000        # chapter 01's paired MLP, trained again at 28x28
COLLAPSE_STEPS = 60 if FAST else 1_500    # updates per run of the mode-collapse experiment
N_HIST = 500 if FAST else 2_000           # samples per class histogram in that experiment
N_PAIRS = 200 if FAST else 1_000          # pairs of codes for the interpolation measurement
N_PATHS = 50 if FAST else 200            # slerp paths per group in the "digits in between" test
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; live run {LIVE_MINUTES} min; "
      f"FID-MNIST on {N_FID:,} samples; experiments of {SAT_STEPS} and {COLLAPSE_STEPS} updates")

# %% [markdown]
# ## 1 · The idea: a judge that has seen digits
#
# *Strategy: diagnose the problem type.* Why do pixel scores love blur? A small experiment
# makes the point without any model. Take a real digit and suppose the model is unsure
# where exactly its strokes go: one pixel to the left, right, up or down, all equally
# likely. It has to commit to one picture. Two candidates: **one of the four moved
# digits** (a perfectly good digit, wrong by one pixel three times out of four), or **the
# average of the four** (a digit that never occurs, smeared by a pixel in every
# direction). We score both the way chapters 01 to 05 did, by the expected squared error
# against the four possibilities, and the way a viewer would, by how much they look like
# real digits: the course's FID-MNIST, which compares the features a trained digit
# classifier (the judge) sees in a set of images with those it sees in the test set.

# %%
def shift(x, right=0, down=0):
    """Images moved by whole pixels (at most 2 each way), blank pixels coming in at the edge."""
    padded = F.pad(x, (2, 2, 2, 2))
    return padded[..., 2 - down:30 - down, 2 - right:30 - right]


train_set = data.mnist("train", device=DEVICE)      # grey 28x28 digits: what the GANs learn from
test = data.mnist("test", device=DEVICE)
x_sh = train_set.images[:N_SHIFT]                  # training digits: the FID reference is the test set
moves = torch.stack([shift(x_sh, dx, dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))])
candidates = {"one moved digit": moves[0], "the average of the four": moves.mean(0)}
print(f"{N_SHIFT} training digits, each possibly moved by one pixel in one of four directions")
print(f"{'the committed picture':>24} {'expected squared error':>23} {'FID-MNIST':>10}")
pixel_judge = {}
for name, guess in candidates.items():
    expected_se = (moves - guess).pow(2).flatten(2).sum(2).mean().item()   # per image, over moves
    pixel_judge[name] = (expected_se, metrics.fid_mnist(guess))
    print(f"{name:>24} {expected_se:>23.1f} {pixel_judge[name][1]:>10.1f}")
print(f"{'(the digits as they are)':>24} {'':>23} {metrics.fid_mnist(x_sh):>10.1f}")
(se_move, fid_move), (se_blur, fid_blur) = pixel_judge.values()
print(f"the squared error prefers the blur by a factor {se_move / se_blur:.2f}; "
      f"the judge prefers the sharp digit by a factor {fid_blur / fid_move:.1f} in FID-MNIST")

# %%
fig = Figure(figsize=(10, 2.6), layout="constrained")
axes = fig.subplots(1, 3)
for ax, (name, images) in zip(axes, [("training digits", x_sh[:8]), *[(n, g[:8]) for n, g in candidates.items()]]):
    plot.grid(images, nrow=4, ax=ax, title=name)
fig.suptitle("what a pixel score rewards: a sharp digit in a slightly wrong place, or the blur of all places?")
fig

# %% [markdown]
# We measured it: the squared error prefers the blur (lower expected error), because the
# average is by construction the one picture closest on average to all four
# possibilities (chapter 01's identity). The judge, a network that has learned what digits
# look like, prefers the sharp digit by a wide margin: to it, a slightly moved digit is
# still a digit, and a smear is not. (FID-MNIST here uses only `N_SHIFT` images, so its
# values sit above those for 10,000; compare the rows, not the raw numbers with later
# tables.)
#
# That is the whole idea of this chapter. A hand-written score of pixels cannot know what
# digits look like, so **learn the score**, and learn it from data. We cannot use the
# course's judge for that (it is our referee, and a generator trained against a fixed
# network learns to exploit its blind spots). Instead the score is a second network
# trained *at the same time* as the generator, with one job: to spot the generator's
# fakes. Wherever the generator's pictures differ from real ones in a way the network can
# see, blur included, the network learns to catch it, and the generator learns to stop.

# %% [markdown]
# ## 2 · Formulate: a two-player game, and the best judge
#
# *Strategy: formulate.* Two networks. The **generator** $G$ turns noise $z \sim p(z) =
# \mathcal N(0, I)$ into an image $G(z)$; the images it makes have some distribution
# $p_g$, which we never write down. The **discriminator** $D$ maps an image to a number in
# $(0, 1)$, its belief that the image is real. $D$ is a classifier trained to say 1 on
# training digits and 0 on $G$'s samples, with the usual log-loss; $G$ is trained to make
# it fail. Goodfellow et al. (2014) wrote this as one value function that $D$ maximizes
# and $G$ minimizes:
#
# $$\min_G \max_D V(D, G) = \mathbb E_{x \sim p_\text{data}}\big[\log D(x)\big] + \mathbb E_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big].$$
#
# The first term is $D$'s score on real digits, the second its score on fakes; $G$ only
# appears in the second. Since $G(z)$ with $z \sim p(z)$ *is* a draw from $p_g$, the
# second term is $\mathbb E_{x \sim p_g}[\log(1 - D(x))]$, and both terms are integrals over
# images:
#
# $$V(D, G) = \int \Big(p_\text{data}(x) \log D(x) + p_g(x) \log\big(1 - D(x)\big)\Big)\,dx .$$
#
# **The best judge.** *Strategy: solve a small case exactly.* For a fixed $G$, $D$ can
# choose its value at every $x$ separately, so we maximize the integrand pointwise. With
# $a = p_\text{data}(x)$, $b = p_g(x)$ and $y = D(x)$, the function $a \log y + b \log(1 -
# y)$ is concave in $y$, and its derivative $a / y - b / (1 - y)$ vanishes at $y = a / (a +
# b)$:
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)} .$$
#
# The best judge says $\tfrac12$ wherever the two distributions are equally dense, near 1
# where only real digits live and near 0 where only fakes do.
#
# **What the generator then minimizes.** *Strategy: use an identity.* Put $D^*$ back into
# $V$ and multiply and divide by 2 inside each log, with the mixture $m = \tfrac12
# (p_\text{data} + p_g)$:
#
# $$V(D^*, G) = \mathbb E_{p_\text{data}}\Big[\log \frac{p_\text{data}}{2m}\Big] + \mathbb E_{p_g}\Big[\log\frac{p_g}{2m}\Big] = \mathrm{KL}(p_\text{data} \,\|\, m) + \mathrm{KL}(p_g \,\|\, m) - \log 4 = 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g) - \log 4 .$$
#
# The **Jensen-Shannon divergence** $\mathrm{JSD}(p \| q) = \tfrac12 \mathrm{KL}(p \| m) +
# \tfrac12 \mathrm{KL}(q \| m)$ is zero if and only if $p = q$ and never more than $\log 2$.
# So against the best judge, the generator's objective is a divergence between its
# distribution and the data's: its minimum, $-\log 4$, is reached exactly when $p_g =
# p_\text{data}$, where $D^* = \tfrac12$ everywhere and the judge is reduced to a coin.
# No likelihood appears anywhere: neither network ever evaluates $p_g(x)$.
#
# We check both formulas where everything can be integrated: images that are single
# numbers. The data is a mixture of two Gaussians, the generator's distribution one
# Gaussian; a fine grid turns every integral into a sum.

# %%
xs = torch.linspace(-15, 15, 30_001, dtype=torch.float64)


def normal_pdf(x, mu, sd):
    return torch.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def toy_data_pdf(x):
    """p_data of the 1-D toy: half N(-2, 0.6^2), half N(1.5, 0.4^2)."""
    return 0.5 * normal_pdf(x, -2.0, 0.6) + 0.5 * normal_pdf(x, 1.5, 0.4)


def value(D, p_data, p_g, one_minus_D=None):
    """V(D, G) = integral of p_data log D + p_g log(1 - D), everything given on the grid xs.
    one_minus_D: 1 - D, where it is known more exactly than by subtracting D from 1."""
    one_minus_D = 1 - D if one_minus_D is None else one_minus_D
    return torch.trapezoid(torch.xlogy(p_data, D) + torch.xlogy(p_g, one_minus_D), xs).item()


def best_judge(p_data, p_g):
    """(D*, 1 - D*) on the grid, D* = p_data / (p_data + p_g); 1/2 where both densities underflow."""
    total = p_data + p_g
    safe = total.clamp_min(1e-300)
    return (torch.where(total > 0, p_data / safe, 0.5), torch.where(total > 0, p_g / safe, 0.5))


def kl(p, q):
    return torch.trapezoid(torch.xlogy(p, p) - torch.xlogy(p, q), xs).item()


def jsd(p, q):
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


p_data = toy_data_pdf(xs)
generators = {f"N({mu:g}, {sd:g}^2)": normal_pdf(xs, mu, sd)
              for mu, sd in ((-8.0, 1.0), (4.0, 1.0), (0.0, 1.5), (-0.2, 1.9))}
generators["p_g = p_data"] = p_data.clone()
print(f"{'generator p_g':>14} {'V(D*, G)':>10} {'2 JSD - log 4':>14} {'difference':>11} {'JSD / log 2':>12}")
for name, p_g in generators.items():
    d_star, d_star_fake = best_judge(p_data, p_g)
    v, identity = value(d_star, p_data, p_g, d_star_fake), 2 * jsd(p_data, p_g) - math.log(4)
    print(f"{name:>14} {v:>10.5f} {identity:>14.5f} {v - identity:>11.1e} {jsd(p_data, p_g) / math.log(2):>12.3f}")
print(f"-log 4 = {-math.log(4):.5f}")

# %% [markdown]
# The identity holds to the grid's rounding for every generator, and the value falls to
# $-\log 4$ only when $p_g = p_\text{data}$. Note the first row: a generator far from the
# data, overlapping it almost nowhere, has a JSD of almost exactly $\log 2$, the most it can
# be, and so would any other generator that misses the data: the divergence cannot tell a
# near miss from a far one. Keep that in mind for section 3.
#
# In a real GAN nobody hands us $D^*$: $D$ is a network trained on samples. Does training a
# classifier with $D$'s loss actually find $D^*$? We train a small one (a 1-D input, two
# hidden layers of 32) on samples of the toy, with the package's discriminator loss
# `gan.d_loss` (section 4 writes it out), against the generator $\mathcal N(0, 1.5^2)$.

# %%
def toy_data_sample(n, generator):
    """n draws of the toy's p_data, (n, 1)."""
    pick = torch.rand(n, 1, generator=generator) < 0.5
    return torch.where(pick, -2.0 + 0.6 * torch.randn(n, 1, generator=generator),
                       1.5 + 0.4 * torch.randn(n, 1, generator=generator))


runtime.seed(0)
toy_D = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2),
                      nn.Linear(32, 1))
toy_opt = torch.optim.Adam(toy_D.parameters(), lr=3e-3)


def toy_step(_):
    real = toy_data_sample(512, GEN)
    fake = 1.5 * torch.randn(512, 1, generator=GEN)                   # the generator N(0, 1.5^2)
    loss = gan.d_loss(toy_D(real).flatten(), toy_D(fake).flatten())
    toy_opt.zero_grad(set_to_none=True)
    loss.backward()
    toy_opt.step()
    return loss


toy_hist = train.fit(toy_step, [None], steps=TOY_STEPS, desc="1-D discriminator")
p_g = generators["N(0, 1.5^2)"]
d_star, d_star_fake = best_judge(p_data, p_g)
with torch.no_grad():
    d_learned = torch.sigmoid(toy_D(xs[:, None].float())).flatten().double()
inside = (p_data + p_g) > 0.01                              # where either distribution has mass
print(f"{TOY_STEPS} updates in {toy_hist.seconds:.1f} s; largest |D - D*| where p_data + p_g > 0.01: "
      f"{(d_learned - d_star)[inside].abs().max().item():.3f}")
print(f"V(D, G) of the trained discriminator {value(d_learned, p_data, p_g):.4f} <= V(D*, G) = "
      f"{value(d_star, p_data, p_g, d_star_fake):.4f}; its last training loss -V: {toy_hist.last(n=100):.4f}")

# %%
shifts = torch.linspace(-9, 9, 73)
v_curve = []
for m in shifts.tolist():
    p_m = normal_pdf(xs, m, 1.0)
    judge_m, judge_m_fake = best_judge(p_data, p_m)
    v_curve.append(value(judge_m, p_data, p_m, judge_m_fake))
fig = Figure(figsize=(11, 3.6), layout="constrained")
ax_d, ax_v = fig.subplots(1, 2)
ax_d.plot(xs, p_data, label="p_data")
ax_d.plot(xs, p_g, label="p_g = N(0, 1.5^2)")
ax_d.plot(xs, d_star, "k--", label="D* = p_data / (p_data + p_g)")
ax_d.plot(xs, d_learned, color="tab:red", alpha=0.8, label="a trained discriminator")
ax_d.set(xlim=(-6, 6), xlabel="x (a one-number 'image')", ylabel="density, or D(x)",
         title="the best judge, and one learned from samples")
ax_d.legend(fontsize=8)
ax_v.plot(shifts, v_curve, "o-", markersize=3, label="V(D*, G) for p_g = N(mu, 1)")
ax_v.axhline(-math.log(4), color="grey", linestyle="--", label="-log 4 (p_g = p_data)")
ax_v.axhline(0.0, color="black", linestyle=":", label="2 log 2 - log 4 = 0 (no overlap)")
ax_v.set(xlabel="mu, the centre of the generator's distribution", ylabel="V(D*, G) = 2 JSD - log 4",
         title="what G minimizes against the best judge")
ax_v.legend(fontsize=8)
fig.suptitle("the 1-D toy: the optimal discriminator and the Jensen-Shannon divergence")
fig

# %% [markdown]
# Left: where the data's density dominates, $D^*$ is near 1; under the generator's tails,
# near 0; the trained network (red) follows $D^*$ closely wherever there are samples to
# learn from, and its value is just below $V(D^*, G)$ (the best judge is the best). Right:
# against the best judge, the generator's objective is lowest when its distribution sits
# on the data, and it goes **flat** at 0 once the two no longer overlap: moving a far-away
# generator a little changes nothing. A real generator starts far away: random
# convolutional weights draw noise, which overlaps with no digit. The next section
# measures what that does to its gradient.

# %% [markdown]
# ## 3 · Experiment 1: the loss that stalls
#
# *Strategy: experiment, changing one thing.* Write $\ell$ for $D$'s **logit** on a fake,
# so $D(G(z)) = \sigma(\ell)$. The generator's term of $V$ per sample, and its derivative
# with respect to the logit, are
#
# $$\log\big(1 - \sigma(\ell)\big), \qquad \frac{\partial}{\partial \ell} \log\big(1 - \sigma(\ell)\big) = -\sigma(\ell) = -D(G(z)).$$
#
# Early in training the judge rejects the fakes with confidence, $D(G(z)) \approx 0$, and
# then the derivative is $\approx 0$ too: the generator learns least exactly when it is
# worst. Seed 002's slide says it this way: if the discriminator gets too strong early on,
# the signal to the generator may be small. The fix on the same slide (and in Goodfellow et
# al. 2014) keeps $D$'s objective and changes only $G$'s: instead of *minimizing the
# judge's success*, $G$ **maximizes the judge's mistake**,
#
# $$\min_G -\mathbb E_z\big[\log D(G(z))\big], \qquad \frac{\partial}{\partial \ell} \big(-\log \sigma(\ell)\big) = -\big(1 - \sigma(\ell)\big) = -\big(1 - D(G(z))\big),$$
#
# which is $\approx -1$ where the original is $\approx 0$. Both push the logit of a fake up,
# and both stop pushing only where $D$ can no longer tell, so the fixed point of the game is
# the same; only the strength of the push differs. The package calls them
# `g_loss(..., kind="minimax")` and `kind="nonsaturating"`; we check the two derivatives
# against autograd.

# %%
logit = torch.linspace(-10, 10, 401, dtype=torch.float64, requires_grad=True)
d_of_fake = torch.sigmoid(logit).detach()
slope = {kind: torch.autograd.grad(gan.g_loss(logit, kind) * len(logit), logit)[0]   # per-sample derivative
         for kind in gan.LOSS_KINDS}
torch.testing.assert_close(slope["minimax"], -d_of_fake)
torch.testing.assert_close(slope["nonsaturating"], -(1 - d_of_fake))
for d in (0.5, 0.1, 1e-2, 1e-4):
    i = (d_of_fake - d).abs().argmin()
    print(f"D(G(z)) = {d_of_fake[i].item():.1e}: |d loss / d logit| minimax {slope['minimax'][i].abs().item():.1e}, "
          f"non-saturating {slope['nonsaturating'][i].abs().item():.2f}")

# %% [markdown]
# Now the real thing, on digits. Two DCGANs (the architecture of section 4, at width 32),
# the same seed, the same start and the same batches, trained for `SAT_STEPS` updates:
# one with the minimax generator loss, one with the non-saturating loss. `gan.gan_step`
# does one update of $D$ and one of $G$ and reports, among other things, $D$'s mean
# belief on the fakes and the norm of $G$'s whole gradient. (The helper `run_gan` below
# builds, initializes and trains a pair; we will reuse it for the live run and for
# section 8.)

# %%
SMALL = gan.GANConfig(g_width=32, d_width=32)          # the experiments' size; the shipped GANs are wider


def dcgan_init(model):
    """DCGAN's initialization (Radford et al. 2016): convolution weights N(0, 0.02^2),
    batch-norm scales N(1, 0.02^2), biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def run_gan(steps, kind="nonsaturating", g_lr=2e-4, d_lr=2e-4, config=SMALL, minutes=None,
            callback=None, every=100, seed=0, desc="GAN"):
    """A DCGAN pair built from `config`, trained with Adam (betas 0.5, 0.999; DCGAN's) on
    batches of 64 grey training digits, one D update per G update (`gan.gan_step`).
    callback(step, history, G) every `every` updates. Returns (G, D, history), in eval mode."""
    runtime.seed(seed)
    G, D = dcgan_init(gan.Generator(config).to(DEVICE)), dcgan_init(gan.Discriminator(config).to(DEVICE))
    g_opt = torch.optim.Adam(G.parameters(), lr=g_lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=d_lr, betas=(0.5, 0.999))
    noise = torch.Generator().manual_seed(seed + 1)

    def step_fn(batch):
        x, y = batch
        return gan.gan_step(G, D, g_opt, d_opt, x, y if config.n_classes else None, kind=kind,
                            generator=noise)

    def report(step, history):
        G.eval()
        callback(step, history, G)
        G.train()

    history = train.fit(step_fn, data.batches(train_set, 64, seed=seed), steps=steps, minutes=minutes,
                        callback=None if callback is None else report, every=every, desc=desc)
    return G.eval(), D.eval(), history


def fixed_samples(G, n, seed=5):
    """n samples of G from a fixed seed, in chunks of 500: (n, 1, 28, 28) in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([G.sample(min(500, n - i), generator=gen) for i in range(0, n, 500)])


saturation = {kind: run_gan(SAT_STEPS, kind=kind, desc=kind) for kind in ("minimax", "nonsaturating")}
print(f"{SAT_STEPS} updates per run on {runtime.describe()}")
print(f"{'G loss':>14} {'|grad G|, updates 1-20':>23} {'last 50':>8} {'D(G(z)), last 50':>17} "
      f"{'D(x), last 50':>14} {'FID-MNIST':>10}")
sat_samples = {}
for kind, (G_k, _, hist) in saturation.items():
    sat_samples[kind] = fixed_samples(G_k, N_MONITOR)
    grad = hist.losses["g_grad_norm"]
    print(f"{kind:>14} {sum(grad[:20]) / 20:>23.3g} {hist.last('g_grad_norm', 50):>8.3g} "
          f"{hist.last('d_fake', 50):>17.3g} {hist.last('d_real', 50):>14.3f} "
          f"{metrics.fid_mnist(sat_samples[kind]):>10.0f}")
mm, ns = (saturation[k][2] for k in ("minimax", "nonsaturating"))
print(f"at the end, G's gradient is {ns.last('g_grad_norm', 50) / mm.last('g_grad_norm', 50):.0f} times "
      f"larger with the non-saturating loss; the minimax run's gradient fell "
      f"{sum(mm.losses['g_grad_norm'][:20]) / 20 / mm.last('g_grad_norm', 50):.0f}-fold from its first 20 updates "
      f"(FID-MNIST on {N_MONITOR} samples each)")

# %%
fig = Figure(figsize=(12, 6.4), layout="constrained")
panels = fig.subplot_mosaic([["loss", "grad", "fake"], ["loss", "mm", "ns"]])
d_axis = d_of_fake.numpy()
for kind, style in (("minimax", "-"), ("nonsaturating", "--")):
    panels["loss"].semilogx(d_axis, slope[kind].abs().numpy(), style, label=f"{kind}: |d loss / d logit|")
panels["loss"].set(xlabel="D(G(z)), the judge's belief that a fake is real", ylabel="|derivative| per sample",
                   title="the generator's push, by how well it is doing")
panels["loss"].legend(fontsize=8)
for kind, (_, _, hist) in saturation.items():
    panels["grad"].semilogy(hist.losses["g_grad_norm"], label=kind)
    panels["fake"].semilogy(hist.losses["d_fake"], label=kind)
panels["grad"].set(xlabel="update", ylabel="norm of G's gradient", title="G's gradient during training")
panels["fake"].set(xlabel="update", ylabel="mean D(G(z)) on the batch", title="the judge's belief in the fakes")
for name in ("grad", "fake"):
    panels[name].legend(fontsize=8)
for name, kind in (("mm", "minimax"), ("ns", "nonsaturating")):
    plot.grid(sat_samples[kind][:36], nrow=6, ax=panels[name], title=f"{kind}: samples after {SAT_STEPS} updates")
fig.suptitle("experiment 1: the same GAN with two generator losses")
fig

# %% [markdown]
# The two runs start identically, and within a few dozen updates they part ways. With the
# minimax loss the judge quickly becomes sure that every fake is fake ($D(G(z))$ heads
# towards 0), and exactly then the generator's gradient collapses: the printed ratio is
# how far it fell. That generator is stuck on a plateau of its own loss, and its samples
# stay noise. The judge of the non-saturating run is nearly as sure for a while (its
# $D(G(z))$ dips to a few percent too), but there the same confidence produces a *large*
# gradient: the generator keeps learning, and after the same number of updates its
# samples already have the outlines of digits (FID-MNIST above, lower is better). Every GAN from here on uses the non-saturating loss; the discriminator's
# loss never changes.

# %% [markdown]
# ## 4 · Build: a DCGAN, by the rules on the slide
#
# The first GANs used fully connected networks and were hard to train on anything but
# small images. Radford et al. (2016) found a convolutional recipe that trains reliably,
# and Mansimov's slide lists its rules:
#
# > - Replace any pooling layers with strided convolutions (discriminator) and
# >   fractional-strided convolutions (generator).
# > - Use batchnorm in both the generator and the discriminator.
# > - Remove fully connected hidden layers for deeper architectures.
# > - Use ReLU activation in generator for all layers except for the output, which uses Tanh.
# > - Use LeakyReLU activation in the discriminator for all layers.
# >
# > (Mansimov, "Generating Images with Neural Networks", after Radford et al. 2016)
#
# The paper adds two details: no batchnorm on the generator's output layer or the
# discriminator's input layer, and images scaled to $[-1, 1]$ to match the tanh. The
# package's `gan.Generator` and `gan.Discriminator` are a DCGAN for 28x28 digits. Here they
# are, at the width of our experiments, followed by the shape of the signal after every
# layer, and each rule checked against the modules rather than taken on trust.

# %%
G_demo, D_demo = gan.Generator(SMALL), gan.Discriminator(SMALL)
print(G_demo)
print(D_demo)


def shapes(net, h):
    """The shape of h after every layer of the nn.Sequential `net`."""
    out = []
    for layer in net:
        h = layer(h)
        out.append(f"{type(layer).__name__} -> {tuple(h.shape[1:])}")
    return out


with torch.no_grad():
    print("\nG: z (1, 100, 1, 1) ->\n  " + "\n  ".join(shapes(G_demo.net, torch.randn(1, 100, 1, 1))))
    print("D: image (1, 1, 28, 28) ->\n  " + "\n  ".join(shapes(D_demo.net, torch.zeros(1, 1, 28, 28))))

# %%
def of(net, *kinds):
    return [m for m in net.modules() if isinstance(m, kinds)]


g_layers, d_layers = list(G_demo.net), list(D_demo.net)
g_convs, d_convs = of(G_demo, nn.ConvTranspose2d), of(D_demo, nn.Conv2d)
rules = {
    "no pooling layers anywhere": not of(G_demo, nn.MaxPool2d, nn.AvgPool2d) and not of(D_demo, nn.MaxPool2d, nn.AvgPool2d),
    "D downsamples by strided convolutions (stride 2)": [c.stride for c in d_convs[:-1]] == [(2, 2)] * (len(d_convs) - 1),
    "G upsamples by fractional-strided (transposed, stride 2) ones": [c.stride for c in g_convs[1:]] == [(2, 2)] * (len(g_convs) - 1),
    "batchnorm in G and in D": bool(of(G_demo, nn.BatchNorm2d)) and bool(of(D_demo, nn.BatchNorm2d)),
    "... but not on G's output nor on D's input layer": (isinstance(g_layers[-1], nn.Tanh)
                                                         and isinstance(g_layers[-2], nn.ConvTranspose2d)
                                                         and not isinstance(d_layers[1], nn.BatchNorm2d)),
    "ReLU in G, tanh on its output": (all(isinstance(m, nn.ReLU) for m in g_layers[:-1] if not isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d)))
                                      and isinstance(g_layers[-1], nn.Tanh)),
    "LeakyReLU in D": all(isinstance(m, nn.LeakyReLU) for m in d_layers if not isinstance(m, (nn.Conv2d, nn.BatchNorm2d))),
    "no fully connected (nn.Linear) layers": not of(G_demo, nn.Linear) and not of(D_demo, nn.Linear),
}
for rule, holds in rules.items():
    print(f"{'holds' if holds else 'BROKEN':>6}  {rule}")
print(f"parameters: G {sum(p.numel() for p in G_demo.parameters()):,}, "
      f"D {sum(p.numel() for p in D_demo.parameters()):,} at width {SMALL.g_width}; the shipped DCGAN's widths: "
      f"G {gan.RECIPES['gan']['config'].g_width}, D {gan.RECIPES['gan']['config'].d_width}")

# %% [markdown]
# Two layers deserve a word. $G$'s first layer is a 7x7 transposed convolution applied to
# $z$ seen as a 1x1 image with 100 channels: it *projects* the noise onto a 7x7 map, which
# is what the DCGAN paper's first layer does too (it is a matrix multiplication, but
# its output is already an image, so there is no fully connected *hidden* layer).
# Likewise $D$'s last layer, a 7x7 convolution to one number, reads the final 7x7 map out
# into a single logit. Everything in between is local and shared across positions, the
# lesson of chapter 02.
#
# Note too that $D$ returns a **logit** $\ell$, not a probability. Then
# $\log D = \log\sigma(\ell) = -\operatorname{softplus}(-\ell)$ and
# $\log(1 - D) = -\operatorname{softplus}(\ell)$, which stay finite for any logit, whereas
# computing $\sigma(\ell)$ first and taking its log breaks down once the judge is very
# sure. We write both losses the direct way, from the formulas of sections 2 and 3, check
# them against the package on ordinary logits, and then count where the direct way fails.

# %%
def my_d_loss(real_logits, fake_logits):
    """-V for D: -(mean log D(x) + mean log(1 - D(G(z)))), written as in the paper."""
    return -(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())


def my_g_loss(fake_logits, kind="nonsaturating"):
    """G's loss: minimax E[log(1 - D(G(z)))], or non-saturating -E[log D(G(z))]."""
    d = torch.sigmoid(fake_logits)
    return torch.log(1 - d).mean() if kind == "minimax" else -torch.log(d).mean()


real_logits, fake_logits = 3 * torch.randn(64, generator=GEN), 3 * torch.randn(64, generator=GEN)
torch.testing.assert_close(my_d_loss(real_logits, fake_logits), gan.d_loss(real_logits, fake_logits))
for kind in gan.LOSS_KINDS:
    torch.testing.assert_close(my_g_loss(fake_logits, kind), gan.g_loss(fake_logits, kind))
print("my_d_loss = gan.d_loss and my_g_loss = gan.g_loss (both kinds) on logits ~ N(0, 3^2)")
print(f"{'logit':>7} {'my_g_loss (ns)':>15} {'gan.g_loss (ns)':>16} {'my_d_loss as fake':>18} {'gan.d_loss':>11}")
for big in (5.0, 20.0, 50.0, 100.0):
    l = torch.tensor([-big])                                # a fake the judge is sure about
    print(f"{-big:>7g} {my_g_loss(l).item():>15.4g} {gan.g_loss(l).item():>16.4g} "
          f"{my_d_loss(torch.tensor([big]), torch.tensor([big])).item():>18.4g} "
          f"{gan.d_loss(torch.tensor([big]), torch.tensor([big])).item():>11.4g}")

# %% [markdown]
# On ordinary logits the two versions agree. Where the judge is sure, they do not: in
# float32, $\sigma(-100)$ rounds to 0 and its log to $-\infty$, so the direct generator
# loss becomes infinite (and its gradient useless) exactly in the situation section 3 cared
# about, while the softplus form gives the true value, about 100. (The fourth column scores
# a fake with logit $+\ell$, which the judge wrongly believes real: $1 - \sigma(\ell)$
# rounds to 0 even sooner.) The package's versions are the same formulas, written to
# survive a confident judge.
#
# ## 5 · Experiment: a live run, and how to watch a GAN train
#
# *Strategy: experiment, and measure what matters.* We train a DCGAN at width 32 from
# scratch with DCGAN's settings (Adam at $2 \times 10^{-4}$ with $\beta_1 = 0.5$, batches
# of 64, the initialization above), through `train.fit` with `gan.gan_step` as the step,
# for `LIVE_MINUTES`. The progress bar shows $D$'s loss. A GAN's losses are famously hard
# to read, so we also keep a **monitor**: every `SNAP_EVERY` updates a callback draws 16
# digits from the same fixed noise and measures FID-MNIST on `N_MONITOR` fresh samples.
# (FID-MNIST from 1,000 samples sits above the value for 10,000, by a roughly constant
# amount; it is fine for watching a trend, not for comparing with the tables below.)

# %%
monitor = []                                        # (step, 16 samples from fixed noise, FID-MNIST)
z_watch = torch.randn(16, SMALL.z_dim, generator=GEN)


def watch(step, history, G):
    monitor.append((step, G.sample(16, z=z_watch.to(DEVICE)).cpu(),
                    metrics.fid_mnist(fixed_samples(G, N_MONITOR, seed=step))))


live_G, live_D, live_hist = run_gan(LIVE_STEPS, minutes=LIVE_MINUTES, callback=watch, every=SNAP_EVERY,
                                    desc="live DCGAN")
print(f"live run: {live_hist.steps} updates of D and of G ({live_hist.steps * 64 / len(train_set):.2f} "
      f"epochs, stopped by {live_hist.stopped_by}) in {live_hist.seconds:.0f} s on {runtime.describe()}")
print(f"FID-MNIST ({N_MONITOR} samples): {monitor[0][2]:.0f} at update {monitor[0][0]}, "
      f"{monitor[-1][2]:.0f} at update {monitor[-1][0]}")

# %%
steps_m = [s for s, _, _ in monitor]
fid_m = [f for _, _, f in monitor]
fig = Figure(figsize=(13, 3.8), layout="constrained")
ax_loss, ax_d, ax_fid = fig.subplots(1, 3)
plot.loss_curves(live_hist, keys=["d_loss", "g_loss"], smooth=0.95, ax=ax_loss, title="the two losses")
ax_loss.set_ylabel("loss (nats)")
plot.loss_curves(live_hist, keys=["d_real", "d_fake"], smooth=0.95, ax=ax_d, title="D(x) and D(G(z))")
ax_d.set(ylabel="mean belief 'real' on the batch", ylim=(0, 1))
ax_fid.plot(steps_m, fid_m, "o-")
ax_fid.set(xlabel="step", ylabel=f"FID-MNIST ({N_MONITOR} samples)", yscale="log",
           title="what the judge of the course sees")
fig.suptitle(f"the training monitor of the live run: {live_hist.steps} updates in {live_hist.seconds:.0f} s")
fig

# %%
forming = widgets.FrameScrubber([frames for _, frames, _ in monitor],
                                titles=[f"{s} updates, FID-MNIST {f:.0f}" for s, _, f in monitor],
                                label="snapshot", scale=3, nrow=4)
forming

# %%
forming.strip(max_frames=5, title="the live run's samples from fixed noise, as training goes on")

# %% [markdown]
# Read the monitor from left to right. In the first few hundred updates the judge wins
# outright ($D(G(z))$ dives towards 0 and $G$'s loss shoots up), then the generator
# catches up; after that the losses settle at a level and stay there, apart from the odd
# jolt, and $D(x)$ and $D(G(z))$ hover, each on its side of one half. Meanwhile the samples
# (the scrubber) go from noise to blobs to recognisable digits, and FID-MNIST keeps
# falling. The cell below puts numbers on the mismatch: the mean of each curve over an
# early window (from a tenth to a fifth of the run) and over the last tenth, and FID-MNIST
# at the same two moments.

# %%
def window_mean(values, lo, hi):
    part = values[lo:hi]
    return sum(part) / len(part)


n_live = live_hist.steps
early, late = (n_live // 10, n_live // 5), (n_live - n_live // 10, n_live)
for key in ("d_loss", "g_loss", "d_real", "d_fake"):
    a, b = window_mean(live_hist.losses[key], *early), window_mean(live_hist.losses[key], *late)
    print(f"{key:>7}: mean over updates {early[0]}-{early[1]} {a:.3f}, over the last {n_live // 10}: "
          f"{b:.3f} ({(b - a) / abs(a):+.0%})")
mid = min(range(len(monitor)), key=lambda i: abs(monitor[i][0] - early[1]))
print(f"FID-MNIST at update {monitor[mid][0]}: {monitor[mid][2]:.0f}; at the end: {monitor[-1][2]:.0f} "
      f"({monitor[-1][2] / monitor[mid][2]:.2f} times)")

# %% [markdown]
# In our full run the losses moved by some tens of percent, and not in a telling
# direction ($D$'s loss went *up*), while FID-MNIST fell by more than half. The game has
# no "loss that goes down": $D$'s loss measures how well the judge is doing *against the
# current generator*, and both keep improving, so a flat or even rising loss can hide
# steady progress (or, as section 8 shows, a collapse). That is why GAN papers show
# samples, and why the course measures them: FID-MNIST falls while the losses stay put.
# Mansimov's slide makes the same point in its list of issues: even with the DCGAN tricks,
# training can be unstable and one has to monitor the samples carefully.
#
# ### The shipped DCGAN
#
# Two minutes at width 32 is a start. The course's shipped generator is the same
# architecture with wider layers, trained with the recipe `gan.RECIPES["gan"]` (printed
# below), with one addition: the generator we keep is an **exponential moving average** of
# $G$'s weights over training, which smooths out the last wobbles of the game. On a CPU the
# notebook loads it; on a GPU it trains the recipe itself.

# %%
G_ship = dj.pretrained("gan") if runtime.use_pretrained() else gan.train_recipe("gan", epochs=1 if FAST else None)[0]
G_ship = G_ship.to(DEVICE).eval()
ship_info = getattr(G_ship, "checkpoint_info", {"metrics": {}, "provenance": {}})
print(f"recipe: {gan.RECIPES['gan']}")
print("recorded: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in ship_info["metrics"].items()))
print(f"made by: {ship_info['provenance'].get('command', 'this notebook')}")

vae_model = dj.pretrained("vae") if runtime.use_pretrained() else vae.train_recipe("vae", epochs=1 if FAST else None)[0]
vae_model = vae_model.to(DEVICE).eval()
gan_grid = G_ship.sample(64, generator=torch.Generator().manual_seed(1))
vae_grid = vae_model.sample(64, generator=torch.Generator().manual_seed(1))


def grey_share(images):
    """Share of the inked pixels (> 0.1) that are grey (< 0.9), as in chapters 04 and 05."""
    return (((images > 0.1) & (images < 0.9)).sum() / (images > 0.1).sum()).item()


print("grey among inked pixels, 1,000 images each: " + ", ".join(
    f"{name} {grey_share(images):.0%}" for name, images in (
        ("grey test digits", test.images[:1_000]), ("VAE", fixed_samples(vae_model, 1_000)),
        ("DCGAN", fixed_samples(G_ship, 1_000)))))
fig = Figure(figsize=(12, 5.6), layout="constrained")
ax_vae, ax_gan = fig.subplots(1, 2)
plot.grid(vae_grid, nrow=8, ax=ax_vae, title="chapter 04's VAE (decoder means)")
plot.grid(gan_grid, nrow=8, ax=ax_gan, title="the shipped DCGAN")
fig.suptitle("64 samples each, from noise alone")
fig

# %% [markdown]
# The difference is the one this chapter set out to make. The VAE's digits have soft grey
# rims, the pixel score's hedge; the GAN's strokes have the crisp edges of the training
# digits, because the judge would catch a halo. The printed shares put a number on it:
# MNIST's own digits are grey-edged too (they were scanned and smoothed), and the GAN's
# share of grey pixels is close to theirs, while the VAE's is well above both. Not every
# GAN sample is a good digit: some are odd shapes that no writer would make. A GAN is never
# told to *cover* the data, only to be hard to tell apart from it; section 10 measures
# both quality and coverage.

# %% [markdown]
# ### Diagnose: the digits in between
#
# Which samples are the odd ones, and why does the GAN make them? The judge can say how sure
# it is: its top class probability. Real digits almost always convince it. We count the
# samples whose top probability is below 0.9, for real test digits and for the shipped
# DCGAN.

# %%
judge_net = judge.judge(DEVICE)


def top_probability(images):
    """The judge's probability of its own best guess, one per image."""
    with torch.no_grad():
        return judge_net.logits(images).softmax(-1).max(-1).values


unsure_real = (top_probability(test.images[:N_FID]) < 0.9).float().mean().item()
gan_fixed = fixed_samples(G_ship, N_FID)
unsure_gan = (top_probability(gan_fixed) < 0.9).float().mean().item()
print(f"judge unsure (top probability < 0.9): real test digits {unsure_real:.1%}, "
      f"shipped DCGAN {unsure_gan:.1%} ({unsure_gan / unsure_real:.0f} times as often), "
      f"{N_FID:,} images each")

# %% [markdown]
# A sizeable share of the GAN's samples sit between digits. Here is a guess at why, and an
# experiment that tests it. The generator is a *continuous* function of $z$, and $z$ comes
# from one Gaussian: a single connected cloud. The data are ten islands, one per digit,
# with almost nothing in between. A continuous map of a connected cloud has a connected
# image, so if $G$ draws a 3 at $z_0$ and a 7 at $z_1$, every path from $z_0$ to $z_1$
# must pass through images that are neither. The generator can make these crossings
# narrow (a steep change over a small region of $z$), but it cannot remove them, and
# the probability mass that lands there is what the judge sees as odd digits.
#
# The test: take pairs of codes whose samples the judge is sure of (top probability
# above 0.99) *and* that are of different classes, walk from one to the other along the
# great circle (`gan.slerp`, section 7 says why not a straight line), and record the
# judge's confidence along the way. If the guess is right, the confidence must dip
# somewhere on every path. As a control, pairs of the *same* class.

# %%
def confidence_along_paths(G, same_class, n_steps=21, seed=5):
    """The judge's top probability along slerp paths between pairs of confidently judged
    samples of different (or the same) class: (n_steps, pairs)."""
    z = torch.randn(N_PATHS * 8, G.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    with torch.no_grad():
        probs = judge_net.logits(G.sample(len(z), z=z)).softmax(-1)
    conf, cls = probs.max(-1)
    sure = (conf > 0.99).nonzero().flatten()
    if same_class:                                   # neighbours once sorted by class
        sure = sure[cls[sure].argsort(stable=True)]
    first, second = sure[0:-1:2], sure[1::2]
    keep = (cls[first] == cls[second]) if same_class else (cls[first] != cls[second])
    first, second = first[keep][:N_PATHS], second[keep][:N_PATHS]
    t = torch.linspace(0, 1, n_steps, device=DEVICE)
    path = gan.slerp(z[first], z[second], t)                                # (steps, pairs, z_dim)
    with torch.no_grad():
        images = G.sample(path.shape[0] * path.shape[1], z=path.reshape(-1, G.config.z_dim))
    return t.cpu(), top_probability(images).view(n_steps, -1).cpu(), images.view(n_steps, -1, 1, 28, 28)


t_path, conf_diff, path_images = confidence_along_paths(G_ship, same_class=False)
_, conf_same, _ = confidence_along_paths(G_ship, same_class=True)
for name, conf in (("different classes", conf_diff), ("same class", conf_same)):
    lowest = conf.min(0).values
    print(f"{name:>17}: {conf.shape[1]} paths; lowest confidence on a path: median "
          f"{lowest.median():.2f}; paths that dip below 0.9: {(lowest < 0.9).float().mean():.0%}")

fig = Figure(figsize=(12, 4.2), layout="constrained")
ax_curve, ax_strip = fig.subplots(1, 2, width_ratios=[1, 1.4])
bins = torch.linspace(0, 1, 21)
for name, conf, color in (("ends of different classes", conf_diff, "C3"),
                          ("ends of the same class", conf_same, "C0")):
    ax_curve.hist(conf.min(0).values, bins=bins, color=color, alpha=0.6, label=name,
                  weights=torch.full((conf.shape[1],), 1 / conf.shape[1]))
ax_curve.set(xlabel="lowest top probability of the judge along the path",
             ylabel="share of paths", title="how unsure the judge gets on the way")
ax_curve.legend(loc="upper left")
show = path_images[::2, :6].transpose(0, 1).reshape(-1, 1, 28, 28).cpu()
ax_strip.imshow(plot.to_grid(show, nrow=path_images[::2].shape[0]), cmap="gray", vmin=0, vmax=1)
ax_strip.set(title="six paths between digits of different classes (t = 0 to 1, left to right)",
             xticks=[], yticks=[])
fig.suptitle("diagnose: a continuous generator must cross the gaps between the digits")
fig

# %% [markdown]
# Between digits of different classes almost every path passes through an image the judge
# is unsure of (the printed share), often one it gives barely more than even odds; between
# two digits of the same class the judge stays sure all the way. On the strips you can
# watch the crossings: a stroke bends, opens or closes, and for a few steps the image is
# neither digit. The odd samples are not random failures: they are the crossings the
# geometry forces on a generator of one connected cloud. Two ways out: give $z$ a discrete
# part so that $G$ can *jump* (a mixture prior, as in DeLiGAN, or InfoGAN's categorical
# code: an exercise), or give it the jump from outside, as the label. The second is
# exactly what chapter 00 asked for.

# %% [markdown]
# ## 6 · The original problem: label in, digit out, with a conditional GAN
#
# Chapter 00 set the goal: $y = f(x, \theta, Z)$, a function that takes a label $x$ and
# noise $Z$ and draws a digit of that class, different every time $Z$ changes. Chapter
# 01's MLP with squared error drew one blurry class mean per label and ignored $Z$.
# Chapter 04's conditional VAE used both. A **conditional GAN** (Mirza & Osindero 2014)
# gives the label to both players: $G(z, y)$ must draw a digit of class $y$, and
# $D(x, y)$ judges whether $x$ is a real example *of class $y$*. A fake of the wrong class
# is then easy to catch, so the generator must obey the label; and a generator that
# ignored $z$ would draw one image per label, which the judge learns to recognise, so it
# must use the noise too. In the package, $G$ appends a learned 16-number embedding of
# the label to $z$, and $D$ reads a learned 28x28 "label plane" as a second input channel
# (`gan.GANConfig(n_classes=10)`). The value function and both losses are unchanged, with
# $y$ passed to both networks.
#
# We compare three answers to the original problem: chapter 01's paired MLP (trained here
# again at 28x28 as chapter 04 did, but on grey digits, the data of the GANs), chapter
# 04's conditional VAE, and the shipped conditional GAN.

# %%
cgan = dj.pretrained("cgan") if runtime.use_pretrained() else gan.train_recipe("cgan", epochs=1 if FAST else None)[0]
cgan = cgan.to(DEVICE).eval()
cgan_info = getattr(cgan, "checkpoint_info", {"metrics": {}, "provenance": {}})
print("conditional GAN recorded: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in cgan_info["metrics"].items()))
cvae = dj.pretrained("cvae") if runtime.use_pretrained() else vae.train_recipe("cvae", epochs=1 if FAST else None)[0]
cvae = cvae.to(DEVICE).eval()

runtime.seed(0)
mlp28 = mlp.MLPGenerator(mlp.MLPConfig(image_size=28)).to(DEVICE)
mlp_opt = torch.optim.Adam(mlp28.parameters(), lr=2e-3)
mlp_hist = train.fit(mlp.make_step(mlp28, mlp_opt, pair_labels=True), data.batches(train_set, 256, seed=0),
                     steps=MLP_STEPS, desc="paired MLP, 28x28")
mlp28.eval()
print(f"paired MLP: {mlp_hist.steps} steps in {mlp_hist.seconds:.0f} s, final MSE "
      f"{mlp_hist.last(n=100):.4f} on {runtime.describe()}")

# %%
def show_tiled(ax, images, nrow, row_labels, col_labels, xlabel, ylabel, title):
    """Tile images (N, 1, H, W) on ax, nrow per row, with tick labels at the tiles' centres."""
    ax.imshow(plot.to_grid(images, nrow=nrow), cmap="gray", vmin=0, vmax=1)
    size = images.shape[-1] + 1                                          # a tile and its 1-px gap
    ax.set_xticks([size * j + size / 2 - 1 for j in range(len(col_labels))], col_labels, fontsize=7)
    ax.set_yticks([size * i + size / 2 - 1 for i in range(len(row_labels))], row_labels, fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)


row_labels = torch.arange(10, device=DEVICE).repeat_interleave(10)
conditional = {
    "chapter 01's paired MLP (MSE), 28x28": lambda y, z: mlp28.sample(y, z),
    "chapter 04's conditional VAE": lambda y, z: cvae.sample(len(y), labels=y, z=z),
    "the conditional GAN": lambda y, z: cgan.sample(len(y), labels=y, z=z),
}
z_dims = {name: net.config.z_dim for name, net in zip(conditional, (mlp28, cvae, cgan))}
fig = Figure(figsize=(15, 5.6), layout="constrained")
cols = [f"z{j + 1}" for j in range(10)]
for ax, (name, draw) in zip(fig.subplots(1, 3), conditional.items()):
    z_cols = torch.randn(10, z_dims[name], generator=GEN).to(DEVICE)
    with torch.no_grad():
        images = draw(row_labels, z_cols.repeat(10, 1)).cpu()
    show_tiled(ax, images, 10, list(range(10)), cols, "noise (the same down a column)", "label asked for", name)
fig.suptitle("label in, digit out: rows ask for 0-9, columns change the noise")
fig

# %% [markdown]
# Left, chapter 01's failure at 28x28: each row is one blurred image ten times. Middle, the
# conditional VAE: the right digits in varied styles, with soft edges. Right, the
# conditional GAN: the right digits, varied, and sharp. In both latent-variable models a
# column tends to keep something of a style across labels (the same noise gives a similar
# slant or weight to a 0 as to a 7), a sign that the label says *what* and the noise says
# *how*.
#
# The numbers, with the instruments of chapters 01 and 04: the judge's **label accuracy**
# on `N_FID` samples asked for the test set's labels; the per-pixel standard deviation
# **across labels** at a fixed noise vector and **across noise** at a fixed label, each
# averaged over pixels (`N_Z` noise vectors per label), next to the same spreads of real
# grey training digits (across the class means; within each class); and FID-MNIST on the
# same samples. The reference row is `N_FID` real *training* digits: FID-MNIST's reference
# statistics come from the test set, so test digits would be compared with themselves.

# %%
def spreads(draw, z_dim, seed=1):
    """Chapter 01's probe: out[k, j] = draw(label k, code z_j) for N_Z shared codes.
    Returns (spread across labels at fixed z, spread across z at fixed label), per-pixel sd
    averaged over pixels and over the other index."""
    z = torch.randn(N_Z, z_dim, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    with torch.no_grad():
        out = torch.stack([draw(torch.full((N_Z,), k, device=DEVICE), z) for k in range(10)])
    return out.std(0).mean().item(), out.std(1).mean().item()


def draw_in_chunks(draw, labels, z_dim, seed=2):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([draw(y, torch.randn(len(y), z_dim, generator=gen).to(DEVICE))
                          for y in labels.split(500)])


class_means = torch.stack([train_set.images[train_set.labels == k].mean(0) for k in range(10)])
within = torch.stack([train_set.images[train_set.labels == k].std(0) for k in range(10)])
real_labels, real_z = class_means.std(0).mean().item(), within.mean().item()
asked = test.labels[:N_FID]
rows = {"real training digits (grey)": (train_set.images[:N_FID], train_set.labels[:N_FID], real_labels, real_z)}
for name, draw in conditional.items():
    rows[name] = (draw_in_chunks(draw, asked, z_dims[name]), asked, *spreads(draw, z_dims[name]))
print(f"Table 1 · label in, digit out; {N_FID:,} samples per row for the judge and FID-MNIST, "
      f"{N_Z} codes per label for the spreads (28x28)")
print(f"{'':>38} {'judge acc.':>10} {'across labels':>14} {'ratio':>6} {'across z':>9} {'ratio':>6} "
      f"{'FID-MNIST':>10}")
table1 = {}
for name, (images, labels, across_labels, across_z) in rows.items():
    table1[name] = (metrics.label_accuracy(images, labels), across_labels, across_z, metrics.fid_mnist(images))
    acc, _, _, fid = table1[name]
    print(f"{name:>38} {acc:>10.3f} {across_labels:>14.4f} {across_labels / real_labels:>6.2f} "
          f"{across_z:>9.4f} {across_z / real_z:>6.2f} {fid:>10.1f}")
print("(ratio: the model's spread over the real digits' spread; across labels = sd of the 10 class "
      "means, across z = sd within a class)")

# %%
print(f"judge unsure (top probability < 0.9) on the same samples; the unconditional DCGAN: "
      f"{unsure_gan:.1%}")
for name, (images, *_) in rows.items():
    print(f"{name:>38}: {(top_probability(images) < 0.9).float().mean().item():.1%}")

# %% [markdown]
# What we measured (the table is the record):
#
# - **The label.** All three models draw the asked digit most of the time; the MLP's class
#   means score high because a class mean is the most typical image of its class (chapters
#   01 and 04 found the same). Label accuracy alone cannot tell one typical 3 from every
#   kind of 3.
# - **The noise.** The MLP's spread across $z$ is a few percent of the real within-class
#   spread: $z$ does nothing. Both latent-variable models use it. The GAN's ratio is the
#   closer to 1, since its samples have the sharp, full-contrast strokes of real digits,
#   while the VAE's are smoothed means.
# - **The spread across labels** of a sharp model lands *above* the real reference, and
#   that is no fault: the reference is the spread of the ten blurred class means, while a
#   sample-drawing model shows ten individual sharp digits at each $z$, which differ from
#   each other more than averages do. Only the MLP, which draws the class means, sits at
#   the reference.
# - **FID-MNIST**, which rewards both quality and variety, ranks the three the same way
#   the pictures do. The conditional GAN's value is the lowest of the models by far, and
#   in our full run it came within a fraction of a point of the real training digits'
#   own: to the judge's features, its samples are nearly indistinguishable from new real
#   digits.
# - **The digits in between.** Given the label, the GAN's share of samples that leave the
#   judge unsure drops from the unconditional DCGAN's to about that of real digits (the
#   second printout): the label supplies the jump between the islands that a continuous
#   map of one Gaussian cannot make, which is the diagnosis of section 5 confirmed.
#
# ## 7 · Exploring the generator
#
# ### Sliders for a fixed label
#
# A GAN has no encoder, so no latent dimension is special a priori: all 100 noise numbers
# enter $G$ the same way. Which ones does the conditional generator actually listen to?
# *Strategy: measure before choosing.* For each dimension $d$ we move $z_d$ from $-2$ to
# $+2$ with the other 99 fixed, for 32 random codes and all ten labels, and average how
# much the picture changes (mean absolute pixel difference). The sliders go on the six
# dimensions that move the picture most.

# %%
def sensitivity(G, n_codes=32, seed=3):
    """Mean |G(z with z_d = +2) - G(z with z_d = -2)| over pixels, codes and labels, per dim d: (z_dim,)."""
    z = torch.randn(n_codes * 10, G.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    labels = torch.arange(10, device=DEVICE).repeat(n_codes)
    out = []
    with torch.no_grad():
        for d in range(G.config.z_dim):
            lo, hi = z.clone(), z.clone()
            lo[:, d], hi[:, d] = -2.0, 2.0
            out.append((G.sample(len(z), labels=labels, z=hi) - G.sample(len(z), labels=labels, z=lo)).abs().mean())
    return torch.stack(out).cpu()


effect = sensitivity(cgan)
ranked = effect.argsort(descending=True).tolist()
print(f"mean pixel change from z_d = -2 to +2: largest {effect.max().item():.3f} (z[{ranked[0]}]), median "
      f"{effect.median().item():.3f}, smallest {effect.min().item():.3f} (z[{ranked[-1]}]); largest / smallest "
      f"{effect.max().item() / effect.min().item():.1f}")
print("the six with the largest effect: " + ", ".join(f"z[{d}] {effect[d].item():.3f}" for d in ranked[:6]))

z_slider0 = torch.randn(1, cgan.config.z_dim, generator=GEN).clamp(-2.5, 2.5).to(DEVICE)
latent_scrubber = widgets.LatentScrubber(
    lambda z, label: cgan.sample(z.shape[0], labels=[label] * z.shape[0], z=z), z_slider0,
    dims=ranked[:6], labels=range(10), label=4, value_range=(-3, 3), step=0.1, scale=5)
latent_scrubber

# %%
latent_scrubber.strip(dim=ranked[0], title=f"the conditional GAN, label 4: sweeping z[{ranked[0]}], the "
                                           f"dimension with the largest effect (the other 99 fixed)")

# %% [markdown]
# The effects are spread out: the strongest dimension moves the picture only a few times
# as much as the weakest, and no dimension is dead (compare chapter 04's VAE, which
# switched some of its latent numbers off entirely). A GAN has no KL term charging for each
# dimension it uses, so it has no reason to leave any idle. Moving one slider changes the
# slant, the width or the weight of the stroke, often several at once: as with the VAE,
# nothing asks the dimensions to mean separate things. The menu changes the digit and
# keeps the noise.
#
# ### The label selector
#
# The slider above is the label; the 16 digits are 16 fixed noise vectors, the same for
# every label, so each of the 16 positions keeps its style as the label changes.

# %%
z_sel = torch.randn(16, cgan.config.z_dim, generator=GEN).to(DEVICE)
label_frames = [cgan.sample(16, labels=[k] * 16, z=z_sel).cpu() for k in range(10)]
label_selector = widgets.FrameScrubber(label_frames, titles=[f"label {k}: 16 fixed noise vectors" for k in range(10)],
                                       label="label", scale=3, nrow=8)
label_selector

# %%
fig = Figure(figsize=(7, 8.4), layout="constrained")
show_tiled(fig.add_subplot(), torch.cat([frame[:8] for frame in label_frames]), 8, list(range(10)),
           [f"z{j + 1}" for j in range(8)], "noise vector (the same down a column)", "label",
           "the label selector's frames, one row per label (the first 8 of its 16 digits)")
fig

# %% [markdown]
# ### Walking between two codes: straight or round?
#
# To morph one sample into another, the obvious path is a straight line, $z_t = (1 - t)
# z_0 + t z_1$. In 100 dimensions it is a poor choice, and a measurement shows why: the
# norm of a standard Gaussian vector concentrates. $\lVert z \rVert^2$ is a sum of 100
# independent squares with mean 1, so $\lVert z \rVert \approx \sqrt{100} = 10$ with a
# spread of only about 0.7: the prior's samples live on a thin shell, and the generator
# was trained only on codes from that shell. Two independent codes are nearly orthogonal,
# so the midpoint of the straight line has norm about $10 / \sqrt 2 \approx 7$, far inside
# the shell, where the generator never trained. **Spherical interpolation** (slerp;
# Shoemake 1985, suggested for GANs by White 2016) walks along the great circle between
# the two directions instead, and here the norm changes linearly from $\lVert z_0 \rVert$
# to $\lVert z_1 \rVert$, so it stays on the shell. We write it and check it against
# `gan.slerp`.

# %%
def my_slerp(z0, z1, t):
    """Great-circle walk between the directions of z0 and z1 (D,), with the norm interpolated
    linearly: t (T,) -> (T, D)."""
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.acos((u0 @ u1).clamp(-1, 1))                     # the angle between the directions
    t = t[:, None]
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


t_path = torch.linspace(0, 1, 11)
z0, z1 = torch.randn(2, 100, generator=GEN)
torch.testing.assert_close(my_slerp(z0, z1, t_path), gan.slerp(z0, z1, t_path))
print("my_slerp = gan.slerp")
norms = torch.randn(100_000, 100, generator=GEN).norm(dim=1)
za, zb = torch.randn(N_PAIRS, 100, generator=GEN), torch.randn(N_PAIRS, 100, generator=GEN)
paths = {"straight line": (1 - t_path)[:, None, None] * za + t_path[:, None, None] * zb,   # (T, N_PAIRS, 100)
         "slerp": gan.slerp(za, zb, t_path)}
print(f"norm of 100,000 draws of N(0, I): mean {norms.mean().item():.2f}, sd {norms.std().item():.2f}, "
      f"1st-99th percentile {norms.quantile(0.01).item():.2f}-{norms.quantile(0.99).item():.2f}")
mid_labels = torch.arange(N_PAIRS, device=DEVICE) % 10
mid_fid = {}
for name, path in paths.items():
    mid = path[len(t_path) // 2]
    mid_samples = cgan.sample(N_PAIRS, labels=mid_labels, z=mid.to(DEVICE))
    mid_fid[name] = metrics.fid_mnist(mid_samples)
    print(f"{name:>13}: norm at t = 0.5 {mid.norm(dim=1).mean().item():.2f} (mean over {N_PAIRS} pairs); "
          f"the conditional GAN's midpoint samples: FID-MNIST {mid_fid[name]:.1f}, mean ink "
          f"{mid_samples.mean().item():.3f}")
end_samples = cgan.sample(N_PAIRS, labels=mid_labels, z=za.to(DEVICE))
mid_fid["endpoints"] = metrics.fid_mnist(end_samples)
print(f"{'endpoints':>13}: codes drawn from the prior: FID-MNIST {mid_fid['endpoints']:.1f}, mean ink "
      f"{end_samples.mean().item():.3f}")

# %%
fig = Figure(figsize=(12, 3.6), layout="constrained")
ax_n, ax_h = fig.subplots(1, 2)
for name, path in paths.items():
    norm_t = path.norm(dim=2)
    ax_n.plot(t_path, norm_t.mean(1), "o-", label=f"{name}: mean")
    ax_n.fill_between(t_path, norm_t.quantile(0.05, dim=1), norm_t.quantile(0.95, dim=1), alpha=0.2)
ax_n.axhspan(norms.quantile(0.01).item(), norms.quantile(0.99).item(), color="grey", alpha=0.2,
             label="1st-99th percentile of |z|, z ~ N(0, I)")
ax_n.set(xlabel="t along the path", ylabel="|z|", title=f"the norm along {N_PAIRS} paths (5-95% bands)")
ax_n.legend(fontsize=8)
ax_h.hist(norms.numpy(), bins=100, density=True, alpha=0.6, label="|z|, z ~ N(0, I)")
ax_h.hist(paths["straight line"][len(t_path) // 2].norm(dim=1).numpy(), bins=40, density=True, alpha=0.6,
          label="straight-line midpoints")
ax_h.set(xlabel="|z|", ylabel="density", title="where the prior's codes live, and the midpoints")
ax_h.legend(fontsize=8)
fig.suptitle("interpolating in 100 dimensions: the straight line leaves the shell, slerp does not")
fig

# %%
pair_z = torch.randn(2, 4, 100, generator=GEN)                  # four pairs of codes
pair_labels = torch.tensor([1, 3, 5, 7], device=DEVICE)
walk = {"line": (1 - t_path)[:, None, None] * pair_z[0] + t_path[:, None, None] * pair_z[1],
        "slerp": gan.slerp(pair_z[0], pair_z[1], t_path)}              # each (T, 4, 100)
walk_frames = [torch.cat([cgan.sample(4, labels=pair_labels, z=walk[k][i].to(DEVICE)) for k in ("line", "slerp")]).cpu()
               for i in range(len(t_path))]
walker = widgets.FrameScrubber(walk_frames, titles=[f"t = {t:.1f}: top row straight line, bottom row slerp"
                                                    for t in t_path.tolist()], label="t", scale=4, nrow=4)
walker

# %%
walk_table = torch.stack(walk_frames, dim=1)                   # (8 walks, T, 1, 28, 28)
fig = Figure(figsize=(10, 7.6), layout="constrained")
show_tiled(fig.add_subplot(), walk_table.reshape(-1, 1, 28, 28), len(t_path),
           [f"line, {k}" for k in pair_labels.tolist()] + [f"slerp, {k}" for k in pair_labels.tolist()],
           [f"{t:.1f}" for t in t_path.tolist()], "t", "path, label",
           "the walker's frames as a table: four walks by straight line (top) and by slerp (bottom)")
fig

# %% [markdown]
# The measurement confirms the geometry: the prior's codes have norms in a narrow band
# around 10, the straight line's midpoints fall well below it, and slerp's stay inside.
# Does the generator care? The midpoint samples say so (printed above): the straight
# line's come out several times further from real digits in FID-MNIST than slerp's, which
# are about as good as samples from the prior. It is not that they are fainter: the mean
# ink is about the same on both paths. To the eye the difference is hard to see in four
# walks (the table above); the judge's features, averaged over a thousand midpoints, pick
# it up clearly. A shorter code is a weaker input to the first layer, and
# the generator never saw one during training, so what it draws there is, in the judge's
# eyes, less like a real digit.

# %% [markdown]
# ## 8 · Experiment 2: mode collapse, on purpose
#
# *Strategy: diagnose by causing the failure.* Mansimov's slide lists a second issue: the
# generator "might get stuck at specific mode of data distribution", repeating the same
# picture. The game allows it: $G$ is only ever asked to fool the *current* judge, and the
# cheapest way to fool a judge that is slow to adapt is to find one picture it likes and
# draw it for every $z$. If $D$ then learns to reject that picture, $G$ can jump to
# another, and the two chase each other instead of converging.
#
# To make it happen we unbalance the game: the same small DCGAN as before, but the
# discriminator learns 50 times more slowly than the generator (Adam step sizes $2 \times
# 10^{-5}$ for $D$ and $10^{-3}$ for $G$). To fix it we restore the balance (DCGAN's
# $2 \times 10^{-4}$ for both). Both runs use the same seed and `COLLAPSE_STEPS` updates.
# Three measurements: the **class histogram** of `N_HIST` samples as the judge reads them
# (its entropy in bits, $\log_2 10 = 3.32$ for a uniform spread, and the top class's share),
# FID-MNIST, and chapter 01's **spread across $z$**, the per-pixel standard deviation of
# the samples averaged over pixels, which is 0 when every $z$ gives the same picture.

# %%
collapse_runs = {"unbalanced (D 50x slower)": dict(g_lr=1e-3, d_lr=2e-5),
                 "balanced (DCGAN's settings)": dict(g_lr=2e-4, d_lr=2e-4)}
collapse, coverage_trace = {}, {}


def track_coverage(name):
    """A run_gan callback recording (step, class-histogram entropy, spread across z) of 500 samples."""
    def callback(step, history, G):
        samples = fixed_samples(G, 500, seed=7)
        coverage_trace[name].append((step, metrics.class_histogram(samples).entropy_bits,
                                     samples.std(0).mean().item()))
    coverage_trace[name] = []
    return callback


for name, lrs in collapse_runs.items():
    G_c, _, hist_c = run_gan(COLLAPSE_STEPS, desc=name, callback=track_coverage(name),
                             every=max(COLLAPSE_STEPS // 10, 1), **lrs)
    samples_c = fixed_samples(G_c, N_HIST)
    collapse[name] = (samples_c, metrics.class_histogram(samples_c), metrics.fid_mnist(samples_c), hist_c)
real_hist = metrics.class_histogram(test.images[:N_HIST])
print(f"{COLLAPSE_STEPS} updates per run; {N_HIST} samples each")
print(f"{'':>28} {'entropy (bits)':>15} {'top class share':>16} {'FID-MNIST':>10} {'spread across z':>16} "
      f"{'D(x)':>6} {'D(G(z))':>8}")
for name, (samples_c, hist, fid, hist_c) in collapse.items():
    print(f"{name:>28} {hist.entropy_bits:>15.2f} {hist.max_fraction:>16.2f} {fid:>10.0f} "
          f"{samples_c.std(0).mean().item():>16.3f} {hist_c.last('d_real', 50):>6.2f} {hist_c.last('d_fake', 50):>8.2f}")
print(f"{'real test digits':>28} {real_hist.entropy_bits:>15.2f} {real_hist.max_fraction:>16.2f} {'':>10} "
      f"{test.images[:N_HIST].std(0).mean().item():>16.3f}")

# %%
fig = Figure(figsize=(13, 6.4), layout="constrained")
panels = fig.subplot_mosaic([["bars", "bars", "trace"], ["bad", "good", "loss"]], height_ratios=[1, 1.3])
width = 0.27
for i, (name, hist) in enumerate([(n, c[1]) for n, c in collapse.items()] + [("real test digits", real_hist)]):
    panels["bars"].bar(torch.arange(10) + (i - 1) * width, hist.fractions.numpy(), width,
                       label=f"{name}: {hist.entropy_bits:.2f} bits")
panels["bars"].axhline(0.1, color="grey", linestyle="--", linewidth=1)
panels["bars"].set(xticks=range(10), xlabel="digit, as the judge reads the sample", ylabel="share of samples",
                   title="class histograms")
panels["bars"].legend(fontsize=8)
for key, (name, (samples_c, _, fid, _)) in zip(("bad", "good"), collapse.items()):
    plot.grid(samples_c[:40], nrow=8, ax=panels[key], title=f"{name}:\nFID-MNIST {fid:.0f}")
for name, trace in coverage_trace.items():
    steps_c, entropy_c, spread_c = zip(*trace)
    line, = panels["trace"].plot(steps_c, entropy_c, "o-", label=f"{name.split(' (')[0]}: entropy (bits)")
    panels["trace"].plot(steps_c, [10 * s for s in spread_c], "s--", color=line.get_color(),
                         label=f"{name.split(' (')[0]}: 10 x spread across z")
    panels["loss"].plot(collapse[name][3].losses["d_loss"], alpha=0.6, label=f"{name.split(' (')[0]}: D's loss")
panels["trace"].set(xlabel="update", ylabel="bits, or 10 x pixel sd", title="coverage during training (500 samples)")
panels["trace"].legend(fontsize=7)
panels["loss"].set(xlabel="update", ylabel="D's loss (nats)", title="what the loss showed")
panels["loss"].legend(fontsize=7)
fig.suptitle(f"experiment 2: mode collapse caused and fixed ({COLLAPSE_STEPS} updates each, same seed)")
fig

# %% [markdown]
# In our full run the unbalanced game collapses, and every measurement says so. The
# pictures first: one shape, repeated for every noise vector. The spread across $z$ is a
# fraction of the real digits', the histogram piles most samples onto one class, and
# FID-MNIST is many times that of the balanced run. The coverage panel shows it was never
# otherwise: the unbalanced run's entropy stays low the whole way, while the balanced
# run spreads over all ten digits within a few hundred updates, from the same seed. The
# last two columns of the table show how the collapse holds: the slow judge cannot tell the
# one picture from real digits ($D(G(z))$ and $D(x)$ both near one half, the value of a
# solved game!), so the generator is rewarded for drawing it again and again.
#
# Two lessons. First, **the losses would not have told us**: in the bottom-right panel the
# collapsed run's loss falls steadily, like a run that is getting somewhere, and its
# $D(x)$ and $D(G(z))$ look like a perfectly balanced game. The histogram, the spread and
# FID-MNIST are what expose it, which is why the course measures coverage alongside
# quality. Second, the judge's histogram needs the other two beside it: the judge reads
# *every* image as some digit, blobs included, so a histogram alone cannot tell "one good
# digit for every $z$" from "one blob for every $z$"; the spread and FID-MNIST can.

# %% [markdown]
# ## 9 · Divide and conquer: LAPGAN, coarse to fine
#
# *Strategy: divide and conquer.* Seed 001 shows a different way to make GANs work on
# larger images (Denton et al. 2015): do not generate the whole image at once. A
# **Laplacian pyramid** splits an image into a small, blurry version and a stack of
# *detail* images, each holding what a finer scale adds to the coarser one. LAPGAN trains
# one conditional GAN per level: the first draws the tiny image from noise; each next one
# sees the upsampled coarser image and draws only the missing detail. Every generator has
# a small, local job, and the detail it draws is conditioned on a layout it does not have
# to invent.
#
# The pyramid itself takes a few lines: downsample by averaging 2x2 blocks, upsample by
# bilinear interpolation, and keep the difference at each level. Adding the details back
# up restores the image **exactly**, whatever the two resampling operators are, because
# each detail image is defined as what the upsampling missed.

# %%
def down(x):
    return F.avg_pool2d(x, 2)


def up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def laplacian_pyramid(x, levels=2):
    """x (B, 1, H, W) -> ([detail images, finest first], the coarsest image)."""
    details = []
    for _ in range(levels):
        small = down(x)
        details.append(x - up(small))                # what upsampling the smaller image misses
        x = small
    return details, x


def rebuild(details, coarse):
    """Undo laplacian_pyramid: upsample and add the details back, coarsest first."""
    x = coarse
    for h in reversed(details):
        x = up(x) + h
    return x


x_lap = test.images[:N_FID]
details, coarse = laplacian_pyramid(x_lap)
torch.testing.assert_close(rebuild(details, coarse), x_lap, rtol=0, atol=1e-6)
print(f"pyramid of {len(x_lap):,} test digits: {tuple(coarse.shape[1:])} coarse image, details "
      f"{[tuple(h.shape[1:]) for h in details]}; rebuilt exactly (largest error "
      f"{(rebuild(details, coarse) - x_lap).abs().max().item():.1e})")
energy = [h.pow(2).flatten(1).sum(1).mean().item() for h in details]
total = x_lap.pow(2).flatten(1).sum(1).mean().item()
print("share of each digit's squared pixel values carried by: "
      + ", ".join(f"the {h.shape[-1]}x{h.shape[-1]} detail {e / total:.0%}" for h, e in zip(details, energy))
      + f"; numbers in the coarse 7x7 image: {coarse[0].numel()} of 784")

# %%
i = 0
h0, h1 = details[0][i:i + 1], details[1][i:i + 1]
x2 = coarse[i:i + 1]
x1 = up(x2) + h1
x0 = up(x1) + h0


def shown(img, size=28, detail=False):
    """One image as (1, 1, 28, 28) in [0, 1] for display: nearest-neighbour enlarged, details
    mapped so that grey = 0."""
    img = F.interpolate(img, size=size, mode="nearest")
    return (0.5 + img / (2 * img.abs().max())).clamp(0, 1) if detail else img.clamp(0, 1)


steps_lap = [("G3 draws a 7x7\nimage from noise", shown(x2)),
             ("upsample it\nto 14x14", shown(up(x2))),
             ("G2 draws the 14x14\ndetail (grey = 0)", shown(h1, detail=True)),
             ("sum: the\n14x14 image", shown(x1)),
             ("upsample it\nto 28x28", shown(up(x1))),
             ("G1 draws the 28x28\ndetail (grey = 0)", shown(h0, detail=True)),
             ("sum: the\n28x28 image", shown(x0))]
fig = Figure(figsize=(13, 2.6), layout="constrained")
for ax, (name, img) in zip(fig.subplots(1, len(steps_lap)), steps_lap):
    ax.imshow(img[0, 0].cpu(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(name, fontsize=9)
    ax.set_axis_off()
fig.suptitle("LAPGAN's idea, on a real test digit's pyramid: each generator draws only what its scale adds")
fig

# %% [markdown]
# The 7x7 image holds the layout in 49 numbers; the 14x14 detail sharpens the strokes; the
# 28x28 detail is a thin line along every edge, most of it zero. In a LAPGAN each panel
# drawn by a "G" is the output of its own conditional GAN, and sampling is exactly the
# `rebuild` loop above with the details drawn instead of taken from a real digit. On MNIST
# a single DCGAN does fine at 28x28, so the course does not ship one; the idea returns in
# a new form in chapter 09, where a diffusion model also builds an image from coarse
# structure to fine detail.

# %% [markdown]
# ## 10 · Verify: the shipped models, measured
#
# *Strategy: verify, with the course's instruments.* The targets for this chapter:
#
# - the unconditional DCGAN's FID-MNIST below the chapter-04 VAE's (10,000 samples each);
# - its class coverage: the judge's class histogram of its samples with an entropy of at
#   least 3.25 bits (uniform is 3.32);
# - the conditional GAN's label accuracy at least 97%.
#
# Each is measured here on `N_FID` samples, next to what the checkpoint recorded when it
# was made (10,000 samples; the recorded seed-to-seed spread of FID-MNIST says how much a
# different draw of samples moves it).

# %%
def fmt(value, spec=".3g"):
    return "-" if value is None else format(value, spec)


def verdict(name, value, target, higher_is_better):
    ok = value >= target if higher_is_better else value < target
    sign = ">=" if higher_is_better else "<"
    return (f"{name}: {value:.4g} (target {sign} {target:.4g}): "
            + ("met" if ok else f"missed by {abs(value - target):.3g}"))


gan_samples = fixed_samples(G_ship, N_FID, seed=11)
vae_samples = fixed_samples(vae_model, N_FID, seed=11)
gan_fid, vae_fid = metrics.fid_mnist(gan_samples), metrics.fid_mnist(vae_samples)
coverage = metrics.class_histogram(gan_samples)
cgan_labels = torch.arange(N_FID, device=DEVICE) % 10
cgan_acc = metrics.label_accuracy(draw_in_chunks(conditional["the conditional GAN"], cgan_labels, cgan.config.z_dim, seed=12),
                                  cgan_labels)
g_rec, c_rec = ship_info["metrics"], cgan_info["metrics"]
v_rec = getattr(vae_model, "checkpoint_info", {"metrics": {}})["metrics"]
print(f"Table 2 · {N_FID:,} samples per model, measured here; recorded = in the checkpoint (10,000 samples)")
print(f"{'':>22} {'FID here':>9} {'recorded':>9} {'entropy':>8} {'recorded':>9} {'top class':>10} "
      f"{'label acc.':>11} {'recorded':>9}")
print(f"{'VAE (chapter 04)':>22} {vae_fid:>9.1f} {fmt(v_rec.get('fid_mnist'), '.1f'):>9} "
      f"{metrics.class_histogram(vae_samples).entropy_bits:>8.3f} {fmt(v_rec.get('label_entropy_bits'), '.3f'):>9}")
print(f"{'DCGAN':>22} {gan_fid:>9.1f} {fmt(g_rec.get('fid_mnist'), '.1f'):>9} {coverage.entropy_bits:>8.3f} "
      f"{fmt(g_rec.get('label_entropy_bits'), '.3f'):>9} {coverage.max_fraction:>10.3f}")
print(f"{'conditional DCGAN':>22} {table1['the conditional GAN'][3]:>9.1f} {fmt(c_rec.get('fid_mnist'), '.1f'):>9} "
      f"{'':>8} {'':>9} {'':>10} {cgan_acc:>11.3f} {fmt(c_rec.get('label_accuracy'), '.3f'):>9}")
print(f"FID-MNIST seed-to-seed sd recorded for the DCGAN: {fmt(g_rec.get('fid_mnist_seed_sd'))}")
print()
vae_reference = v_rec.get("fid_mnist", vae_fid)
print(verdict("DCGAN FID-MNIST vs the VAE's recorded FID-MNIST", g_rec.get("fid_mnist", gan_fid), vae_reference, False))
print(verdict("DCGAN class-histogram entropy, bits", g_rec.get("label_entropy_bits", coverage.entropy_bits), 3.25, True))
print(verdict("conditional DCGAN label accuracy", c_rec.get("label_accuracy", cgan_acc), 0.97, True))
print(f"measured here: DCGAN FID-MNIST {gan_fid:.1f} vs VAE {vae_fid:.1f}; entropy {coverage.entropy_bits:.3f} bits; "
      f"label accuracy {cgan_acc:.3f}")
if "fid_mnist" in g_rec and g_rec.get("fid_mnist_seed_sd"):
    print(f"DCGAN FID-MNIST here minus recorded: {gan_fid - g_rec['fid_mnist']:+.1f}, "
          f"{abs(gan_fid - g_rec['fid_mnist']) / g_rec['fid_mnist_seed_sd']:.1f} recorded seed-to-seed sds")
for name, info in (("gan", ship_info), ("cgan", cgan_info)):
    m = info["metrics"]
    print(f"{name}: trained {fmt(m.get('train_seconds', 0) / 60, '.0f')} min on {m.get('hardware', '-')}; "
          f"recipe {gan.RECIPES[name]['epochs']} epochs; made by {info['provenance'].get('command', '-')}")
print(f"\nwhole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")

# %% [markdown]
# How to read Table 2:
#
# - **Quality.** FID-MNIST is the distance between the judge's feature statistics of the
#   samples and of the real test digits. The verdict lines compare the recorded numbers
#   (10,000 samples each, as the targets are defined); "measured here" repeats the
#   measurement on this notebook's own fixed-seed samples (10,000 in the default mode;
#   for the conditional GAN, asked for the test set's labels rather than equally many of
#   each digit, so its two FID columns differ a little). In our full run the DCGAN
#   measured here came out about two points better than its record, more than the
#   recorded seed-to-seed spread (the line above prints both); either way it is below the
#   VAE's, so the verdict does not depend on which one we trust.
# - **Coverage.** The entropy of the judge's class histogram says whether all ten digits
#   are drawn about equally often; the top class's share is the easiest single number to
#   read (0.1 for a perfect spread). A collapsed generator, as in section 8, fails here
#   first.
# - **Obeying the label.** The conditional GAN's label accuracy is the fraction of its
#   samples the judge reads as the digit that was asked for, 1,000 per digit here.
#
# The verdicts are printed, not written: the checkpoints were trained for this course on
# two CPU cores, and the lines above are the record of how far they got.

# %% [markdown]
# ## Exercises
#
# **1. The best judge, by hand.** For the conditional game, with $D(x, y)$ and $G(z, y)$,
# what is the optimal discriminator, and what does the generator minimize against it?
#
# <details><summary>Solution</summary>
#
# Condition everything on $y$: for each label the game is the unconditional one between
# $p_\text{data}(x \mid y)$ and $p_g(x \mid y)$, so $D^*(x, y) = p_\text{data}(x \mid y) /
# \big(p_\text{data}(x \mid y) + p_g(x \mid y)\big)$, and against it the generator minimizes
# $\mathbb E_{y}\big[2\,\mathrm{JSD}\big(p_\text{data}(\cdot \mid y) \,\|\, p_g(\cdot \mid y)\big)\big]
# - \log 4$, where $y$ follows the label distribution used in training. It is zero (plus
# $-\log 4$) only if the generator matches the data *for every label*: drawing a good 7
# when asked for a 3 is penalised, which is why the conditional GAN obeys the label.
#
# </details>
#
# **2. Colder noise.** Sample the shipped DCGAN with $z$ scaled by a temperature $s < 1$,
# i.e. $z = s\,\varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ (this is close to the
# "truncation trick" of later GANs). Measure FID-MNIST and the class-histogram entropy for
# $s = 0.25, 0.5, 0.75, 1$. What do you trade?
#
# <details><summary>Solution</summary>
#
# ```python
# for s in (0.25, 0.5, 0.75, 1.0):
#     z = s * torch.randn(N_FID, 100, generator=torch.Generator().manual_seed(0))
#     x = torch.cat([G_ship.sample(500, z=part.to(DEVICE)) for part in z.split(500)])
#     h = metrics.class_histogram(x)
#     print(s, round(metrics.fid_mnist(x), 1), round(h.entropy_bits, 3), round(x.std(0).mean().item(), 3))
# ```
# In our run FID-MNIST got steadily *worse* as $s$ fell: about 47 at $s = 1$, 51 at 0.75,
# 86 at 0.5, and hundreds at 0.25, while the entropy fell a little and then a lot. At
# $s = 0.5$ the digits come out bolder and a little more uniform; at 0.25 many fade into
# faint ghosts. Section 7 explains why: a scaled code is shorter than any code the
# generator was trained on, and this generator was never asked to make sense of the inside
# of the shell. (Later, much larger GANs trade a little variety for quality this way; here
# the trade is a loss on both counts, and only measuring both shows it.)
#
# </details>
#
# **3. Is it copying?** A generator that memorised its training set would have a perfect
# FID-MNIST. For 16 samples of the shipped DCGAN, find the nearest training digit in pixel
# space and compare the distance with the nearest-neighbour distance of 16 *test* digits
# to the training set.
#
# <details><summary>Solution</summary>
#
# ```python
# def nearest(x, pool=train_set.images.flatten(1)):
#     d = torch.cdist(x.flatten(1), pool)                    # (16, 60000) Euclidean distances
#     dist, idx = d.min(dim=1)
#     return dist, train_set.images[idx]
#
# samples = fixed_samples(G_ship, 16)
# d_gan, nn_gan = nearest(samples)
# d_test, _ = nearest(test.images[:16])
# print(d_gan.mean().item(), d_test.mean().item())
# plot.grid(torch.cat([samples, nn_gan]), nrow=16, title="samples (top), nearest training digit (bottom)")
# ```
# If the samples' nearest training digits were much closer than a test digit's, the
# generator would be reproducing training examples. In our run it was the other way
# round: the samples' nearest training digits were on average *farther* away (about 5.0
# against 4.0 for the test digits), and the pairs in the figure are visibly different
# digits of similar shape, a few not even of the same class. The GAN draws new digits,
# and some odd ones. (Pixel distance is a crude check; a copy shifted by one pixel would
# escape it, as section 1 showed.)
#
# </details>
#
# **4. Can the stalled run recover?** Continue the minimax run of section 3 for
# `SAT_STEPS` more updates, once with the minimax loss and once switched to the
# non-saturating loss. Does the switch rescue it?
#
# <details><summary>Solution</summary>
#
# `run_gan` builds a fresh pair, so write the continuation by hand:
# ```python
# def continue_run(kind, steps=SAT_STEPS):
#     runtime.seed(0)
#     G, D = (gan.Generator(SMALL).to(DEVICE), gan.Discriminator(SMALL).to(DEVICE))
#     G.load_state_dict(saturation["minimax"][0].state_dict())
#     D.load_state_dict(saturation["minimax"][1].state_dict())
#     g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
#     d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
#     G.train(); D.train()
#     hist = train.fit(lambda b: gan.gan_step(G, D, g_opt, d_opt, b[0], kind=kind),
#                      data.batches(train_set, 64, seed=1), steps=steps, desc=kind)
#     return hist.last("g_grad_norm", 50), metrics.fid_mnist(fixed_samples(G.eval(), N_MONITOR))
#
# for kind in ("minimax", "nonsaturating"):
#     print(kind, continue_run(kind))
# ```
# In our run, kept on the minimax loss, the generator stayed on its plateau: its gradient
# norm stayed around $10^{-4}$ and FID-MNIST around 1,600 (noise). Switched to the
# non-saturating loss, the gradient norm was in the tens, because the judge's confidence
# is now an asset rather than a trap, and FID-MNIST fell to about 480 within the 300
# updates as the samples began to form digits. The damage of section 3 was not to the
# networks but to the signal.
#
# </details>
#
# **5. A generator that can jump.** Section 5's diagnosis says that a continuous map of
# one Gaussian must cross the gaps between the digits. Give the *unconditional* generator
# a discrete part of its code: a category $c$ drawn uniformly from ten, fed to $G$ through
# an embedding exactly as the conditional generator's label, while $D$ sees images only.
# Nobody tells $G$ what the categories mean. Train it like the DCGAN and measure the
# judge-unsure share, FID-MNIST, and whether the categories came to mean digits.
#
# <details><summary>Solution</summary>
#
# The package's pieces fit together without new code: a conditional generator, an
# unconditional discriminator, and a step that draws the categories itself.
# ```python
# G = gan.Generator(gan.GANConfig(n_classes=10)).to(DEVICE)   # c enters like a label
# D = gan.Discriminator(gan.GANConfig()).to(DEVICE)           # D never sees c
# g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
# d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
#
# def step(batch):
#     real = gan.to_model_scale(batch[0])
#     c = torch.randint(10, (len(real),), device=DEVICE)
#     fake = G(torch.randn(len(real), 100, device=DEVICE), c)
#     loss_d = gan.d_loss(D(real), D(fake.detach()))
#     d_opt.zero_grad(); loss_d.backward(); d_opt.step()
#     loss_g = gan.g_loss(D(fake))
#     g_opt.zero_grad(); loss_g.backward(); g_opt.step()
#     return {"d_loss": loss_d, "g_loss": loss_g}
#
# train.fit(step, data.batches(train_set, 64), minutes=10)
# c = torch.arange(N_FID, device=DEVICE) % 10
# x = G.eval().sample(N_FID, labels=c)
# print((top_probability(x) < 0.9).float().mean(), metrics.fid_mnist(x))
# judged = judge_net.predict(x)
# print([torch.bincount(judged[c == k], minlength=10).argmax().item() for k in range(10)])
# ```
# The last line prints the digit the judge sees most often for each category. We did not
# run this for the course's numbers; it is the recipe the README names as the next step
# for the unconditional GAN. Two things to watch: whether the unsure share falls toward the
# conditional GAN's (the jump is now possible), and whether some categories share a digit
# while a digit is split over two categories, since nothing but the judge's pressure on
# the crossings pushes $G$ to use $c$ at all. (InfoGAN adds a term that rewards
# recognisable categories; DeLiGAN learns a mixture of Gaussians as the prior instead.)
#
# </details>

# %% [markdown]
# ## The bridge to chapter 07
#
# Learning the judge worked: the GAN draws sharp digits, and its conditional version
# finally answers the course's question with a label that matters and noise that matters.
# But look at what we paid. The GAN has **no likelihood** at all: it cannot say how
# probable a digit is, so we cannot compare it with chapters 03 to 05 in nats, nor tell
# whether it misses part of the data except by asking another network (the judge's
# histogram, FID). And its **training is a game**, not a descent: the losses do not say
# how it is going, a mismatch of speeds makes it stall or collapse, and we had to watch
# samples to know. Is there a model with an exact likelihood, one we can train by
# plain maximum likelihood and evaluate in nats, whose samples are still sharp? The blur of
# chapters 04 and 05 came from drawing all pixels independently given a code. Chapter 07
# drops the code and the independence instead: it models the pixels **one at a time**,
# each conditioned on all the pixels drawn before it. The product of those conditionals is
# the exact probability of the image, and each pixel is a sharp decision, made knowing
# exactly what has been drawn so far.
