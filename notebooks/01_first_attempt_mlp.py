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
# # 01 · A first attempt: an MLP trained with squared error
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Chapter 00 gave us a precise goal, a function $y = f(x, \theta, Z)$ that
# turns a label $x$ and random noise $Z$ into an image distributed like real digits, and a
# few measuring sticks. Now we try the simplest thing that could possibly work. We already
# have pairs of (label, image) and networks that learn input-to-output maps, so we treat
# drawing as **regression**: a multi-layer perceptron (MLP) takes a one-hot label and 100
# numbers of noise and outputs 16x16 pixels, trained with mean squared error (MSE). It will
# fail, in two ways that are easy to see: the digits are blurry, and they hardly depend on
# the label. The interesting part is the detective work after that. We will not guess at
# the causes; for each suspect we run an experiment that can convict or acquit it, and we
# end up knowing which parts of this first attempt to keep and which to throw away.

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
import copy
import time

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import drawjourney as dj
from drawjourney import data, metrics, plot, runtime, train, widgets
from drawjourney.models import mlp

FAST = runtime.fast_mode()
DEVICE = runtime.device()
GEN = runtime.seed(0)  # a seeded CPU generator: every noise vector we look at comes from it

N_TRAIN = 10_000 if FAST else 60_000   # training digits
N_TEST = 2_000 if FAST else 10_000     # test digits, for every number we report
STEPS = 400 if FAST else 3_000         # optimisation steps per model
BATCH = 128 if FAST else 256
LR = 2e-3                              # Adam's learning rate
N_Z = 50 if FAST else 200              # noise vectors per label when we probe a model
N_FID = 1_000 if FAST else 10_000      # samples per model for the common instruments (section 9)
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; {N_TRAIN} training and {N_TEST} "
      f"test digits; {STEPS} steps of batch {BATCH} per model")

# %% [markdown]
# ## 1 · The idea: drawing as regression
#
# *Strategy: diagnose the problem type, and reach for a tool that already exists.* We know
# how to fit a network that maps inputs to outputs when we have examples of both. Here the
# examples are MNIST digits, shrunk to 16x16 and made black-and-white exactly as in
# chapter 00, each with its label. The plan, in the smallest form that can work:
#
# - **Inputs.** The label as a **one-hot** vector $e_y \in \{0,1\}^{10}$ (a 1 in position
#   $y$), next to a **noise** vector $z \in \mathbb{R}^{100}$ drawn from $\mathcal N(0, I)$.
#   The noise is our source of variety: the same label with different $z$ should give
#   different ways of writing that digit.
# - **Network.** Three fully connected layers, $110 \to 256 \to 512 \to 256$, with ReLU in
#   between and a sigmoid at the end so every pixel lands in $(0, 1)$.
# - **Output.** 256 numbers, reshaped to a 16x16 image.
# - **Loss.** The mean squared error between the drawn image and a real one, as in any
#   regression problem.
#
# ## 2 · Formulate
#
# *Strategy: formulate the problem clearly.* With $\sigma$ the sigmoid and $P = 256$ pixels,
#
# $$\hat x = f_\theta(y, z) = \sigma\big(W_3\,\mathrm{relu}(W_2\,\mathrm{relu}(W_1 [e_y; z] + b_1) + b_2) + b_3\big) \in (0,1)^{P},$$
#
# $$L(\theta) = \mathbb{E}\,\frac{1}{P}\,\lVert f_\theta(y, z) - x \rVert^2,$$
#
# where the expectation runs over training images $x$, the label $y$ that goes in with
# them, and fresh noise $z \sim \mathcal N(0, I)$. Keep an eye on that phrase, "the label
# that goes in with them". It will matter.

# %%
train_set = data.mnist("train", size=16, binarize="static", device=DEVICE).subset(N_TRAIN)
test_set = data.mnist("test", size=16, binarize="static", device=DEVICE).subset(N_TEST)
print(f"train {tuple(train_set.images.shape)}, test {tuple(test_set.images.shape)}, "
      f"pixel values {train_set.images.unique().tolist()}")
fig = plot.grid(train_set.images[:20], labels=train_set.labels[:20], nrow=10,
                title="20 training digits (16x16, binary) with their labels")
fig

# %% [markdown]
# ## 3 · Build
#
# The network is plain PyTorch; the package keeps it as `mlp.MLPGenerator`. The one idea in
# its forward pass is how the two inputs meet: the one-hot label and the noise are simply
# stacked into one vector of length 110. We write that here and check it against the
# package's version, using the package model's own layers.

# %%
def my_forward(net, labels, z):
    """The generator's forward pass: labels (B,) and z (B, 100) -> images (B, 1, 16, 16)."""
    inputs = torch.cat([F.one_hot(labels, 10).float(), z], dim=1)   # [e_y; z], (B, 110)
    return net(inputs).view(-1, 1, 16, 16)                           # 256 pixels as 16x16


model = mlp.MLPGenerator(mlp.MLPConfig()).to(DEVICE)
y_check = torch.tensor([0, 3, 9], device=DEVICE)
z_check = torch.randn(3, 100, generator=GEN).to(DEVICE)
torch.testing.assert_close(my_forward(model.net, y_check, z_check), model(y_check, z_check))
print(model)
print(f"{model.n_parameters():,} parameters; forward pass matches the package")

