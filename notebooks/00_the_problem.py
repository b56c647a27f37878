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
# # 00 · The problem
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** At the very start, with nothing but a wish: *we want a machine that draws.*
# Before we build anything, this chapter does what a careful problem solver does with an
# unfamiliar hard problem. We work out what *kind* of problem it is, write it down
# precisely, and then run experiments on the data to learn what a solution has to do.
# We will count how many images there are, draw random ones, measure how far they are
# from real handwritten digits, and find that real digits fill a vanishingly thin sliver
# of the space of all images. No model is trained here. What we get is a precise goal,
# a few measuring sticks we will use in every later chapter, and a first feel for why
# drawing is hard.

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
from fractions import Fraction

import torch
from matplotlib.figure import Figure

import drawjourney as dj
from drawjourney import data, plot, runtime, widgets

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator: every random image below comes from it

N_TRAIN = 10_000 if FAST else 60_000  # training digits we search for neighbours
N_QUERY = 500 if FAST else 2_000      # test digits, and random images of each kind
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; "
      f"{N_TRAIN} training digits, {N_QUERY} queries of each kind")

# %% [markdown]
# ## How this course works: a problem solver's toolkit
#
# The course is a story about *finding* solutions, not only about the solutions. Each
# chapter tries an idea, watches it fail in a specific way, works out *why*, and lets that
# diagnosis pick the next idea. The moves we lean on are the classic ones for getting
# unstuck on a hard problem, and each time we use one we will name it:
#
# 1. **Diagnose** the problem type: what is this like, and who has solved something similar?
# 2. **Formulate** it clearly and explicitly: symbols, shapes, and what "solved" means.
# 3. **Experiment** and iterate: change the constraints, play with small cases, estimate
#    quantities roughly, look for patterns in what comes out.
# 4. **Bounds** and constraints: how good or bad can things possibly be?
# 5. **Identities** and theorems: use known mathematics instead of rediscovering it.
# 6. **Patterns** instead of brute force: exploit structure rather than enumerating.
# 7. **Divide and conquer**: split a hard problem into easier pieces.
# 8. **Verify** and refine: check every claim with a number before building on it.
#
# ### The map
#
# | # | chapter | the step in the journey |
# |---|---|---|
# | 00 | **the problem** (you are here) | diagnose, formulate $y = f(x, \theta, Z)$, the space of images |
# | 01 | first attempt: an MLP | map (label, noise) to pixels with squared error; see what goes wrong |
# | 02 | convolutions | give the network the 2-D structure of images; is the network the problem? |
# | 03 | Boltzmann machines | model a probability distribution instead of a single output |
# | 04 | variational autoencoders | latent variables and a bound we can train |
# | 05 | DRAW | draw like an artist: a canvas refined step by step, with attention |
# | 06 | GANs | replace the pixel loss by a learned critic |
# | 07 | autoregressive models | exact likelihood, one pixel at a time |
# | 08 | normalizing flows | exact likelihood in one invertible pass |
# | 09 | diffusion | many small denoising steps, guided by the label |
# | 10 | the big picture | every model measured side by side |

# %% [markdown]
# ## 1 · Diagnose: what kind of problem is this?
#
# *Strategy: diagnose the problem type.* We want to produce new images from scratch, so
# this is a **generative** problem: the output is not a number or a class but a whole
# image. Two neighbouring fields already know something about it.
#
# - **Machine learning.** Pretend we know nothing about generative models yet. We do know
#   that neural networks are very good at *recognising* images: given a digit, say which
#   digit it is. We also know that convolutions summarise images well, because they look at
#   small neighbourhoods and reuse the same filter everywhere. Maybe the same tools can run
#   in the other direction, from a label to an image.
# - **Human artists.** People draw all the time. An artist sketches the rough layout first,
#   refines details later, moves between parts of the picture, erases mistakes, and thinks
#   at several scales at once. That is a process, not a single shot. Keep it in mind:
#   chapter 05 (DRAW) draws on a canvas step by step, and chapter 09 (diffusion) refines
#   a noisy picture in many small steps.
#
# The data we have is the data that recognition was solved on: MNIST, 60,000 training and
# 10,000 test images of handwritten digits, each with its label. Let us look at some,
# shrunk to 16x16 and made black-and-white (section 3 explains why).

# %%
train = data.mnist("train", size=16, binarize="static").subset(N_TRAIN)
test = data.mnist("test", size=16, binarize="static").subset(N_QUERY)
train_grey = data.mnist("train", size=16).subset(N_TRAIN)
test_grey = data.mnist("test", size=16).subset(N_QUERY)
print(f"train {tuple(train.images.shape)}, test {tuple(test.images.shape)}, "
      f"pixel values {train.images.unique().tolist()}")

fig = plot.grid(train.images[:32], labels=train.labels[:32], nrow=16,
                title="32 training digits, 16x16 binary, with their labels")
fig

# %% [markdown]
# ## 2 · Formulate: $y = f(x, \theta, Z)$
#
# *Strategy: formulate the problem clearly and explicitly.* "Make a program that draws
# images" is too vague to work on. What goes in, what comes out, and what counts as success?
#
# A first attempt: *a function that takes a description (a label such as "3") and returns
# an image of it.* That sounds right until we notice what a function is: the same input
# always gives the same output. It would draw one single "3", forever. Is that a problem?
# Let us ask the data: how many different images does one label have?

# %%
images_of = {d: train.images[train.labels == d] for d in range(10)}
n_distinct = torch.unique(train.images.flatten(1), dim=0).shape[0]
print(f"distinct images among {len(train)} training digits: {n_distinct}")
for d in (1, 3, 8):
    n = images_of[d].shape[0]
    n_unique = torch.unique(images_of[d].flatten(1), dim=0).shape[0]
    print(f"  label {d}: {n} examples, {n_unique} distinct images")

fig = plot.grid(images_of[3][:16], nrow=16,
                title='one input, x = "3", sixteen different right answers y')
fig

# %% [markdown]
# We measured it: not one training image repeats, and each label
# has thousands of them. So the right answer to "draw a 3" is not one image but a whole
# *distribution* of images, $p(y \mid x = 3)$. A deterministic function of the label
# alone cannot produce that.
#
# The fix is to give the function a source of variety. Think of a game that builds worlds
# from a random seed: the rules stay the same, the seed changes, and every seed gives a
# different but coherent world. We add a random input $Z$ and ask for
#
# $$
# y = f(x, \theta, Z), \qquad Z \sim \mathcal{N}(0, I_d),
# $$
#
# where
#
# - $x$ is **what we ask for**. Here it is the digit label as a one-hot vector in
#   $\{0,1\}^{10}$. In general it could be text, a class, half of an image, or nothing
#   at all (unconditional generation). It is how we *control* the output.
# - $Z \in \mathbb{R}^d$ is **the seed**, drawn fresh for every image from a simple
#   distribution we choose, usually the standard normal. It supplies the *variety*:
#   same $x$ with different $Z$ gives different images.
# - $\theta \in \mathbb{R}^P$ are **the parameters** (the network's weights), learned
#   from data and fixed once training ends.
# - $y$ is **the image**: in general $y \in [0,1]^{h \times w \times c}$ (height, width,
#   colour channels). In this chapter and the early ones, $y \in \{0,1\}^{16 \times 16}$.
#
# And "solved" means something precise too. It does **not** mean "reproduce a training
# image": a lookup table does that. It means that for every label $x$, the images
# $f(x, \theta, Z)$ with $Z \sim \mathcal{N}(0, I)$ are distributed like the real images
# with that label:
#
# $$
# f(x, \theta, Z) \;\overset{d}{=}\; Y \mid X = x \quad \text{for every } x,
# \qquad\text{where } (X, Y) \sim p_{\text{data}}.
# $$
#
# Why not just drop $Z$ and let $f(x, \theta)$ output the "best" single image for each
# label? Here is what a natural choice of "best" looks like. The image that is closest to
# all the 3s on average in squared pixel error is their pixel-wise *mean*:

# %%
class_means = torch.stack([images_of[d].mean(0) for d in range(10)])
fig = plot.grid(class_means, labels=[f"mean of {d}s" for d in range(10)], nrow=10,
                title="the best single image per label under squared error: the average")
fig

# %% [markdown]
# Each mean is recognisable, but grey and smeared: no real 3 looks like the average 3,
# and a machine that always drew these ten images would have no variety at all. Remember
# them. They will come back in chapter 01.

# %% [markdown]
# ## 3 · Why start small: 16x16 and black-and-white
#
# *Strategy: experiment, and modify the constraints.* Before the full problem (large colour
# photographs) we solve a small case that still has the hard part in it:
#
# - **Binary pixels** shrink the output space: each pixel is one bit, and later we can
#   give every pixel a simple probability (a coin with bias $p$).
# - **16x16** keeps every experiment seconds long on a laptop CPU.
# - **We can see everything**: a whole batch fits on screen, so we can debug by eye.
# - **The hard part survives**: strokes, shapes, ten classes, endless styles.
#
# The course's 16x16 digits come from shrinking the 28x28 originals with a smoothing
# (antialiased) resize, then turning each grey pixel into black or white with a single
# fixed coin flip whose bias is the grey level ("static binarization").

# %%
grey28 = data.mnist("train", size=28).subset(8).images
fig = Figure(figsize=(9, 2.6), layout="constrained")
axes = fig.subplots(1, 3)
plot.grid(grey28, nrow=4, ax=axes[0], title="28x28 grey (the original)")
plot.grid(train_grey.images[:8], nrow=4, ax=axes[1], title="16x16 grey")
plot.grid(train.images[:8], nrow=4, ax=axes[2], title="16x16 binary (coin flips)")
fig.suptitle("the same eight digits at three levels of simplification")
fig

# %% [markdown]
# Simplifying has a price, and we should know it. One quick way to measure how much of
# "which digit is this" survives is the simplest classifier there is: give each test
# digit the label of its nearest training image. To find nearest neighbours fast we use an
# **identity**: $\lVert a - b\rVert^2 = \lVert a\rVert^2 + \lVert b\rVert^2 - 2\,a\cdot b$,
# so all distances between two batches come from one matrix product. For binary images the
# squared distance is exactly the **Hamming distance**: the number of pixels that differ.