# %% [markdown]
# Now the training step. This is the step of the seed story's appendix code, written in
# our words: take a batch of real images, draw a label and a noise vector for each,
# generate, and pull the generated pixels towards the real ones. Then we check it against
# the package's `mlp.make_step(..., pair_labels=False)` by running both on twin copies of
# the model, from the same random state, on the same batch: afterwards every weight must
# agree.

# %%
def seed_step(model, optimizer, batch):
    """One step of the seed's training code: MSE between f(label, z) and a batch of real images."""
    x, y = batch                                               # x (B, 1, 16, 16), y (B,)
    labels = torch.randint(0, 10, y.shape, device=x.device)    # a random label for each image
    z = torch.randn(x.shape[0], 100, device=x.device)          # fresh noise for each image
    loss = ((model(labels, z) - x) ** 2).mean()                # MSE over pixels and batch
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def same_step(step_a, make_b, start, batch):
    """Run my step and the package's step on twin copies of `start` from one random state; compare."""
    twins = [copy.deepcopy(start) for _ in range(2)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=LR) for m in twins]
    torch.manual_seed(1)
    loss_a = step_a(twins[0], optimizers[0], batch)
    torch.manual_seed(1)
    loss_b = make_b(twins[1], optimizers[1])(batch)
    torch.testing.assert_close(loss_a, loss_b)
    for p_a, p_b in zip(twins[0].parameters(), twins[1].parameters()):
        torch.testing.assert_close(p_a, p_b)
    return loss_a.item()


check_batch = train_set.take(slice(0, 64))
loss = same_step(seed_step, lambda m, o: mlp.make_step(m, o, pair_labels=False), model, check_batch)
print(f"seed_step and mlp.make_step(pair_labels=False) agree (first loss {loss:.4f})")

# %% [markdown]
# ## 4 · Experiment: train it and look
#
# The seed story trained for 50 full-batch steps on 1,000 images. We give the same model,
# loss and step far more: more images, minibatches, thousands of steps, and a larger
# learning rate. If the result is still poor, "it was not trained enough" is off the list
# of suspects. Training goes through the course's one loop, `train.fit`.

# %%
runtime.seed(0)
seed_model = mlp.MLPGenerator(mlp.MLPConfig()).to(DEVICE)
seed_opt = torch.optim.Adam(seed_model.parameters(), lr=LR)
seed_hist = train.fit(mlp.make_step(seed_model, seed_opt, pair_labels=False),
                      data.batches(train_set, BATCH, seed=0), steps=STEPS, desc="seed's MLP")
print(f"{seed_hist.steps} steps in {seed_hist.seconds:.1f} s on {runtime.describe()}")
print(f"mean loss, first 10% of steps {sum(seed_hist.losses['loss'][:STEPS // 10]) / (STEPS // 10):.4f}; "
      f"last 10% {seed_hist.last(n=STEPS // 10):.4f}")

# %% [markdown]
# To see what it learned we ask for every label, 0 to 9 across, each row with one noise
# vector shared by the whole row.

# %%
def label_grid(model, z):
    """All ten labels for each noise vector: z (R, 100) -> images (R*10, 1, 16, 16), row-major."""
    labels = torch.arange(10, device=DEVICE).repeat(z.shape[0])
    return model.sample(labels, z.repeat_interleave(10, dim=0)), labels


z_rows = torch.randn(3, 100, generator=GEN).to(DEVICE)
seed_samples, grid_labels = label_grid(seed_model, z_rows)
fig = plot.grid(seed_samples, labels=[f"asked {k}" for k in grid_labels.tolist()], nrow=10,
                title="the seed's MLP: columns ask for digits 0-9, each row one noise vector")
fig

# %% [markdown]
# We reproduced both failures of the seed story. Something digit-like appears: ink in the
# middle, empty borders. But (1) it is a grey **blur** rather than strokes, and (2) the ten
# columns look **the same**, although we asked for ten different digits. The rows look the
# same too, so the noise does nothing either.
#
# Suspects, from the seed story's own list: the loss (MSE rewards "average" pixels?), the
# label handling (is the label reaching the network?), and the architecture (an MLP sees a
# flat vector and knows nothing about neighbouring pixels). Instead of arguing about them,
# we test each one.

# %% [markdown]
# ## 5 · Diagnose (a): what output does MSE ask for?
#
# *Strategy: use an identity.* Fix one input $(y, z)$. Whatever the network is, for this
# input it outputs a single image $c$, while the targets $x$ that come with this input vary.
# Write $\mu = \mathbb E[x \mid y, z]$ for their mean. Then, since $\mathbb E[x - \mu] = 0$
# kills the cross term,
#
# $$\mathbb E\lVert x - c\rVert^2 = \mathbb E\lVert (x - \mu) + (\mu - c)\rVert^2
# = \mathbb E\lVert x - \mu\rVert^2 + \lVert \mu - c\rVert^2 \;\ge\; \mathbb E\lVert x - \mu\rVert^2 .$$
#
# So **the best output under MSE is the conditional mean** $\mu = \mathbb E[x \mid
# \text{input}]$, and nothing else. For binary pixels the mean of a pixel is the probability
# that it is on, a grey value. A mean of many different 3s is a grey smear where their
# strokes overlap: blur is not a bug of the training, it is what MSE asks for.
#
# Two conditional means are worth computing, since each is the best possible answer of a
# certain kind of network: the **global mean** $\mathbb E[x]$ (best if the output ignores the
# label) and the **class means** $\mathbb E[x \mid y]$ (best if the output ignores $z$).
# We compute the class means with a loop over the classes and check them against the
# package's `mlp.mse_optimum`, which does it with one matrix product.