# %%
def nearest(queries, bank, k=1, chunk=500):
    """Squared distances (Q, k) and indices (Q, k) of the k nearest rows of `bank` to each query.

    queries (Q, ...) and bank (N, ...) are flattened; distances use
    |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, computed `chunk` queries at a time and in place, so
    only one (chunk, N) matrix exists at a time (120 MB against all 60,000 training digits).
    """
    q, b = queries.flatten(1).float(), bank.flatten(1).float()
    b_sq = (b * b).sum(1)
    dists, index = [], []
    for start in range(0, q.shape[0], chunk):
        qc = q[start:start + chunk]
        d2 = torch.addmm(b_sq, qc, b.T, alpha=-2)              # |b|^2 - 2 a.b
        d2.add_((qc * qc).sum(1, keepdim=True)).clamp_min_(0)  # + |a|^2; rounding can dip below 0
        d, i = d2.topk(k, dim=1, largest=False)
        dists.append(d)
        index.append(i)
    return torch.cat(dists), torch.cat(index)


d_fast, _ = nearest(test.images[:50], train.images[:1000])
d_slow = torch.cdist(test.images[:50].flatten(1), train.images[:1000].flatten(1)).pow(2).min(1).values
torch.testing.assert_close(d_fast[:, 0], d_slow)   # the identity agrees with the direct distance
print("identity check passed: nearest() matches torch.cdist")

for name, tr, te in [("16x16 grey", train_grey, test_grey), ("16x16 binary", train, test)]:
    _, idx = nearest(te.images, tr.images)
    accuracy = (tr.labels[idx[:, 0]] == te.labels).float().mean().item()
    print(f"nearest-neighbour label accuracy, {name:>12}: {accuracy:.1%}")

# %% [markdown]
# We measured a real cost: the coin flips of binarization add noise at the edges of every
# stroke, and the nearest-neighbour classifier gets noticeably worse on binary digits than
# on grey ones. The digits are still readable by eye (the figure above), and later
# chapters that want grey levels or 28x28 can have them. For this chapter the small binary
# case is the one we want: it makes the space of images countable.

# %% [markdown]
# ## 4 · The space of images: count it
#
# *Strategy: bounds, and rough estimates of relevant quantities.* A 16x16 binary image is
# 256 bits, so there are exactly $2^{256}$ of them. A 28x28 grey MNIST image has 784 pixels
# with 256 levels each: $256^{784}$ images. Python's integers have no size limit, so we can
# build these numbers exactly, count their decimal digits ($\lfloor \log_{10} n \rfloor + 1$)
# and compare them with things we know.

# %%
# NBVAL_CHECK_OUTPUT
# (exact integer arithmetic: the regression tests check this output is reproduced exactly)
def digits(n: int) -> int:
    """How many decimal digits the positive integer n has: floor(log10 n) + 1."""
    return math.floor(math.log10(n)) + 1


counts = {
    "16x16 binary images (2^256)": 2 ** 256,
    "28x28 grey images (256^784)": 256 ** 784,
    "atoms in the observable universe (about)": 10 ** 80,
    "MNIST training digits": 60_000,
}
for name, n in counts.items():
    print(f"{name:>42}: a number with {digits(n):>4} digits")
fraction = Fraction(60_000, 2 ** 256)
print(f"\nMNIST covers a fraction {float(fraction):.1e} of all 16x16 binary images")

# %% [markdown]
# Even our tiny 16x16 binary space has about $10^{77}$ images, within a factor of a
# thousand of the number of atoms in the observable universe; the 28x28 grey space is a
# number with almost two thousand digits, far beyond anything physical. Our sixty thousand
# examples cover a fraction below $10^{-72}$ of even the small space. Whatever a
# "digit" is, it is not a large region of image space, and a drawing machine cannot work
# by trying images at random. Let us check that with an experiment rather than trust it.

# %% [markdown]
# ## 5 · Experiment: random images against real digits
#
# *Strategy: play with small cases.* We draw images at random in two ways:
#
# - **uniform random**: every pixel an independent fair coin, so every one of the $2^{256}$
#   images is equally likely;
# - **blobs**: every pixel an independent coin whose bias is how often that pixel is
#   inked in the training digits. Blobs put ink where digits put ink, in the same amount,
#   but each pixel ignores its neighbours. They are a smarter kind of random, and a fair
#   test of whether "ink in the right places" is all a digit is.

# %%
ink = train.images.flatten(1).mean(0).cpu()                     # (256,) P(pixel is on)
uniform = torch.randint(0, 2, (N_QUERY, 1, 16, 16), generator=GEN).float().to(DEVICE)
blobs = torch.bernoulli(ink.expand(N_QUERY, 256), generator=GEN).view(N_QUERY, 1, 16, 16).to(DEVICE)
kinds = {"test digits": test.images, "blobs": blobs, "uniform random": uniform}

scrubber = widgets.FrameScrubber(
    [kinds["uniform random"][:16], kinds["blobs"][:16], kinds["test digits"][:16]],
    titles=["uniform random", "blobs", "real digits"],
    label="kind", scale=6)
scrubber

# %% [markdown]
# Slide from uniform noise to blobs to real digits (`scrubber.show(t)` does the same from
# code). The same three frames, for a notebook viewed where widgets do not run:

# %%
fig = scrubber.strip(title="random images and real digits, 16 of each")
fig

# %% [markdown]
# Nobody would mistake either kind of random image for a digit. But "nobody would" is an
# assertion. Can we turn it into numbers that anyone can check?

# %% [markdown]
# ## 6 · Measure: what makes a digit look like a digit?
#
# *Strategy: find a quantity that captures the pattern.* Two simple statistics per image:
#
# - **ink**: the fraction of pixels that are on;
# - **neighbour agreement**: the fraction of horizontally or vertically adjacent pixel pairs
#   that have the same value. Strokes and empty background are both smooth, so digits
#   should agree with their neighbours far more often than noise does.
#
# Real images have structure at several scales: *locally*, nearby pixels are alike; at a
# *middle* scale, strokes and textures continue and repeat; *globally*, the parts of an
# object sit in sensible places relative to each other. Neighbour agreement turns the first
# of these into a number; the next sections go after the larger scales.

# %%
def ink_fraction(x):
    """(N, 1, H, W) binary images -> (N,) fraction of pixels that are on."""
    return x.flatten(1).mean(1)


def neighbour_agreement(x, axis="both"):
    """(N, 1, H, W) binary images -> (N,) fraction of adjacent pixel pairs that are equal.

    axis: "horizontal" (left-right pairs only), "vertical", or "both".
    """
    horizontal = (x[..., :, 1:] == x[..., :, :-1]).flatten(1)
    vertical = (x[..., 1:, :] == x[..., :-1, :]).flatten(1)
    pairs = {"horizontal": horizontal, "vertical": vertical,
             "both": torch.cat([horizontal, vertical], dim=1)}[axis]
    return pairs.float().mean(1)


stats = {name: (ink_fraction(x), neighbour_agreement(x)) for name, x in kinds.items()}
print(f"{'':>16} {'ink':>13} {'neighbour agreement':>22}")
for name, (a, s) in stats.items():
    print(f"{name:>16} {a.mean():.3f} ± {a.std():.3f} {s.mean():>13.3f} ± {s.std():.3f}")

fig = Figure(figsize=(10, 3.2), layout="constrained")
ax_ink, ax_agree = fig.subplots(1, 2)
for name, (a, s) in stats.items():
    ax_ink.hist(a.cpu(), bins=40, range=(0, 0.7), alpha=0.6, label=name)
    ax_agree.hist(s.cpu(), bins=40, range=(0.3, 1.0), alpha=0.6, label=name)
ax_ink.set(title="ink: fraction of pixels on", xlabel="fraction of pixels on", ylabel="images")
ax_agree.set(title="neighbour agreement", xlabel="fraction of adjacent pairs that agree",
             ylabel="images")
ax_agree.legend()
fig.suptitle(f"two simple statistics, {N_QUERY} images of each kind")
fig

# %% [markdown]
# Uniform random images sit near one half on both statistics, as fair coins must, and
# their agreement histogram does not overlap the digits' at all. How unlikely is it that a
# uniform random image *ever* looks as smooth as a digit?
#
# *Strategy: bounds.* This one we can compute exactly. Take only the left-right pairs:
# within a row, "pixel 2 equals pixel 1", "pixel 3 equals pixel 2", ... are independent
# fair coins for a uniform random image (each new pixel is a fresh coin), and rows are
# independent. So the number of agreeing horizontal pairs among the $16 \times 15 = 240$
# is exactly Binomial$(240, \tfrac12)$, and its tail is a finite sum we can evaluate with
# exact fractions.

# %%
def binomial_tail_at_least(n: int, k: int) -> Fraction:
    """P(Binomial(n, 1/2) >= k), exactly."""
    return Fraction(sum(math.comb(n, j) for j in range(k, n + 1)), 2 ** n)


h_digits = neighbour_agreement(test.images, "horizontal")
h_uniform = neighbour_agreement(uniform, "horizontal")
threshold = torch.quantile(h_digits.cpu(), 0.01).item()     # 99% of test digits are at least this smooth
k = math.ceil(threshold * 240)
p = binomial_tail_at_least(240, k)
print(f"99% of test digits have horizontal agreement >= {threshold:.3f} ({k} of 240 pairs)")
print(f"smoothest of our {N_QUERY} uniform random images: {h_uniform.max():.3f}")
print(f"P(a uniform random image is that smooth) = {float(p):.2e}  (exact)")
print(f"expected draws until the first one: about 10^{-math.log10(p):.0f}")

# %% [markdown]
# In the full run the expected number of draws came out at about $10^{22}$: that many
# uniform random images before one of them is merely *as smooth* as a typical digit, let
# alone shaped like one.
#
# The blobs are a different story, and an instructive one. By construction they have the
# right amount of ink, and their neighbour agreement, though lower than the digits', overlaps
# with it. So both statistics are **fooled** by images that obviously are not digits.
# *Diagnosis:* both statistics look at one pixel or one pair at a time. The blobs get these
# local, first-order facts right. What they miss is how *many* pixels work together: a
# stroke is a long chain of inked pixels, a loop closes. To see that, we need to compare
# whole images.

# %% [markdown]
# ## 7 · Nearest neighbours: is an image close to the data?
#
# A whole-image comparison: for every image, the Hamming distance to the **nearest
# training digit**. Test digits were never in the training set, so their distances are a
# fair yardstick for "a new, real digit". Where do random images land?