# %%
class_means = torch.stack([train_set.images[train_set.labels == k].mean(0) for k in range(10)])
global_mean = train_set.images.mean(0, keepdim=True)
torch.testing.assert_close(class_means, mlp.mse_optimum(train_set.images, train_set.labels))
torch.testing.assert_close(global_mean, mlp.mse_optimum(train_set.images))

fig = Figure(figsize=(10.5, 2.9), layout="constrained")
ax_global, ax_rows = fig.subplots(1, 2, width_ratios=[1, 10])
plot.grid(global_mean, ax=ax_global, title="global mean")
plot.grid(torch.cat([class_means, seed_samples[:10]]),
          labels=[f"mean of {k}" for k in range(10)] + [f"MLP, asked {k}" for k in range(10)],
          nrow=10, ax=ax_rows, title="class means of the training digits (top) and the seed's MLP (bottom)")
fig.suptitle("what MSE asks for: the mean. The seed's MLP draws the global mean for every label")
fig

# %% [markdown]
# The bottom row looks like the global mean on the left, not like the class means above it.
# Now with numbers. *Strategy: bounds.* The identity says which **floor** each kind of
# network cannot go below: on the test set, predicting the global mean for every image
# scores the best MSE any label-blind output can score, and predicting the class mean
# scores the best any output that ignores $z$ can score. We also score one more
# "prediction": a *real* training digit of the right class, chosen at random. That is what
# a perfect artist would hand in.

# %%
def test_mse(prediction):
    """MSE on the test set of a prediction (N_TEST, 1, 16, 16) for each test digit."""
    return mlp.mse_loss(prediction, test_set.images).item()


def random_real_digits(labels, seed=0):
    """For each label, a random training digit of that class: (N, 1, 16, 16)."""
    gen = torch.Generator().manual_seed(seed)
    index = torch.empty(len(labels), dtype=torch.long)
    for k in range(10):
        pool = (train_set.labels == k).nonzero().squeeze(1).cpu()
        where = (labels == k).nonzero().squeeze(1).cpu()
        index[where] = pool[torch.randint(len(pool), (len(where),), generator=gen)]
    return train_set.images[index.to(DEVICE)]


floors = {
    "predict the global mean": test_mse(global_mean.expand_as(test_set.images)),
    "predict the class mean": test_mse(class_means[test_set.labels]),
    "predict a real digit of the class": test_mse(random_real_digits(test_set.labels)),
}
scores = {"seed's MLP (random labels)": test_mse(seed_model.sample(test_set.labels))}
for name, value in {**floors, **scores}.items():
    print(f"{name:>36}: test MSE {value:.4f}")

# %% [markdown]
# We measured three things worth stopping for.
#
# 1. The seed's MLP scores the **global-mean floor** (to three or four decimals): it has
#    found the best label-blind answer and draws it for every input.
# 2. The class means score better than the global mean: the label *is* worth something,
#    and an MSE-trained network that used it would score lower. This one does not.
# 3. A real digit of the right class scores about **twice as badly** as the class mean
#    (for independent $x, x'$ of one class,
#    $\mathbb E\lVert x - x'\rVert^2 = 2\,\mathbb E\lVert x - \mu\rVert^2$).
#    Under MSE a perfect artist loses to a blur. Keep that in mind: it is the deepest
#    problem of this chapter.
#
# Point 1 explains the blur and the sameness across labels at once, *if* the network never
# learns to use the label. Why would it not?

# %% [markdown]
# ## 6 · Diagnose (b): does the label reach the target?
#
# *Strategy: experiment.* First we measure how much the output depends on each input. For
# many noise vectors (`N_Z` of them) we generate all ten labels and compute, per pixel, the spread (standard
# deviation) **across labels** with the noise fixed, and **across noise** with the label
# fixed. For scale, the real digits have a spread of the class means across labels, and a
# spread of digits within one class. We also check whether each output is closest to the
# class mean of the label we asked for ("nearest class mean" accuracy); for real test digits
# this crude classifier is right most of the time, for label-blind outputs it is right 10%
# of the time. (Section 9 repeats the check with a real classifier.)

# %%
def nearest_class_mean(images):
    """The label whose training class mean is nearest (squared distance) to each image: (N,)."""
    return torch.cdist(images.flatten(1), class_means.flatten(1)).argmin(1)