# %%
nn_dist = {name: nearest(x, train.images)[0][:, 0] for name, x in kinds.items()}
print("Hamming distance to the nearest training digit (pixels out of 256):")
for name, d in nn_dist.items():
    print(f"  {name:>15}: median {d.median():5.0f}, range {d.min():3.0f} to {d.max():3.0f}")

fig = Figure(figsize=(6.5, 3.4), layout="constrained")
ax = fig.add_subplot()
for name, d in nn_dist.items():
    ax.hist(d.cpu(), bins=range(0, 140, 2), alpha=0.6, label=name)
ax.set(title="how far is each image from the nearest training digit?",
       xlabel="Hamming distance to nearest training digit (pixels)", ylabel="images")
ax.legend()
fig

# %% [markdown]
# The uniform random images are nowhere near the data: the closest of them is several times
# farther from any training digit than a typical test digit is. That too has an exact bound.
# A uniform random image is within Hamming distance $r$ of one fixed digit with probability
# $P(\text{Binomial}(256, \tfrac12) \le r)$; the chance of being that close to *any* of the
# $N$ training digits is at most $N$ times as large (the union bound).

# %%
r = int(nn_dist["test digits"].max())
p_close = N_TRAIN * (1 - binomial_tail_at_least(256, r + 1))
print(f"every test digit is within {r} pixels of some training digit")
print(f"P(a uniform random image is that close to any of the {N_TRAIN} training digits) "
      f"<= {float(p_close):.1e}")

# %% [markdown]
# The blobs are much closer, overlapping with the test digits. Is a blob near the data
# because it resembles *some* digit, or just because it is a compact smudge that is close to
# many digits at once? The neighbours themselves can tell us. Below, the first column holds
# a query image and the next five its nearest training digits, titled with label and
# distance.

# %%
def neighbour_rows(queries, names, k=5):
    """Images and titles: each query followed by its k nearest training digits."""
    d2, idx = nearest(queries, train.images, k=k)
    images, titles = [], []
    for q, name, dq, iq in zip(queries, names, d2, idx):
        images.append(q)
        titles.append(name)
        for dist, i in zip(dq.tolist(), iq.tolist()):
            images.append(train.images[i])
            titles.append(f"{train.labels[i].item()}, d={dist:.0f}")
    return torch.stack(images), titles


queries = torch.cat([test.images[:4], blobs[:2], uniform[:2]])
names = [f"test: {y}" for y in test.labels[:4].tolist()] + ["blob", "blob", "uniform", "uniform"]
rows, titles = neighbour_rows(queries, names)
fig = plot.grid(rows, labels=titles, nrow=6,
                title="query (left) and its 5 nearest training digits (label, Hamming distance d)")
fig

# %% [markdown]
# A test digit's neighbours are mostly the same digit, written a little differently. A
# blob's neighbours are an assortment: whichever compact digits overlap the smudge. We can
# measure this too, as **label purity**: the share of an image's 10 nearest training digits
# that carry their most common label. Near the digits' manifold, a neighbourhood should
# mean one thing.

# %%
def label_purity(x, k=10):
    """(N,) share of the k nearest training digits that carry their most common label."""
    _, idx = nearest(x, train.images, k=k)
    labels = train.labels[idx]                       # (N, k)
    majority = labels.mode(dim=1).values
    return (labels == majority[:, None]).float().mean(1)


purity = {name: label_purity(x) for name, x in kinds.items()}
for name, v in purity.items():
    print(f"label purity of the 10 nearest neighbours, {name:>15}: {v.mean():.2f}")

# %% [markdown]
# The test digits' neighbourhoods are far purer than those of blobs or uniform noise, whose
# neighbours are close to a vote among several digits. "Close to the data" and "close to one
# *kind* of digit" are different things, and only real digits (so far) manage both.
# Keep these measuring sticks: in later chapters, distance to the nearest training digit
# also catches a model that merely copies its training set (distance near 0), and a
# classifier's view of its samples will play the role of label purity.

# %% [markdown]
# ## 8 · A 2-D view, and what it hides
#
# Can we *see* where digits live? We cannot look at 256 dimensions, but we can look at the
# two directions along which the digits vary most: the first two **principal components**.
# *Strategy: identities.* These are the top eigenvectors of the pixel covariance matrix, a
# 256x256 matrix, so `torch.linalg.eigh` gives all of them at once. We check the result
# against the singular value decomposition of the centred data (another identity: the
# squared singular values over $N-1$ are the covariance eigenvalues).

# %%
X = train.images.flatten(1)                      # (N, 256)
mu = X.mean(0)
cov = (X - mu).T @ (X - mu) / (X.shape[0] - 1)   # (256, 256)
eigvals, eigvecs = torch.linalg.eigh(cov)        # ascending order
eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)

singular = torch.linalg.svdvals(X - mu)
torch.testing.assert_close(eigvals[:20], singular[:20] ** 2 / (X.shape[0] - 1), rtol=1e-3, atol=1e-4)
print("check passed: covariance eigenvalues = squared singular values / (N - 1)")


def project(x, k):
    """(N, 1, 16, 16) images -> (N, k) coordinates along the digits' top-k directions."""
    return (x.flatten(1) - mu) @ eigvecs[:, :k]


def captured(x, k):
    """Share of the spread of `x` around the digit mean that lies in the digits' top-k directions."""
    centred = x.flatten(1) - mu
    return (project(x, k).square().sum() / centred.square().sum()).item()


ks = list(range(0, 257, 4))
fig = Figure(figsize=(11, 4.4), layout="constrained")
ax_plane, ax_curve = fig.subplots(1, 2)
plane = project(test.images, 2).cpu()
points = ax_plane.scatter(plane[:, 0], plane[:, 1], c=test.labels.cpu(), cmap="tab10",
                          s=6, alpha=0.7, vmin=-0.5, vmax=9.5)
for name, marker, colour in [("blobs", "+", "black"), ("uniform random", "x", "black")]:
    xy = project(kinds[name][:300], 2).cpu()
    ax_plane.scatter(xy[:, 0], xy[:, 1], marker=marker, c=colour, s=18, alpha=0.6, label=name)
fig.colorbar(points, ax=ax_plane, ticks=range(10), label="test digit label")
ax_plane.set(title="test digits in the digits' top-2 directions",
             xlabel="principal component 1", ylabel="principal component 2")
ax_plane.legend(loc="lower right", title="300 of each")
for name, x in kinds.items():
    ax_curve.plot(ks, [captured(x, k) for k in ks], label=name)
ax_curve.plot([0, 256], [0, 1], "k:", linewidth=0.8, label="no preferred direction")
ax_curve.set(title="how much of each cloud the digits' top-k directions capture",
             xlabel="k, number of principal directions of the training digits",
             ylabel="share of spread captured")
ax_curve.legend()
fig

# %%
for k in (2, 20, 50):
    row = ", ".join(f"{name} {captured(x, k):.0%}" for name, x in kinds.items())
    print(f"top {k:>2} directions capture: {row}")


def directions_for(share, values):
    """How many of the largest eigenvalues it takes to reach `share` of their sum."""
    cumulative = values.cumsum(0) / values.sum()
    return int((cumulative < share).sum()) + 1


Xg = train_grey.images.flatten(1)
eig_grey = torch.linalg.eigvalsh(torch.cov(Xg.T)).flip(0)
print(f"directions holding 90% of the training digits' variance: binary "
      f"{directions_for(0.9, eigvals)}, grey {directions_for(0.9, eig_grey)} (of 256)")

# %% [markdown]
# Two lessons, one in each panel.
#
# **Left: the plane shows structure, and it also hides things.** The test digits spread
# out in the plane and group by label: ones on one side, zeros on the other. Pixel space
# has directions that mean something. But the random images fall into tight clumps: the
# uniform ones beside the zeros (lots of ink, like a zero), the blobs right in the middle
# of the digit cloud. That is not because blobs are digits: a
# projection keeps 2 of 256 directions and throws away every difference in the other 254.
# *Diagnose before you believe a picture.*
#
# **Right: digits fill few directions, noise fills all of them.** The digits' own top
# directions capture the test digits' spread quickly. For uniform noise the curve is close
# to the dotted diagonal: no direction is special, each holds about $1/256$ of the spread.
# The blobs sit in between, because their ink is confined to the middle of the frame but
# within it they ignore all structure. We also measured how many directions hold 90% of
# the digits' variance: far fewer for the grey digits than for the binary ones, because the
# binarization coin flips add a little noise in *every* direction.
#
# This is the **manifold hypothesis**: real images lie on or near a surface of much lower
# dimension than the space of all images, and a generator's real job is to land on that
# surface. PCA only finds *flat* directions; if the surface is curved, a flat subspace
# needs more dimensions to contain it than the surface itself has, so these counts
# overestimate how few numbers it takes to describe a digit. How curved is it? One last
# experiment.

# %% [markdown]
# ## 9 · Leaving the manifold: a straight line between two digits
#
# If the digits filled a flat region, the straight line between two digits would stay among
# digits. We walk from one grey test digit to another, $y(t) = (1-t)\,y_0 + t\,y_1$, first
# for two examples you can scrub through: a 0 to a 1, and a 4 to another 4.

# %%
def first_of(label, nth=0):
    """Index of the nth test digit with this label."""
    return int((test_grey.labels == label).nonzero()[nth])


def walk(start, end, ts):
    """Straight lines in pixel space: (T, N, 1, 16, 16) images (1 - t) * start + t * end."""
    return torch.stack([(1 - t) * start + t * end for t in ts])


ts = torch.linspace(0, 1, 11, device=DEVICE)
examples = walk(test_grey.images[[first_of(0), first_of(4)]],
                test_grey.images[[first_of(1), first_of(4, nth=1)]], ts)
interpolation = widgets.FrameScrubber(
    examples, titles=[f"t = {t:.1f}" for t in ts.tolist()], label="t", scale=8, nrow=2)
interpolation

# %%
fig = interpolation.strip(max_frames=11,
                          title="straight lines in pixel space: a 0 to a 1 (left), a 4 to another 4 (right)")
fig

# %% [markdown]
# The midpoints are double exposures: two faint digits on top of each other. Is that just
# these two examples? We measure many random pairs of test digits, half of them drawn to
# share a label: at every step along the line, the distance (ordinary Euclidean, on grey
# pixels) to the nearest grey training digit, separately for pairs of different digits and
# pairs of the same digit.