def probe(model, seed=1):
    """How the outputs depend on label and noise; returns a dict of numbers."""
    z = torch.randn(N_Z, 100, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    out = torch.stack([model.sample(torch.full((N_Z,), k, device=DEVICE), z)
                       for k in range(10)])                      # (10 labels, N_Z, 1, 16, 16)
    asked = torch.arange(10, device=DEVICE)[:, None].expand(10, N_Z)
    return {
        "spread across labels": out.std(0).mean().item(),
        "spread across noise": out.std(1).mean().item(),
        "nearest class mean = asked": (nearest_class_mean(out.flatten(0, 1)) == asked.flatten()).float().mean().item(),
        "distance to global mean": (out - global_mean).pow(2).mean().sqrt().item(),
        "distance to asked class mean": (out - class_means[:, None]).pow(2).mean().sqrt().item(),
        "grey pixels (0.1-0.9)": ((out > 0.1) & (out < 0.9)).float().mean().item(),
    }


within_class = torch.stack([train_set.images[train_set.labels == k].std(0) for k in range(10)])
reference = {
    "spread across labels": class_means.std(0).mean().item(),
    "spread across noise": within_class.mean().item(),
    "nearest class mean = asked": (nearest_class_mean(test_set.images) == test_set.labels).float().mean().item(),
    "distance to global mean": (test_set.images - global_mean).pow(2).mean().sqrt().item(),
    "distance to asked class mean": (test_set.images - class_means[test_set.labels]).pow(2).mean().sqrt().item(),
    "grey pixels (0.1-0.9)": ((test_set.images > 0.1) & (test_set.images < 0.9)).float().mean().item(),
}
probes = {"real test digits": reference, "seed's MLP": probe(seed_model)}


def show_probes(probes):
    """Print the probe numbers, one column per model."""
    names = list(probes)
    print(f"{'':>28}" + "".join(f"{n:>24}" for n in names))
    for key in reference:
        print(f"{key:>28}" + "".join(f"{probes[n][key]:>24.4f}" for n in names))


show_probes(probes)

# %% [markdown]
# The numbers confirm the picture. For the seed's MLP the spread across labels is tiny next
# to the spread of the real class means, and the nearest-class-mean accuracy is at chance.
# The outputs sit right on the global mean.
#
# So the label is ignored. Why? Read the training step again, the one we copied from the
# seed story:
#
# ```python
# labels = torch.randint(0, 10, y.shape, device=x.device)    # a random label for each image
# ```
#
# The real label `y` of each image is **never used**. The network is told "draw a 7" and
# then graded against whatever image comes next in the batch, a 2 perhaps. The label it
# sees is independent of the target, so $\mathbb E[x \mid \text{label}, z] = \mathbb E[x]$,
# and by the identity of section 5 the best answer ignores the label. No architecture can
# fix this: there is no information in the label to use. The network did the right thing
# with the wrong data.
#
# The fix is one line. Here are the two steps side by side:
#
# | the seed's step | the fix |
# |---|---|
# | `labels = torch.randint(0, 10, y.shape)` | `labels = y` |
#
# We write the paired step and check it against `mlp.make_step(..., pair_labels=True)`.

# %%
def paired_step(model, optimizer, batch):
    """One MSE step where each image goes in with its own label."""
    x, y = batch
    labels = y                                                 # the fix: the image's own label
    z = torch.randn(x.shape[0], 100, device=x.device)
    loss = ((model(labels, z) - x) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


loss = same_step(paired_step, lambda m, o: mlp.make_step(m, o, pair_labels=True), model, check_batch)
print(f"paired_step and mlp.make_step(pair_labels=True) agree (first loss {loss:.4f})")

runtime.seed(0)
paired_model = mlp.MLPGenerator(mlp.MLPConfig()).to(DEVICE)
paired_opt = torch.optim.Adam(paired_model.parameters(), lr=LR)
paired_hist = train.fit(mlp.make_step(paired_model, paired_opt, pair_labels=True),
                        data.batches(train_set, BATCH, seed=0), steps=STEPS, desc="paired MLP")
print(f"{paired_hist.steps} steps in {paired_hist.seconds:.1f} s on {runtime.describe()}")

# %% [markdown]
# Both training curves, against the two floors from section 5 (here measured on the
# training digits, like the training loss):

# %%
train_floor_global = mlp.mse_loss(global_mean.expand_as(train_set.images), train_set.images).item()
train_floor_class = mlp.mse_loss(class_means[train_set.labels], train_set.images).item()
fig = plot.loss_curves({"seed's step (random labels)": seed_hist.losses["loss"],
                        "paired labels": paired_hist.losses["loss"]}, smooth=0.9,
                       title=f"training MSE, {STEPS} steps each "
                             f"({seed_hist.seconds + paired_hist.seconds:.0f} s together)")
ax = fig.axes[0]
ax.axhline(train_floor_global, color="C0", linestyle="--", linewidth=1, label="global-mean floor")
ax.axhline(train_floor_class, color="C1", linestyle="--", linewidth=1, label="class-mean floor")
ax.set_ylim(0.9 * train_floor_class, 1.5 * train_floor_global)
ax.set_ylabel("MSE per pixel")
ax.legend()
fig

# %% [markdown]
# Each curve falls quickly onto its own floor and stays there. The paired model now reaches
# the lower, class-mean floor. What does it draw?

# %%
paired_samples, _ = label_grid(paired_model, z_rows)
fig = Figure(figsize=(10.5, 4.0), layout="constrained")
plot.grid(torch.cat([class_means, paired_samples]),
          labels=[f"mean of {k}" for k in range(10)] + [f"MLP, asked {k}" for k in grid_labels.tolist()],
          nrow=10, ax=fig.add_subplot(),
          title="class means (top row) and the paired MLP, three noise vectors (rows 2-4)")
fig.suptitle("with paired labels the label matters, and the MLP draws the class mean")
fig

# %%
scores["paired MLP"] = test_mse(paired_model.sample(test_set.labels))
probes["paired MLP"] = probe(paired_model)
for name, value in {**floors, **scores}.items():
    print(f"{name:>36}: test MSE {value:.4f}")
print()
show_probes(probes)

# %% [markdown]
# The fix works, and exactly as far as the identity says it can. We measured:
#
# - the paired MLP's test MSE lands on the **class-mean floor**;
# - the spread across labels matches the spread of the real class means, and nearly every
#   output is nearest to the class mean we asked for. It even beats the real test digits on
#   this crude accuracy, which is a warning, not a success: the outputs are *more typical
#   than real digits*, because they *are* the class means;
# - the distance to the asked class mean is a small fraction of a real digit's distance to
#   its class mean, and most of its pixels are grey where real binary digits have none.
#
# The label matters now. The blur stays: it is what MSE asks for.

# %% [markdown]
# ## 7 · Diagnose (b, continued): the noise is ignored
#
# The probe table has one more number: the **spread across noise** of the paired MLP is
# tiny next to the spread of real digits within a class. The whole point of $z$ was variety,
# so let us feel it. Below, the sliders move five of the 100 noise dimensions and the
# dropdown picks the label. (The widget runs in a live notebook; the figure after it is the
# same experiment as a static strip, for a rendered page.)

# %%
def decode(z, label):
    """The paired MLP as a widget decoder: z (B, 100), label int -> (B, 1, 16, 16)."""
    return paired_model.sample(torch.full((z.shape[0],), int(label), device=DEVICE), z)


z0 = torch.randn(1, 100, generator=GEN).to(DEVICE)
scrubber = widgets.LatentScrubber(decode, z0, dims=range(5), labels=range(10), label=3, scale=10)
scrubber

# %%
z_low, z_high = z0.clone(), z0.clone()
z_low[:, 0], z_high[:, 0] = -3.0, 3.0
noise_change = (decode(z_low, 3) - decode(z_high, 3)).abs().max().item()
label_change = (decode(z0, 3) - decode(z0, 8)).abs().max().item()
print(f"moving z[0] from -3 to +3 changes a pixel by at most {noise_change:.4f}")
print(f"changing the label from 3 to 8 (same z) changes a pixel by up to {label_change:.4f}")
fig = scrubber.strip(dim=0, values=[-3, -2, -1, 0, 1, 2, 3],
                     title="paired MLP, label 3: sweeping noise dimension z[0] from -3 to 3")
fig

# %% [markdown]
# One noise dimension out of a hundred might be too small a push. So we change *all* of
# $z$: eight fresh noise vectors for the label 3, next to eight real 3s.

# %%
z_many = torch.randn(8, 100, generator=GEN).to(DEVICE)
real_threes = train_set.images[train_set.labels == 3][:8]
fig = plot.grid(torch.cat([decode(z_many, 3), real_threes]),
                labels=[f"z #{i}" for i in range(8)] + ["real 3"] * 8, nrow=8,
                title="paired MLP, label 3, eight noise vectors (top) against eight real 3s (bottom)")
fig

# %% [markdown]
# The real 3s are eight different 3s; the generated ones are one 3, eight times. The noise
# is ignored, and the identity explains it with no new idea: $z$ is drawn independently of
# the target image, just as the seed's labels were, so
# $\mathbb E[x \mid y, z] = \mathbb E[x \mid y]$ and the best MSE answer ignores $z$. We could
# repair the labels by pairing them with their images, but there is no "right" noise vector
# for a training image to pair it with. Whatever we feed in as $z$, a network trained to
# minimise squared error will learn to ignore it.
#
# That is the real diagnosis. MSE asks for **one** answer per input, the average, while
# drawing needs a **distribution** of answers per input. The label pairing was a bug; the
# blur and the missing variety are the loss itself.

# %% [markdown]
# ## 8 · Diagnose (c): how the MLP grows with the image
#
# *Strategy: bounds, by counting.* The seed story also noticed that this approach gets
# expensive fast as images grow. A fully connected layer from $m$ inputs to $n$ outputs has
# $mn$ weights and $n$ biases, so for $S \times S$ images our MLP has
#
# $$\#\theta(S) = (110 \cdot 256 + 256) + (256 \cdot 512 + 512) + (512 \cdot S^2 + S^2),$$
#
# which grows like $S^2$: only the last layer depends on the image size. But with fixed
# widths, 512 numbers must describe a whole image however large it is. If the hidden layers
# grow with the image instead (say, one as wide as the image, so that every output pixel can
# be "wired" to a pixel-sized feature), that single layer has $S^2 \cdot S^2 = S^4$ weights.
# We count both, with the formula written here checked against the package's
# `mlp.mlp_parameter_count` and against a real model's tensors.

# %%
def my_count(S, hidden=(256, 512)):
    """Weights and biases of the MLP 110 -> hidden -> S*S."""
    widths = [110, *hidden, S * S]
    return sum(m * n + n for m, n in zip(widths[:-1], widths[1:]))


for S in (16, 28):
    real = sum(p.numel() for p in mlp.MLPGenerator(mlp.MLPConfig(image_size=S)).parameters())
    assert my_count(S) == mlp.mlp_parameter_count(mlp.MLPConfig(image_size=S)) == real
print("formula, package and model agree at S = 16 and 28")

sizes = [16, 28, 64, 128, 256, 512, 1024]
fixed = [my_count(S) for S in sizes]
wide = [my_count(S, hidden=(256, S * S)) for S in sizes]
conv3x3 = 64 * 64 * 9 + 64   # one 3x3 convolution, 64 channels in and out, any image size
print(f"{'S':>6} {'fixed widths (256, 512)':>25} {'last hidden as wide as image':>30} {'wide, in float32':>18}")
for S, a, b in zip(sizes, fixed, wide):
    print(f"{S:>6} {a:>25,} {b:>30,} {4 * b / 2**30:>14.3g} GiB")

fig = Figure(figsize=(6.0, 3.8), layout="constrained")
ax = fig.add_subplot()
ax.loglog(sizes, fixed, "o-", label="MLP, fixed widths (256, 512): ~ S^2")
ax.loglog(sizes, wide, "s-", label="MLP, last hidden layer S^2 wide: ~ S^4")
ax.axhline(conv3x3, color="grey", linestyle="--", label="one 3x3 conv layer, 64 channels")
ax.set(xlabel="image side S (pixels)", ylabel="parameters", title="parameters against image size")
ax.legend(fontsize=8)
fig

# %% [markdown]
# At 16x16 our MLP is small, under 300 thousand parameters, and the experiments above took
# seconds. But a fully connected layer pays for every pair of (input, output) units: at
# 256x256, a layer as wide as the image would need about four billion weights, some 16 GiB
# in float32, for one layer, and grey images only. Convolutions, the tool
# that made image *classification* work, break this pattern: a 3x3 filter is reused at
# every position, so its cost does not depend on the image size at all (the dashed line).
# That is a strong reason to try them next. Whether it fixes the *blur* is another
# question, and section 7 already predicts the answer.

# %% [markdown]
# ## 9 · Verify: what we now know
#
# *Strategy: verify.* Every claim of this chapter, with the number that backs it:

# %%
claims = {
    "seed's MLP: test MSE vs global-mean floor":
        (scores["seed's MLP (random labels)"], floors["predict the global mean"]),
    "paired MLP: test MSE vs class-mean floor":
        (scores["paired MLP"], floors["predict the class mean"]),
    "a real digit's MSE vs the class mean's":
        (floors["predict a real digit of the class"], floors["predict the class mean"]),
    "seed's MLP: spread across labels vs real":
        (probes["seed's MLP"]["spread across labels"], reference["spread across labels"]),
    "paired MLP: spread across labels vs real":
        (probes["paired MLP"]["spread across labels"], reference["spread across labels"]),
    "paired MLP: spread across noise vs real":
        (probes["paired MLP"]["spread across noise"], reference["spread across noise"]),
}
for claim, (ours, ref) in claims.items():
    print(f"{claim:<44} {ours:8.4f} vs {ref:8.4f}   ratio {ours / ref:6.2f}")

# %% [markdown]
# - **Blur** is the MSE optimum, not a training failure: both models reach the lowest MSE
#   their inputs allow (ratio about 1.00), and that optimum is a mean.
# - **Labels ignored** was a data bug: the seed's step paired each image with a random
#   label. Pairing them makes the spread across labels match the real class means.
# - **Noise ignored** is the same mechanism, and no pairing can fix it: the noise spread of
#   the paired MLP is a small fraction of the real within-class spread.
# - **A real digit scores about twice as badly as a blur** under MSE: the loss itself
#   prefers the wrong answer.
# - **Size:** a fully connected generator's parameters grow like $S^2$ to $S^4$ with the
#   image side.

# %% [markdown]
# ### The course's common instruments
#
# Every check so far was home-made for this chapter: MSE floors, spreads, and a
# nearest-class-mean classifier. From now on each chapter also measures its models with the
# same three instruments from `drawjourney.metrics`. They rest on a **judge**, a small
# convolutional MNIST classifier trained by the package (99.4% right on the grey 28x28
# test digits; our 16x16 images are upsampled inside it):
#
# - **label accuracy**: ask the model for label $k$ and count how often the judge reads the
#   sample as $k$. A label-blind model scores about 10%.
# - **class histogram**: which digits the judge reads over all samples, summed up by its
#   **entropy** in bits ($\log_2 10 \approx 3.32$ when all ten digits appear equally often,
#   0 when every sample is read as the same digit) and the **share of the most common
#   digit** (0.1 when uniform, 1 when one digit takes all).
# - **FID-MNIST**: fit one Gaussian to the judge's internal features (the 64 numbers just
#   before its last layer) of the samples and another to those of the real test digits
#   (all 10,000, grey, 16x16), and take the Fréchet distance between the two Gaussians.
#   It is 0 when the two sets look alike to the judge. It grows when the samples look
#   unlike real digits, and also when they lack the *variety* of real digits, because the
#   spread of the features enters through their covariance. It depends on how many samples
#   go in (fewer samples, larger FID), so every row below uses the same number, `N_FID`.
#   And it is comparable **only within this course** (same judge, same reference), never
#   with the FID values of papers, which use a different network.
#
# These are the numbers chapter 10 will put side by side for every model of the course.
# Each model is asked for the labels of the first `N_FID` test digits, with fresh noise.
# For comparison we score the **class means** themselves (the MSE optimum, one image per
# label), the real test digits binarized as our training data is, and the same digits in
# grey, which are the FID reference itself.

# %%
asked = test_set.labels[:N_FID]                                  # the labels we ask for
noise = torch.Generator().manual_seed(2)
instrument_rows = {
    "seed's MLP (random labels)": seed_model.sample(asked, generator=noise),
    "paired MLP": paired_model.sample(asked, generator=noise),
    "class means (the MSE optimum)": class_means[asked],
    "real test digits, binarized": test_set.images[:N_FID],
    "real test digits, grey": data.mnist("test", size=16, device=DEVICE).images[:N_FID],
}
common = {}
for name, samples in instrument_rows.items():
    histogram = metrics.class_histogram(samples)
    common[name] = {
        "label accuracy": metrics.label_accuracy(samples, asked),
        "entropy (bits)": histogram.entropy_bits,
        "max fraction": histogram.max_fraction,
        "commonest digit": int(histogram.counts.argmax()),
        "FID-MNIST": metrics.fid_mnist(samples),
        "fractions": histogram.fractions,
    }

print(f"Table 1 · the common instruments, {N_FID:,} samples per row "
      f"(FID-MNIST against the grey 16x16 test split)")
print(f"{'':>30} {'label acc.':>10} {'entropy':>8} {'max frac.':>9} {'commonest':>9} {'FID-MNIST':>10}")
for name, m in common.items():
    print(f"{name:>30} {m['label accuracy']:>10.3f} {m['entropy (bits)']:>8.2f} {m['max fraction']:>9.3f} "
          f"{m['commonest digit']:>9d} {m['FID-MNIST']:>10.1f}")
paired_reads = metrics.judge().predict(instrument_rows["paired MLP"]).to(asked.device)
per_label = [(paired_reads[asked == k] == k).float().mean().item() for k in range(10)]
print("\npaired MLP, label accuracy per asked digit: "
      + "  ".join(f"{k}: {a:.2f}" for k, a in enumerate(per_label)))
for k in range(10):
    reads_k = paired_reads[asked == k]
    wrong = reads_k[reads_k != k]
    if len(wrong) > 0.05 * len(reads_k):                          # digits missed more than 5% of the time
        j = int(wrong.bincount(minlength=10).argmax())
        print(f"paired MLP, asked for digit {k}: read as digit {j} in {(reads_k == j).float().mean():.2f} of samples")
print(f"\nwhole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")

# %%
fig = Figure(figsize=(8.0, 3.4), layout="constrained")
ax = fig.add_subplot()
shown = ["seed's MLP (random labels)", "paired MLP", "real test digits, binarized"]
for i, name in enumerate(shown):
    ax.bar(torch.arange(10) + (i - 1) * 0.27, common[name]["fractions"], width=0.27, label=name)
ax.axhline(0.1, color="grey", linestyle="--", linewidth=1, label="uniform (0.1)")
ax.set(xticks=range(10), xlabel="digit the judge reads", ylabel="share of samples",
       title=f"class histograms: the digit the judge reads in each sample ({N_FID:,} per row)")
ax.legend(fontsize=8)
fig

# %% [markdown]
# Table 1 and the figure say, in the course's common units, what the whole chapter found.
# We measured:
#
# - **The seed's MLP** gets about 10% label accuracy, chance level. The judge reads every
#   one of its samples as the same digit (entropy 0 bits, max fraction 1.00; an 8 in our
#   full run): the one global-mean blob, drawn for every label. Its FID-MNIST is by far the
#   largest, around 700.
# - **The paired MLP** draws recognisable digits: the judge agrees with the asked label
#   about 94% of the time in the full run, and its histogram is close to uniform, like the
#   labels we asked for. The misses sit in a few digits (the lines under the table): about
#   a sixth of its 1s, nearly a third of its 5s and an eighth of its 9s are read as 8s,
#   which is why 8 is its commonest reading. The exact class means are all read correctly, so the MLP's small
#   departures from them are enough to tip a blurry 1 or 5 over to the judge's 8. Yet its
#   FID, about 137, is far from that of real digits and
#   close to that of the class means (about 140). That is the missing variety in one number:
#   every sample of a class is the same blurry mean, so the features of all its samples
#   collapse onto ten points, where real digits spread out.
# - **Real digits** hold a surprise. The judge reads our binarized 16x16 test digits
#   correctly only about 94% of the time, against about 99% for the same digits in grey.
#   Static binarization draws every pixel black or white, with its grey level as the
#   chance of ink; in an image this small that breaks some strokes so badly
#   that even a careful reader cannot tell the digit. The class means, blurry as they
#   are, get 100%. As with the nearest-class-mean check of
#   section 6, a blur can beat real digits at *being recognised*, so label accuracy alone
#   would flatter this chapter's models. FID does not: the binarized real digits score
#   about 10, the class means about 140. Since FID-MNIST compares with the grey test
#   digits, about 10 is roughly what a perfect artist for our black-and-white training
#   data would score at this sample size; the grey row scores 0 in the full run because it
#   *is* the reference.
#
# So the paired MLP passes the label test and fails the variety test, exactly as the
# identity of section 5 predicts for any model trained with MSE.

# %% [markdown]
# ## Exercises
#
# **1. Drop the noise.** If the paired MLP ignores $z$, it should do just as well without
# it. Train it with `mlp.MLPConfig(z_dim=0)` and compare the test MSE with the class-mean
# floor. Then try `z_dim=1000`.
#
# <details><summary>Solution</summary>
#
# ```python
# for z_dim in (0, 1000):
#     runtime.seed(0)
#     m = mlp.MLPGenerator(mlp.MLPConfig(z_dim=z_dim)).to(DEVICE)
#     o = torch.optim.Adam(m.parameters(), lr=LR)
#     train.fit(mlp.make_step(m, o, pair_labels=True), data.batches(train_set, BATCH), steps=STEPS)
#     print(z_dim, test_mse(m.sample(test_set.labels)), floors["predict the class mean"])
# ```
# With `z_dim=0` the network is a function of the label alone, and it reaches the
# class-mean floor just the same: the noise contributed nothing. With `z_dim=1000` it also
# lands on the floor (perhaps a little more slowly, since it must learn to silence a
# thousand useless inputs). The noise dimension does not matter, because the loss gives
# the noise no job.
#
# </details>
#
# **2. Another loss, another average.** Replace the squared error by the absolute error
# $\frac1P \lVert f(y,z) - x\rVert_1$. What is the best constant output now? Predict what
# the paired MLP draws, then check.
#
# <details><summary>Solution</summary>
#
# For one pixel, $\mathbb E|x - c|$ has derivative $P(x < c) - P(x > c)$ in $c$, which is
# zero at a **median**. For a binary pixel that is on with probability $p$, the median is 1
# if $p > 1/2$ and 0 if $p < 1/2$. So the L1-optimal image is the class mean *thresholded
# at 1/2*: sharp, black and white, but still one image per label, and a rather
# skeletal one, since only pixels that are on in most 3s survive.
#
# ```python
# def l1_step(model, optimizer, batch):
#     x, y = batch
#     z = torch.randn(x.shape[0], 100, device=x.device)
#     loss = (model(y, z) - x).abs().mean()
#     optimizer.zero_grad(); loss.backward(); optimizer.step()
#     return loss.detach()
#
# m = mlp.MLPGenerator(mlp.MLPConfig()).to(DEVICE)
# o = torch.optim.Adam(m.parameters(), lr=LR)
# train.fit(lambda b: l1_step(m, o, b), data.batches(train_set, BATCH), steps=STEPS)
# plot.grid(torch.cat([m.sample(torch.arange(10, device=DEVICE)), (class_means > 0.5).float()]),
#           nrow=10, title="L1-trained MLP (top) vs class means thresholded at 1/2 (bottom)")
# ```
# A different loss picks a different summary of the same distribution. Sharpness alone
# does not bring variety back.
#
# </details>
#
# **3. Half-paired labels.** Suppose a data pipeline bug pairs the right label with only
# half of the images and a random label with the rest. What does the MSE-optimal output
# for label $k$ become? Check your formula with `make_step` modified accordingly.
#
# <details><summary>Solution</summary>
#
# Given that label $k$ went in, the target is the right class with probability
# $P(\text{paired} \mid k)$ and any class otherwise. With balanced classes,
# $P(\text{target class} = k \mid \text{label } k) = \tfrac12 + \tfrac12 \cdot \tfrac1{10} = 0.55$,
# and each other class has $0.05$, so the optimum is
# $\mu_k^\ast = 0.5\,\mu_k + 0.5\,\bar\mu$, halfway between the class mean and the global
# mean (with $\bar\mu$ the global mean). A weaker label signal gives a washed-out class mean:
#
# ```python
# def half_paired_step(model, optimizer, batch):
#     x, y = batch
#     random = torch.randint(0, 10, y.shape, device=x.device)
#     labels = torch.where(torch.rand(y.shape, device=x.device) < 0.5, y, random)
#     z = torch.randn(x.shape[0], 100, device=x.device)
#     loss = mlp.mse_loss(model(labels, z), x)
#     optimizer.zero_grad(); loss.backward(); optimizer.step()
#     return loss.detach()
# ```
# After training a model `m` with this step (as in exercise 2),
# `mlp.mse_loss(m.sample(torch.arange(10, device=DEVICE)), 0.5 * class_means + 0.5 * global_mean)`
# comes out far smaller than the distance of the same samples to the class means or to
# the global mean.
#
# </details>
#
# **4. Count for colour.** How many parameters would our MLP (widths 256, 512) need for
# 256x256 RGB images? And a version whose last hidden layer is as wide as the output?
#
# <details><summary>Solution</summary>
#
# The output now has $3 \cdot 256^2 = 196{,}608$ numbers. With fixed widths,
# `my_count` with `S*S` replaced by 196,608 gives
# $28{,}416 + 131{,}584 + 512 \cdot 196{,}608 + 196{,}608 \approx 1.0 \times 10^8$.
# A last hidden layer as wide as the output needs $196{,}608^2 \approx 3.9 \times 10^{10}$
# weights for that layer alone, about 144 GiB in float32.
#
# </details>

# %% [markdown]
# ## The bridge to chapter 02
#
# The first attempt failed, and now we know why, piece by piece. The label was ignored
# because of a pairing bug, which one line fixed. The blur and the missing variety are not
# bugs at all: squared error is minimised by the conditional mean, so any network trained
# this way, however clever, draws one average image per label and learns to ignore the
# noise. That points at the **loss**, and at the lack of any probability model behind it,
# as the root problem, not the architecture. But a good scientist checks the other suspect
# before convicting. The MLP also knows nothing about the 2-D layout of pixels, and its
# size explodes with the image. So in chapter 02 we give the generator **convolutions**,
# the tool that made classification work: local filters reused across the image. If a
# convolutional generator trained with the same MSE still draws the class mean, we will
# know for certain that the next step has to change the loss.