# %%
N_PAIRS = 100 if FAST else 300
pair_gen = torch.Generator().manual_seed(1)
labels = test_grey.labels.cpu()
a_idx = torch.randint(0, len(test_grey), (2 * N_PAIRS,), generator=pair_gen).tolist()
b_idx = torch.randint(0, len(test_grey), (N_PAIRS,), generator=pair_gen).tolist()  # any digit
for a in a_idx[N_PAIRS:]:                                                           # same digit as a
    same = (labels == labels[a]).nonzero()[:, 0]
    b_idx.append(int(same[torch.randint(0, len(same), (1,), generator=pair_gen)]))
same_label = labels[a_idx] == labels[b_idx]
path = walk(test_grey.images[a_idx], test_grey.images[b_idx], ts)            # (T, 2 N_PAIRS, 1, 16, 16)
path_dist = nearest(path.flatten(0, 1), train_grey.images)[0][:, 0].sqrt()
path_dist = path_dist.view(len(ts), len(a_idx)).cpu()                        # (T, 2 N_PAIRS)
typical = nearest(test_grey.images, train_grey.images)[0][:, 0].sqrt().median().item()

fig = Figure(figsize=(6.5, 3.6), layout="constrained")
ax = fig.add_subplot()
groups = [("different digits", ~same_label), ("the same digit", same_label)]
for name, chosen in groups:
    ax.plot(ts.cpu(), path_dist[:, chosen].mean(1), "o-",
            label=f"{int(chosen.sum())} pairs of {name}")
ax.axhline(typical, color="k", linestyle=":", label="median for test digits")
ax.set(title="walking in a straight line between two test digits",
       xlabel="t (0 = first digit, 1 = second digit)",
       ylabel="mean distance to nearest training digit")
ax.legend(loc="upper left")
middle = len(ts) // 2
ends_mean = (path_dist[0] + path_dist[-1]) / 2        # (2 N_PAIRS,) the two ends, averaged
farther = path_dist[middle] > ends_mean
for name, chosen in groups:
    end_d, mid_d = ends_mean[chosen].mean(), path_dist[middle, chosen].mean()
    print(f"pairs of {name:>16}: mean distance at the ends {end_d:.2f}, at the midpoint "
          f"{mid_d:.2f} ({mid_d / end_d - 1:+.0%}); midpoint farther than its ends in "
          f"{farther[chosen].float().mean():.0%} of pairs")
fig

# %% [markdown]
# The line leaves the data in the middle and comes back. Between *different* digits nearly
# every midpoint is farther from the training digits than its two ends, and the bump is
# large. Between two versions of the *same* digit the bump is smaller, and a good share of
# midpoints stay about as close as their ends: over short distances the region of one digit
# is almost flat, and a little blending of two 4s still looks like a 4. That is exactly what
# "manifold" means: a surface that is nearly flat up close and curved as a whole.
#
# So a good generator will need its *own* coordinates, a **latent space**, in which straight
# lines stay on the manifold. We meet such spaces in chapters 04 (VAEs), 06 (GANs) and 08
# (flows), and there we will repeat this experiment.

# %% [markdown]
# ## 10 · Verify: what we now know
#
# *Strategy: verify and refine.* Everything this chapter claims rests on a number printed
# above. In one place:

# %%
summary = [
    ("digits of 2^256 (16x16 binary images)", f"{digits(2 ** 256)}"),
    ("distinct images among the training digits", f"{n_distinct} of {len(train)}"),
    ("neighbour agreement: test digits / blobs / uniform",
     " / ".join(f"{s.mean():.2f}" for _, s in stats.values())),
    ("P(uniform image as smooth as 99% of digits)", f"{float(p):.1e}"),
    ("median distance to nearest training digit: test / blobs / uniform",
     " / ".join(f"{d.median():.0f}" for d in nn_dist.values())),
    ("label purity of 10 neighbours: test / blobs / uniform",
     " / ".join(f"{v.mean():.2f}" for v in purity.values())),
    ("share captured by the digits' top 20 directions: test / blobs / uniform",
     " / ".join(f"{captured(x, 20):.0%}" for x in kinds.values())),
]
for name, value in summary:
    print(f"{name:>72}: {value}")
print(f"\nwall time {time.perf_counter() - START:.1f} s; {runtime.describe()}")

# %% [markdown]
# So the problem is now precise. Find $\theta$ such that $f(x, \theta, Z)$, with a fresh
# random $Z$ each time, produces images distributed like the real digits of label $x$:
# images that sit on a thin, curved sliver of a space with $2^{256}$ points, that are smooth
# locally, coherent globally, and new (not copies of training digits).

# %% [markdown]
# ## Exercises
#
# **1. Counting.** How many decimal digits does the number of (a) 28x28 binary images,
# (b) 64x64 colour images with 8 bits per channel have? Which is larger: (a), or the number
# of 16x16 images with 4 grey levels?
#
# <details><summary>Solution</summary>
#
# `digits(2 ** 784)` is 237; `digits(256 ** (64 * 64 * 3))` is 29,593. Sixteen by sixteen with 4 levels is $4^{256} = 2^{512}$, which has 155 digits, so
# 28x28 binary ($2^{784}$) is larger. In general $\log_{10}(L^{n}) = n \log_{10} L$:
# the exponent (the number of pixels) dominates everything.
#
# </details>
#
# **2. A bound of your own.** Using `binomial_tail_at_least`, how many uniform random
# images would you expect to draw before one has *vertical* agreement of at least 0.9?
# Why is it fine to reuse the horizontal argument for vertical pairs?
#
# <details><summary>Solution</summary>
#
# Vertical pairs are horizontal pairs of the transposed image, and a uniform random image
# transposed is still uniform random, so the count of agreeing vertical pairs is also
# Binomial$(240, \tfrac12)$. Then
# ```python
# p = binomial_tail_at_least(240, math.ceil(0.9 * 240))
# print(f"about 10^{-math.log10(p):.0f} draws")
# ```
# gives about $10^{39}$ draws (the expected waiting time is $1/p$). Note that we cannot simply
# multiply the horizontal and vertical probabilities: the two counts share pixels and are not
# independent.
#
# </details>
#
# **3. How much noise does it take?** Flip each pixel of the test digits independently with
# probability $q$ (use `torch.bernoulli` and `(x + flips) % 2`). Plot the median distance
# to the nearest training digit and the label purity against $q \in [0, 0.5]$. What do you
# get at $q = 0.5$, and why? At which $q$ do the digits stop looking like digits to *you*?
#
# <details><summary>Solution</summary>
#
# ```python
# qs = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]
# for q in qs:
#     flips = torch.bernoulli(torch.full_like(test.images, q))
#     noisy = (test.images + flips) % 2
#     d = nearest(noisy, train.images)[0][:, 0]
#     print(f"q={q:.2f}: median distance {d.median():.0f}, purity {label_purity(noisy).mean():.2f}")
# ```
# On the full training set we measured median distances of 17, 27, 37, 56, 74 and 108
# pixels: roughly linear in $q$, while purity falls towards the value for noise. At
# $q = 0.5$ each pixel ends up a fair coin *whatever* it was before, so the images are exactly
# uniform random and the numbers match section 7. Most people still read the digits at
# $q = 0.1$, while the distance has already grown a lot: our eyes judge shape, and the
# Hamming distance charges every flipped pixel the same. A good measuring stick for
# "looks like a digit" has to be smarter than pixel counting, which is why later chapters
# compare images through the features of a trained classifier.
#
# </details>
#
# **4. Formulate other problems.** Write the $x$ and the $Z$ of $y = f(x, \theta, Z)$ for
# (a) drawing a digit of no particular label, (b) completing the bottom half of a digit given
# its top half, (c) colouring in a black-and-white photograph.
#
# <details><summary>Solution</summary>
#
# (a) $x$ is empty (or a constant), $Z$ as before: unconditional generation, $f(\theta, Z)$.
# (b) $x$ is the top half, 8x16 pixels; $Z$ gives the variety, since many bottoms fit one
# top (the top of a 7 and of a 9 can look alike); $y$ is the bottom half, or the whole image
# with the top copied. Chapter 07 does exactly this. (c) $x$ is the grey image, $y$ the colour
# image; $Z$ is still needed because a grey car could have been red or blue.
#
# </details>
#
# **5. Another dataset.** Repeat the measurements of sections 7 and 8 on Fashion-MNIST
# (`data.fashion_mnist("train", size=16, binarize="static")`): the nearest-neighbour
# distances, and how many directions hold 90% of the variance, binary and grey. Is
# clothing "lower-dimensional" than handwriting?
#
# <details><summary>Solution</summary>
#
# ```python
# fashion = data.fashion_mnist("train", size=16, binarize="static").subset(N_TRAIN)
# fashion_grey = data.fashion_mnist("train", size=16).subset(N_TRAIN)
# for name, d in [("binary", fashion), ("grey", fashion_grey)]:
#     values = torch.linalg.eigvalsh(torch.cov(d.images.flatten(1).T)).flip(0)
#     print(name, directions_for(0.9, values))
# ```
# The answer depends on the version. On the full training set we measured that grey
# clothing needs *fewer* directions than grey digits (18 against 37 for 90% of the
# variance: garments are big smooth shapes that vary mostly in size and brightness), but
# binary clothing needs *more* (161 against 93), because clothes have much more mid-grey
# area, and every mid-grey pixel becomes a coin flip. The lesson is the one from section 3: how we
# simplify the data changes what we measure.
#
# </details>

# %% [markdown]
# ## The bridge to chapter 01
#
# We have a precise goal, $y = f(x, \theta, Z)$ with the output distributed like the data,
# and we know what it is up against: a target that is a thin, curved sliver of an enormous
# space, which random guessing never hits. We also have measuring sticks: distance to the
# nearest training digit, neighbour agreement, label purity, and the class means as a
# warning sign. What is the simplest thing that could possibly work? We know networks that
# map inputs to outputs, and we have pairs of (label, image). So in chapter 01 we take a
# plain multi-layer perceptron, feed it a one-hot label and a noise vector $Z$, and train it
# to output the digit's pixels under **mean squared error**, like any regression. Then we
# look carefully at what it draws, and at those ten grey ghosts.
