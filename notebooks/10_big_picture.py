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
# # 10 · The big picture: every model, measured side by side
#
# *Teaching Machines to Draw: a problem solver's journey*
#
# **Where we are.** Nine chapters ago we wrote the problem down as $y = f(x, \theta, Z)$:
# a label in, a fresh digit out. Since then every chapter has built one family of models,
# watched it fail in its own way, and let the diagnosis choose the next idea: squared
# error drew the class mean, the RBM drowned in its partition function, the VAE's bound
# blurred, DRAW drew step by step and still blurred, the GAN sharpened everything but had
# to be balanced like a see-saw, the PixelCNN had an exact likelihood and took 784 network
# passes per digit, the flow had one pass and drew scribbles, and diffusion traded one
# big map for many small denoising steps. Each chapter measured its own model on its own
# terms. This last chapter puts **all of them in one table**, on the same data, with the
# same instruments, and then does what the seeds only assert. Seed 002 ends its "big
# picture summary" by calling flows possibly "the best approach (sans runtime issues)";
# seed 001 ends with "each generative model has its pros and cons and there is no clear
# winner". We test both sentences against numbers. Then we look back at the problem-solving
# strategies the journey leaned on, chapter by chapter, and forward to what comes after
# ten classes of 28x28 digits.

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
import re
import tempfile
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

import drawjourney as dj
from drawjourney import bench, checkpoint, data, metrics, plot, runtime, zoo
from drawjourney.models import diffusion

FAST = runtime.fast_mode()
DEVICE = runtime.device()
runtime.seed(0)

CUDA = DEVICE.type == "cuda"


def size(fast, cpu, cuda):
    """One size per way of running: fast mode, default on CPU/MPS, default on CUDA."""
    return fast if FAST else (cuda if CUDA else cpu)


LIVE_FAMILIES = ("mlp", "conv", "gan")   # trained here by the harness: cheap, and no likelihood to estimate
LIVE_MINUTES = size(0.05, 0.75, 2.0)     # the harness's training budget per live family
N_LIVE = size(200, 2_000, 10_000)        # samples the harness scores per live model
N_PROBE = 10                             # first timed draw per model: labels 0-9, the sample figure's row
SAMPLE_SECONDS = size(0.2, 15.0, 20.0)   # time budget per model for the timed draw
N_MAX = size(100, 2_000, 10_000)         # at most this many samples per model in the timed draw
N_REAL = size(1_000, 10_000, 10_000)     # real training digits per reference row
START = time.perf_counter()
print(runtime.describe())
print(f"drawjourney {dj.__version__}; device {DEVICE}; harness live run {LIVE_MINUTES} min per family "
      f"({', '.join(LIVE_FAMILIES)}), scored on {N_LIVE:,} samples; timed draws of up to {N_MAX:,} samples "
      f"or {SAMPLE_SECONDS:g} s per model")

# %% [markdown]
# ## 1 · Formulate: what does "better" mean?
#
# *Strategy: formulate the problem clearly.* "Which model is best?" has no answer until we
# say best *at what*. Seed 002 lists its goodness criteria in one line: a high-quality
# image, with little compute and low latency. The course has built an instrument for each
# part of that, and one for the label we asked for in chapter 00:
#
# | column | what it measures | better is | where it was built |
# |---|---|---|---|
# | **likelihood** | $-\log p(x)$ of the test digits: nats per image on the course's one statically binarized test set (binary models), or bits per pixel on 8-bit MNIST with uniform dequantization (the flow) | lower | chapters 03, 04, 07, 08 |
# | **FID-MNIST** | the Fréchet distance between the judge's features of samples and of real test digits: realism and variety in one number | lower | chapter 01 |
# | **label accuracy** | how often the judge reads a conditional sample as the digit asked for | higher | chapter 01 |
# | **class entropy** | entropy of the judge's class histogram of the samples; $\log_2 10 = 3.32$ bits when every digit is equally common | near 3.32 | chapter 01 |
# | **parameters** | the size of the network | fewer | every chapter |
# | **training time** | wall time of the recipe that made the shipped checkpoint, and on what | less | the checkpoints' records |
# | **sampling time** | seconds to draw 100 images, measured *here, now*, on this machine | less | this chapter |
#
# Three warnings come with the table, each learned the hard way earlier on. The two
# likelihood units are **different quantities** (nats of binary images against bits per
# pixel of grey ones): compare within a unit only. FID-MNIST **depends on the number of
# samples** (fewer samples, larger FID) and on the image size (the 16x16 models are
# compared with the 16x16 test split), so the table prints both. And a conditional VAE's
# or DRAW's likelihood is of $x$ *given its label*, which is worth up to $\log 10 \approx
# 2.3$ nats (chapter 07); the table marks those.

# %% [markdown]
# ## 2 · Experiment: the harness, live
#
# *Strategy: experiment.* The package has one function that does everything this chapter
# needs for one family: `bench.measure_family` trains the family's recipe for a budget of
# minutes (or loads a checkpoint), draws samples, and scores them with the course's
# instruments. Every model file registers its family with the harness, so the harness
# itself knows no model by name. We list them, then let it train three cheap families
# from scratch, right now, for `LIVE_MINUTES` each: chapter 01's MLP, chapter 02's
# convolutional generator and chapter 06's DCGAN. (The others would spend most of their
# budget estimating a likelihood: the VAE's IWAE with $k = 5000$ alone takes about 25
# minutes on a CPU.) The harness saves each model it trains, with its measurements, as a
# checkpoint; the MLP joins the big table that way, because it is the one family with no
# shipped checkpoint.

# %%
families = bench.families()
for name, family in families.items():
    print(f"{name:>12}  {'conditional' if family.conditional else 'unconditional':>13}  {family.description}")

# %%
LIVE_TMP = tempfile.TemporaryDirectory(prefix="drawjourney-ch10-")   # removed when the kernel exits
LIVE_DIR = Path(LIVE_TMP.name)
live_results = {}
for name in LIVE_FAMILIES:
    runtime.seed(0)
    live_results[name] = bench.measure_family(families[name], minutes=LIVE_MINUTES, n_samples=N_LIVE,
                                              save_to=LIVE_DIR / f"{name}.pt")
print(bench.markdown_table(list(live_results.values())))

# %% [markdown]
# The harness prints its own table (FID-MNIST here on `N_LIVE` samples). Two of these
# families also ship a checkpoint trained with the same recipe for much longer, so the
# first lesson of the chapter is one line away: **how much of a model's number is its
# training budget?** And a second question hides in the FID column: how much of it is the
# number of samples? We ask the harness to score the shipped conditional GAN on `N_LIVE`
# samples, and compare with the 10,000-sample value recorded when it was made; and we
# score real digits, the best any model could do, at both sizes.

# %%
for name in ("conv", "gan"):
    rec = checkpoint.info(zoo.path(name))["metrics"]   # the record alone, no model built
    live = live_results[name]
    print(f"{name:>5}: trained here {live['train_seconds']:.0f} s -> FID-MNIST {live['fid_mnist']:.1f} "
          f"({N_LIVE:,} samples); shipped, trained {rec['train_seconds'] / 60:.0f} min -> "
          f"{rec['fid_mnist']:.1f} ({rec.get('n_samples', 10_000):,} samples)")

cgan_here = bench.measure_family(families["cgan"], checkpoint=zoo.path("cgan"), n_samples=N_LIVE)
cgan_rec = checkpoint.info(zoo.path("cgan"))["metrics"]
print(f" cgan: the shipped checkpoint scored by the harness here: FID-MNIST {cgan_here['fid_mnist']:.2f} on "
      f"{N_LIVE:,} samples; recorded {cgan_rec['fid_mnist']:.2f} on {cgan_rec.get('n_samples', 10_000):,}")

train_set = data.mnist("train", device=DEVICE)
train_grey = train_set.images
fid_real_small = metrics.fid_mnist(train_grey[:N_LIVE])
fid_real = metrics.fid_mnist(train_grey[:N_REAL])
print(f" real training digits against the test split: FID-MNIST {fid_real_small:.2f} on {N_LIVE:,}, "
      f"{fid_real:.2f} on {N_REAL:,}")

# %% [markdown]
# Read the lines as two controls. The first two compare the same recipe at two budgets:
# the live run's against the shipped recipe's minutes or hour. When we ran the default
# mode (45 seconds per family on one CPU thread), the convolutional generator had already
# reached its shipped model's FID-MNIST, because squared error converges quickly to the
# class means it asks for, while the GAN was still drawing noise (its class entropy of 0
# bits says every sample looked like the same digit to the judge). One budget is a
# finished model for one family and a useless one for another, so any comparison of
# *families* that ignores the budget compares budgets instead. The last two lines compare
# sample counts: the same checkpoint, and even real digits (as good as samples get),
# score worse on fewer samples, because a covariance estimated from few points looks
# unlike the reference's. So in the big table every FID says on how many samples it was
# measured, and only equal counts compare exactly.

# %% [markdown]
# ## 3 · The shipped models and what they recorded
#
# Every other model comes from its chapter's shipped checkpoint. `dj.pretrained(name)`
# loads it (weights only, never code), and `model.checkpoint_info` holds what was measured
# when it was made: the metrics, on 10,000 samples unless it says otherwise, the training
# wall time and the hardware, and the command that made it. We load all of them and print
# the record as it is; missing keys are part of the story (a checkpoint recorded before a
# metric existed, or a draft). This chapter compares the checkpoints in every mode, on a
# GPU too: retraining every family is the bench's job (`python -m drawjourney bench` on a
# GPU), not a notebook's.

# %%
shipped = {name: dj.pretrained(name).to(DEVICE).eval() for name in zoo.names()}
shipped["mlp"] = checkpoint.load(LIVE_DIR / "mlp.pt", device=DEVICE)   # trained by the harness above
for name, model in sorted(shipped.items()):
    rec, prov = model.checkpoint_info["metrics"], model.checkpoint_info["provenance"]
    keys = [k for k in ("test_nll_nats", "test_bits_per_dim", "fid_mnist", "n_samples", "label_accuracy",
                        "label_entropy_bits", "train_seconds") if k in rec]
    here = name == "mlp"
    print(f"{name:>12}: " + ", ".join(f"{k} {rec[k]:.4g}" for k in keys)
          + f"; hardware {rec.get('hardware', runtime.hardware() if here else '?')!r}")
    print(f"{'':>14}made by: {'this notebook, bench.measure_family (' + prov.get('note', '') + ')' if here else prov.get('command', '?')}")

# %% [markdown]
# ## 4 · Measure: sampling cost on this machine
#
# *Strategy: estimate before you spend.* Sampling costs differ by orders of magnitude: a
# GAN is one pass of a small network, a PixelCNN is 784 passes, a diffusion model is 50
# DDIM steps with guidance (two network evaluations each), an RBM is 1,000 Gibbs sweeps. A
# fixed number of samples per model would either take forever for the slow ones or be
# too small to time the fast ones. So we first draw `N_PROBE` = 10 samples per model
# (labels 0 to 9 for the conditional ones; these also fill the sample figure), estimate
# the cost of one image from them, and then draw as many as fit in `SAMPLE_SECONDS`, at
# most `N_MAX`, and at least the 10 we already know we can afford. Each model samples
# through its family's own `sample(model, n, labels)`, exactly what the harness uses.

# %%
def draw_timed(name, n):
    """(images, seconds) for n samples of shipped model `name`; labels 0..9 in turn if conditional."""
    family, model = families[name], shipped[name]
    labels = torch.arange(n, device=DEVICE) % 10 if family.conditional else None
    runtime.synchronize(DEVICE)
    t0 = time.perf_counter()
    with torch.no_grad():
        images = family.sample(model, n, labels)
    runtime.synchronize(DEVICE)
    return images, time.perf_counter() - t0


probe, timed = {}, {}
runtime.seed(0)
for name in shipped:
    probe[name], probe_seconds = draw_timed(name, N_PROBE)
    per_image = probe_seconds / N_PROBE
    n = max(N_PROBE, min(N_MAX, 10 * int(SAMPLE_SECONDS / per_image / 10)))
    images, seconds = draw_timed(name, n)
    timed[name] = dict(images=images, n=n, seconds_per_100=100 * seconds / n)
    print(f"{name:>12}: probe {1e3 * per_image:9.2f} ms per image -> timed draw of n = {n:>5,}: "
          f"{timed[name]['seconds_per_100']:.4f} s per 100")

# %% [markdown]
# ## 5 · The table
#
# One row per model, one column per instrument of section 1. Recorded numbers come from
# each checkpoint (10,000 samples unless the FID's $n$ says otherwise); the sampling time
# is this machine's, from section 4. Where a checkpoint records no FID, label accuracy or
# class entropy, we measure it here on the timed samples and mark the value with `*`: that
# $n$ is smaller, so such an FID reads high (section 2). Three reference rows score real
# training digits the same way: grey, statically binarized (what the binary models
# learned to draw), and binarized at 16x16 (what chapters 01 and 02 learned to draw).

# %%
def chapter_of(family):
    found = re.search(r"chapter (\d+)", family.description)
    return found.group(1) if found else "?"


def likelihood_of(family, rec):
    """(value, unit, estimator, given_label) from a checkpoint's record, or None where none is recorded.

    given_label: the number is -log p(x | y) (a conditional VAE or DRAW); the class-conditional
    PixelCNN and flow record p(x) itself (through their label prior) and p(x | y) under a
    separate "..._given_label" key."""
    given = family.conditional and not any("given_label" in k for k in rec)
    if "test_nll_nats" in rec:
        estimator = rec.get("test_nll_estimator", "exact" if "exact" in family.description else "?")
        return rec["test_nll_nats"], "nats", estimator.split(",")[0], given
    if "test_bits_per_dim" in rec:
        return rec["test_bits_per_dim"], "bits/dim", "exact", given
    return None


rows = {}
for name, model in shipped.items():
    family, rec = families[name], model.checkpoint_info["metrics"]
    images, n_here = timed[name]["images"], timed[name]["n"]
    labels = torch.arange(n_here, device=DEVICE) % 10
    row = dict(name=name, chapter=chapter_of(family), conditional=family.conditional, size=images.shape[-1],
               likelihood=likelihood_of(family, rec), params=sum(p.numel() for p in model.parameters()),
               params_recorded=rec.get("parameters"), train_seconds=rec.get("train_seconds"),
               hardware=rec.get("hardware", "?"), seconds_per_100=timed[name]["seconds_per_100"], n_here=n_here,
               fid=rec.get("fid_mnist"), fid_n=rec.get("n_samples", 10_000), fid_live=False,
               acc=rec.get("label_accuracy"), acc_live=False, entropy=rec.get("label_entropy_bits"),
               entropy_live=False, recorded=rec)
    if row["fid"] is None:
        row.update(fid=metrics.fid_mnist(images), fid_n=n_here, fid_live=True)
    if row["acc"] is None and family.conditional:
        row.update(acc=metrics.label_accuracy(images, labels), acc_live=True)
    if row["entropy"] is None:
        row.update(entropy=metrics.class_histogram(images).entropy_bits, entropy_live=True)
    if name == "mlp":
        row["hardware"] = rec.get("hardware", runtime.hardware())
    rows[name] = row
rows = dict(sorted(rows.items(), key=lambda kv: (kv[1]["chapter"], kv[0])))

reference = {}
for label, size_px, binarize in (("real digits, grey", 28, None), ("real digits, binarized", 28, "static"),
                                 ("real 16x16, binarized", 16, "static")):
    images = train_grey[:N_REAL] if binarize is None else \
        data.mnist("train", size=size_px, binarize=binarize, device=DEVICE).images[:N_REAL].clone()  # frees the rest
    reference[label] = dict(fid=metrics.fid_mnist(images), n=len(images), size=size_px,
                            acc=metrics.label_accuracy(images, train_set.labels[:N_REAL]),
                            entropy=metrics.class_histogram(images).entropy_bits)

# %% [markdown]
# The table is built as a small object that shows itself as a Markdown table in JupyterLab
# and as fixed-width text everywhere else (a terminal, a diff of the saved notebook).

# %%
class Table:
    """Rows of strings shown as a Markdown table (`_repr_markdown_`) or as aligned text (`repr`)."""

    def __init__(self, head, rows, notes=()):
        self.head, self.rows, self.notes = list(head), [list(r) for r in rows], list(notes)

    def _repr_markdown_(self):
        lines = ["| " + " | ".join(self.head) + " |", "|" + "---|" * len(self.head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n\n" + "<br>".join(self.notes)

    def __repr__(self):
        widths = [max(len(str(c)) for c in col) for col in zip(self.head, *self.rows)]
        fmt = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
        return "\n".join([fmt(self.head)] + [fmt(r) for r in self.rows] + [""] + self.notes)


def fmt(value, spec, live=False):
    return "-" if value is None else format(value, spec) + ("*" if live else "")


def fid_text(value, live=False):
    return fmt(value, ".0f" if value >= 100 else ".3g", live)


def likelihood_cell(lik):
    if lik is None:
        return "-"
    value, unit, estimator, given = lik
    return f"{value:.{3 if unit == 'bits/dim' else 2}f} {unit}{' given y' if given else ''} ({estimator})"


hardware_keys = {}
for r in rows.values():
    hardware_keys.setdefault(r["hardware"], "abcdefgh"[len(hardware_keys)])

HEAD = ("model", "ch.", "px", "likelihood (test)", "FID-MNIST", "FID n", "label acc.", "class entropy",
        "params", "trained (min)", "on", "s / 100 here", "n here")
body = [(r["name"], r["chapter"], str(r["size"]), likelihood_cell(r["likelihood"]),
         fid_text(r["fid"], r["fid_live"]), f"{r['fid_n']:,}", fmt(r["acc"], ".3f", r["acc_live"]),
         fmt(r["entropy"], ".2f", r["entropy_live"]), f"{r['params']:,}",
         fmt(None if r["train_seconds"] is None else r["train_seconds"] / 60, ".1f"), hardware_keys[r["hardware"]],
         f"{r['seconds_per_100']:.3g}", f"{r['n_here']:,}") for r in rows.values()]
body += [(label, "", str(ref["size"]), "", fid_text(ref["fid"]), f"{ref['n']:,}", f"{ref['acc']:.3f}",
          f"{ref['entropy']:.2f}", "", "", "", "", "") for label, ref in reference.items()]
notes = ([f"on: {key} = {hw}" for hw, key in hardware_keys.items()]
         + [f"* measured here on the timed samples (n here), not recorded with the checkpoint",
            f"s / 100 here: {runtime.describe()}; mlp trained here by the harness ({LIVE_MINUTES} min)"])
big_table = Table(HEAD, body, notes)
big_table

# %% [markdown]
# ## 6 · Look: one row of samples per model
#
# Numbers first, then pictures, so that the pictures cannot talk us out of the numbers.
# Each row is the first `N_PROBE` samples a model drew in section 4: for the conditional
# models the labels 0 to 9 from left to right, for the unconditional ones whatever came.
# The first row is ten real test digits, 0 to 9.

# %%
test = data.mnist("test", device=DEVICE)
real_row = torch.stack([test.images[(test.labels == d).nonzero()[0, 0]] for d in range(10)])
panel_rows = [("real test digits", real_row)] + [
    (f"{r['name']} (ch. {r['chapter']}{', labels 0-9' if r['conditional'] else ''})", probe[r["name"]])
    for r in rows.values()]
fig = Figure(figsize=(7.5, 0.78 * len(panel_rows) + 0.6), layout="constrained")
axes = fig.subplots(len(panel_rows), 1)
for ax, (title, images) in zip(axes, panel_rows):
    ax.imshow(plot.to_grid(images[:10].cpu(), nrow=10), cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
axes[0].set_title("samples per model (rows); columns: labels 0 to 9 where a model takes a label")
fig

# %% [markdown]
# ## 7 · Quality against cost
#
# Seed 002's criteria pull in two directions: quality and latency. We put every model on
# one plane: FID-MNIST (lower is better) against seconds per 100 images measured here
# (further left is cheaper), both on log scales because both span orders of magnitude.
# Filled markers are 28x28 models with a recorded FID; hollow markers are FIDs measured
# here on fewer samples (section 5's `*`); triangles are the 16x16 regressors, whose FID
# is against the 16x16 test split. The dashed lines are the real-digit reference rows.

# %%
fig = Figure(figsize=(8.5, 6.8), layout="constrained")
ax = fig.add_subplot()
placed = []   # (log10 x, log10 y) of labelled points: a label near earlier ones is stacked above them
for r in sorted(rows.values(), key=lambda r: r["fid"]):
    marker = "^" if r["size"] == 16 else ("o" if r["conditional"] else "s")
    color = "C1" if r["size"] == 16 else ("C0" if r["conditional"] else "C2")
    ax.scatter(r["seconds_per_100"], r["fid"], s=60, marker=marker, edgecolors=color,
               facecolors="none" if r["fid_live"] else color)
    at = (math.log10(r["seconds_per_100"]), math.log10(r["fid"]))
    stack = sum(abs(at[0] - x) < 0.6 and abs(at[1] - y) < 0.2 for x, y in placed)
    placed.append(at)
    ax.annotate(r["name"] + (f" (n={r['fid_n']:,})" if r["fid_live"] or r["fid_n"] != 10_000 else ""),
                (r["seconds_per_100"], r["fid"]), textcoords="offset points", xytext=(8, -3 + 11 * stack),
                fontsize=8, arrowprops=dict(arrowstyle="-", color="0.6", linewidth=0.5) if stack else None)
for (label, ref), style in zip(reference.items(), (":", "--", "-.")):
    ax.axhline(ref["fid"], color="gray", linestyle=style, linewidth=1, label=f"{label} ({ref['size']}px): {ref['fid']:.2g}")
ax.scatter([], [], marker="o", color="C0", label="conditional, 28x28")
ax.scatter([], [], marker="s", color="C2", label="unconditional, 28x28")
ax.scatter([], [], marker="^", color="C1", label="16x16 regressors")
ax.scatter([], [], marker="o", facecolors="none", edgecolors="k", label="FID measured here (fewer samples)")
ax.margins(x=0.12)
ax.set(xscale="log", yscale="log", xlabel=f"seconds per 100 samples, measured here ({runtime.hardware()})",
       ylabel="FID-MNIST (lower is better)", title="sample quality against sampling cost, every model of the course")
ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
fig

# %% [markdown]
# ## 8 · Diagnose: each family's limits, with the numbers in hand
#
# *Strategy: diagnose with a controlled comparison.* Seed 002 closes with one slide per
# family on its limits. Each claim names something we can now point at in the table. The
# cell below computes the comparisons the following paragraphs rely on and prints them;
# read the paragraphs against the printed lines, not against memory.

# %%
def row_of(name):
    return rows[name]


def ratio(a, b):
    return a / b if b else float("nan")


rows28 = [r for r in rows.values() if r["size"] == 28]
by_fid = sorted((r for r in rows28 if not r["fid_live"]), key=lambda r: r["fid"])   # recorded FIDs only
by_acc = sorted((r for r in rows28 if r["acc"] is not None and not r["acc_live"]), key=lambda r: -r["acc"])
fastest = min(rows.values(), key=lambda r: r["seconds_per_100"])
slowest = max(rows.values(), key=lambda r: r["seconds_per_100"])
print(f"sampling here: fastest {fastest['name']} {fastest['seconds_per_100']:.3g} s/100, slowest {slowest['name']} "
      f"{slowest['seconds_per_100']:.3g} s/100: a factor {ratio(slowest['seconds_per_100'], fastest['seconds_per_100']):,.0f}")
print("FID-MNIST, 28x28 models with a recorded FID, best to worst: " + ", ".join(
    f"{r['name']} {fid_text(r['fid'])} (n={r['fid_n']:,})" for r in by_fid))
print("  measured here on fewer samples, not ranked: " + (", ".join(
    f"{r['name']} {fid_text(r['fid'])} (n={r['fid_n']:,})" for r in rows28 if r["fid_live"]) or "none"))

mse16 = [row_of(n) for n in ("mlp", "conv") if n in rows]
print(f"regressors (16x16): FID " + ", ".join(f"{r['name']} {r['fid']:.0f}" for r in mse16)
      + f" against real binarized 16x16 digits {reference['real 16x16, binarized']['fid']:.1f}; label accuracy "
      + ", ".join(f"{r['name']} {r['acc']:.3f}" for r in mse16))

rbm = row_of("rbm")
rrec = rbm["recorded"]
print(f"RBM: NLL {rbm['likelihood'][0]:.2f} nats by AIS, between {rrec.get('test_nll_lower_nats', float('nan')):.2f} and "
      f"{rrec.get('test_nll_upper_nats', float('nan')):.2f} (+-3 s.e. on log Z); sampling (1000 Gibbs sweeps) "
      f"{ratio(rbm['seconds_per_100'], row_of('gan')['seconds_per_100']):.0f}x the GAN's time; FID "
      f"{fid_text(rbm['fid'], rbm['fid_live'])} on {rbm['fid_n']:,}; class entropy {rbm['entropy']:.2f} bits, against "
      f"{min(r['entropy'] for r in rows28 if r['name'] != 'rbm' and not r['entropy_live']):.2f} for the "
      f"lowest of the other models")

for name in ("vae", "draw", "draw_noattn"):
    rec = row_of(name)["recorded"]
    if "test_nll_bound_nats" in rec:
        print(f"{name}: -ELBO {rec['test_nll_bound_nats']:.2f}, NLL estimate {rec['test_nll_nats']:.2f} "
              f"({rec.get('test_nll_estimator', '?')}): bound gap {rec['test_nll_bound_nats'] - rec['test_nll_nats']:.2f} nats; "
              f"FID {row_of(name)['fid']:.3g}")

gan_, cgan_ = row_of("gan"), row_of("cgan")
print(f"GANs: no likelihood; FID unconditional {gan_['fid']:.3g} vs conditional {cgan_['fid']:.3g} "
      f"(x{ratio(gan_['fid'], cgan_['fid']):.0f}); seed-to-seed FID s.d. of the unconditional one "
      f"{gan_['recorded'].get('fid_mnist_seed_sd', float('nan')):.2f}; trained {gan_['train_seconds'] / 60:.0f} and "
      f"{cgan_['train_seconds'] / 60:.0f} min")

pix, vae_ = row_of("pixelcnn"), row_of("vae")
print(f"PixelCNN: exact NLL {pix['likelihood'][0]:.2f} nats vs the VAE's IWAE estimate {vae_['likelihood'][0]:.2f} "
      f"(IWAE over-estimates the NLL, so the VAE's true value is at most that): "
      f"{'PixelCNN lower' if pix['likelihood'][0] < vae_['likelihood'][0] else 'VAE lower'}; sampling "
      f"{ratio(pix['seconds_per_100'], gan_['seconds_per_100']):,.0f}x the GAN's time, "
      f"{ratio(pix['seconds_per_100'], vae_['seconds_per_100']):,.0f}x the VAE's")

flow_ = row_of("flow")
FLOW_TARGET = 1.05   # bits/dim, the course's target (RealNVP 1.06, Glow 1.05)
flow_rank = [r["name"] for r in by_fid].index("flow") + 1
flow_acc_rank = [r["name"] for r in by_acc].index("flow") + 1
print(f"flow: {flow_['likelihood'][0]:.3f} bits/dim, target {FLOW_TARGET} missed by "
      f"{flow_['likelihood'][0] - FLOW_TARGET:.2f}; FID {fid_text(flow_['fid'])}, rank {flow_rank} of {len(by_fid)} "
      f"recorded at 28x28 ({'the worst' if flow_rank == len(by_fid) else 'not the worst'}), "
      f"{ratio(flow_['fid'], by_fid[0]['fid']):.0f}x the best ({by_fid[0]['name']}); label accuracy {flow_['acc']:.3f}, "
      f"rank {flow_acc_rank} of {len(by_acc)} recorded ({'the lowest' if flow_acc_rank == len(by_acc) else 'not the lowest'}); "
      f"params {flow_['params']:,} (rank {sorted((r['params'] for r in rows.values()), reverse=True).index(flow_['params']) + 1} "
      f"by size); sampling {ratio(flow_['seconds_per_100'], gan_['seconds_per_100']):.0f}x the GAN's time")

dif = row_of("diffusion")
drec = dif["recorded"]
print(f"diffusion: FID {fid_text(dif['fid'], dif['fid_live'])} on {dif['fid_n']:,}, label accuracy "
      f"{fmt(dif['acc'], '.3f', dif['acc_live'])}; sampling (DDIM-{drec.get('ddim_steps', diffusion.BENCH_STEPS)}, w = "
      f"{drec.get('guidance_w', diffusion.BENCH_GUIDANCE)}) {ratio(dif['seconds_per_100'], cgan_['seconds_per_100']):,.0f}x "
      f"the conditional GAN's time, {ratio(dif['seconds_per_100'], pix['seconds_per_100']):.2g}x the PixelCNN's")
if "ddpm1000_w0_seconds_per_image" in drec and "ddim50_w0_seconds_per_image" in drec:
    print(f"   recorded DDPM-1000 vs DDIM-50 (no guidance, {drec.get('sampler_comparison_samples', '?')} samples): "
          f"{ratio(drec['ddpm1000_w0_seconds_per_image'], drec['ddim50_w0_seconds_per_image']):.0f}x the time, FID "
          f"{drec.get('ddpm1000_w0_fid_mnist', float('nan')):.3g} vs {drec.get('ddim50_w0_fid_mnist', float('nan')):.3g}")
else:
    print("   this diffusion checkpoint records no DDPM-vs-DDIM comparison yet")

# %% [markdown]
# **The regressors (chapters 01 and 02).** Their label accuracy is high and their FID far
# above the real 16x16 reference row: squared error asks for the mean of each class
# ([01 §5](01_first_attempt_mlp.ipynb#5-·-Diagnose-(a):-what-output-does-MSE-ask-for?)), and
# the mean of each class is easy for the judge to read and looks like no single real
# digit. Convolutions did not change that ([02 §8](02_convolutions.ipynb#8-·-Diagnose:-the-noise,-again)):
# the loss, not the network, was the limit. They are among the cheapest rows in every
# column but the ones that matter.
#
# **The RBM (chapter 03).** The first real probability model, and the first to show the
# price of one: its likelihood exists only through an estimator (AIS, whose bounds the
# line prints), and a sample needs a Markov chain of 1,000 Gibbs sweeps, which is why it
# costs many times the GAN's time per image. Its chains also linger in one digit's valley
# ([03 §5](03_boltzmann_machines.ipynb#5-·-Diagnose-(a):-do-the-chains-move-between-digits?)),
# and the class entropy of its samples, below every other model's, is that slow mixing (or
# the model's own lopsided taste in digits, which chapter 03 could not tell apart from
# it) seen in one number. Its FID-MNIST, recorded on 10,000 samples like the others, is
# far behind every latent-variable model's.
#
# **VAE and DRAW (chapters 04 and 05).** Trained on a bound, they report the bound and a
# tighter estimate; the printed gaps say at least how much of the bound is slack rather
# than model.
# In the likelihood column the plain VAE does well (the table's likelihood winner is
# printed in section 9). Its samples are the decoder's pixel means, soft by construction
# ([04 §9](04_variational_autoencoders.ipynb#9-·-Diagnose-(a):-the-decoder-still-draws-an-average)),
# and DRAW's attention bought a lower FID than the plain VAE at these budgets, not a
# sharp digit ([05 §11](05_draw.ipynb#11-·-Diagnose:-are-the-drawings-sharp?)). Both sample
# in one pass (DRAW in 16 small ones), among the cheapest rows.
#
# **GANs (chapter 06).** The likelihood column is empty on purpose: a generator of 100
# noise numbers puts all its samples on a surface of at most 100 dimensions inside the
# 784-dimensional cube, so it has no density to evaluate. The conditional GAN's FID is
# the lowest of the course's recorded ones at the time of writing (section 9 prints the
# winner), and one generator pass is among the cheapest draws. The seed's complaint, that
# GANs are hard to train because the two players must stay balanced, is not a column: a
# table of finished models shows only the runs that worked. Chapter 06 made the failures
# happen on purpose: the saturating loss that stalls
# ([06 §3](06_gans.ipynb#3-·-Experiment-1:-the-loss-that-stalls)) and mode collapse
# ([06 §8](06_gans.ipynb#8-·-Experiment-2:-mode-collapse,-on-purpose)). The instability is in
# training, not in sampling: for one trained model, the recorded seed-to-seed spread of
# the unconditional GAN's FID (over the noise drawn) is small next to its gap to the
# conditional one, so that gap belongs to the models, not to the draw. Chapter 06 traced
# it to samples that fall between two digit classes, which asking for a label avoids.
#
# **Autoregressive (chapter 07).** An exact likelihood, read off in one pass over a test
# digit, and with diffusion one of the two slowest samplers of the table (the printed
# ratios): sampling is 784
# passes in a fixed raster order, even with the cache of
# [07 §10](07_autoregressive.ipynb#10-·-Performance:-784-passes-per-image). Seed 002 asks
# whether causality is the right property for images at all, and for in-painting in
# particular. Our model answered half of it: it completes a digit from its top half
# ([07 §8](07_autoregressive.ipynb#8-·-Completion:-the-top-half-given)) because the top
# comes first in its order; given the bottom half, it has no way to condition on pixels
# that come later without being trained again in another order. The exact likelihood did
# not even buy the best number in its own column here: the printed comparison with the
# VAE says which is lower, and the IWAE number is an over-estimate of the VAE's NLL, so a
# VAE ahead is ahead for sure.
#
# **The flow (chapter 08).** Seed 002's "Achilles heel" is the determinant of the
# Jacobian; we measured it ([08 §3](08_normalizing_flows.ipynb#3-·-Experiment:-the-Jacobian-bottleneck,-measured)):
# in its saved run, a dense $784 \times 784$ log-determinant took over ten thousand times a
# coupling layer's (a sum) and dozens of times the whole coupling layer.
# The constraint that makes the determinant cheap (half of the numbers move, by an
# elementwise affine map, per layer) is paid for in everything else: the flow is among the
# largest networks of the table, its one pass costs many GAN passes, and its FID is the
# rank the line prints. Its bits/dim also miss the literature's, as chapter 08 measured.
#
# **Diffusion (chapter 09).** Seed 002's limit is the number of steps. The printed ratio
# is the price in this table: DDIM with 50 steps, two network evaluations per step for
# guidance, against one generator pass. Its recorded DDPM-against-DDIM line (when the
# checkpoint has it) shows what the subsampled schedule of the seed buys back and what it
# costs in FID. What the steps buy is in the other columns: the shipped model records the
# highest label accuracy of the course (0.997 with guidance weight 0.5, chapter 09's
# target of 0.99 met) and the second-lowest FID-MNIST (5.2), behind only the conditional
# GAN's 1.8, from a network of 0.39M parameters trained for 70 minutes on one CPU thread.
# It did not beat the GAN on FID, chapter 09's other target.

# %% [markdown]
# ## 9 · Was seed 002 right about flows? Is there a winner?
#
# Seed 002's last slides conclude that flow-based generation "may be the best approach
# (sans runtime issues)", for four reasons: no incremental steps (unlike diffusion), no
# training stability issue (unlike GANs), one pass per image rather than per pixel (unlike
# autoregressive models), and diversity built in. Seed 001's conclusion is the opposite
# kind of sentence: "each generative model has its pros and cons and there is no clear
# winner". *Strategy: verify.* We test each reason against the table, then ask each column
# for its winner among the 28x28 models (the 16x16 regressors would win the cost columns
# by drawing the class mean), and find the models no other model beats on quality *and*
# sampling cost at once (the **Pareto front** of section 7's plot).

# %%
print("Seed 002's reasons for flows, against the table:")
print(f"  no incremental steps: flow {flow_['seconds_per_100']:.3g} s/100 vs diffusion {dif['seconds_per_100']:.3g} "
      f"-> {ratio(dif['seconds_per_100'], flow_['seconds_per_100']):.1f}x faster than diffusion "
      f"({'holds' if flow_['seconds_per_100'] < dif['seconds_per_100'] else 'fails'})")
print(f"  one pass per image, not per pixel: flow vs PixelCNN {ratio(pix['seconds_per_100'], flow_['seconds_per_100']):.1f}x "
      f"faster ({'holds' if flow_['seconds_per_100'] < pix['seconds_per_100'] else 'fails'}); but "
      f"{ratio(flow_['seconds_per_100'], cgan_['seconds_per_100']):.0f}x slower than the conditional GAN's one pass")
print(f"  no training game: trained by maximum likelihood for {flow_['train_seconds'] / 60:.0f} min "
      f"(the conditional GAN: {cgan_['train_seconds'] / 60:.0f} min, with a game to balance)")
print(f"  diversity built in: class entropy {flow_['entropy']:.2f} of 3.32 bits; but label accuracy "
      f"{flow_['acc']:.3f}, against {cgan_['acc']:.3f} for the conditional GAN")
print(f"  the images themselves: FID-MNIST {fid_text(flow_['fid'])}, rank {flow_rank} of {len(by_fid)} recorded at 28x28; "
      f"{ratio(flow_['fid'], cgan_['fid']):.0f}x the conditional GAN's; label accuracy rank {flow_acc_rank} of {len(by_acc)}")

lik_rows = [r for r in rows28 if r["likelihood"] and r["likelihood"][1] == "nats" and not r["likelihood"][3]]
columns = {
    "lowest FID-MNIST (recorded)": by_fid[0],
    "highest label accuracy (recorded)": by_acc[0],
    "lowest NLL of p(x), nats": min(lik_rows, key=lambda r: r["likelihood"][0]),
    "fastest sampler here": min(rows28, key=lambda r: r["seconds_per_100"]),
    "shortest training": min((r for r in rows28 if r["train_seconds"]), key=lambda r: r["train_seconds"]),
    "fewest parameters": min(rows28, key=lambda r: r["params"]),
}
print("\nThe winner of each column, 28x28 models:")
for column, r in columns.items():
    print(f"  {column:>34}: {r['name']}")
winners = sorted({r["name"] for r in columns.values()})
print(f"  {len(winners)} different winners for {len(columns)} columns: {', '.join(winners)}"
      + (" -> no model wins every column" if len(winners) > 1 else " -> one model wins every column"))


def dominated(r, others):
    return any(o is not r and o["fid"] <= r["fid"] and o["seconds_per_100"] <= r["seconds_per_100"]
               and (o["fid"] < r["fid"] or o["seconds_per_100"] < r["seconds_per_100"]) for o in others)


front = sorted((r for r in by_fid if not dominated(r, by_fid)), key=lambda r: r["seconds_per_100"])
print("Pareto front of recorded FID-MNIST against sampling time (no model is better on both): "
      + ", ".join(f"{r['name']} ({r['fid']:.3g}, {r['seconds_per_100']:.3g} s/100)" for r in front))
print(f"the flow is {'on' if flow_ in front else 'not on'} the front")

# %% [markdown]
# **Flows: we disagree, on this evidence.** Read the five lines above as a check list. The
# seed's reasons are about *convenience*, and on our measurements they mostly hold: the
# flow samples in one pass, much faster than diffusion and the PixelCNN; it trains by
# plain maximum likelihood with no game to balance; its class histogram is nearly
# uniform. (One pass is not the same as cheap, though: the pass goes through a network
# large enough to be invertible layer by layer, and costs many GAN passes.) But the
# conclusion is about being the *best approach to generating images*, and on the images
# the flow comes last of the 28x28 models with a recorded FID-MNIST, draws the digit
# asked for least often of the models with a recorded label accuracy, and is not on the
# Pareto front. Seed 002's own summary slide on flows names the reason: the constraints
# put on $f$ to keep the Jacobian's determinant cheap reduce what the flow can express.
# Chapter 08 also showed why a good likelihood would not rescue it: a likelihood and
# sample quality measure different things
# ([08 §12](08_normalizing_flows.ipynb#12-·-Diagnose:-what-do-the-constraints-cost?)).
# Two fair caveats. Our flow misses its own likelihood target (by the gap the flow line of
# section 8 prints), and a larger flow trained on a GPU would close part of the gap; but
# it was not short of CPU time next to its rivals (the training line above), and
# published flows on natural images have also trailed GANs and diffusion models on sample
# quality. And "sans runtime issues" is the wrong caveat for our table: the flow's
# problem is not time but pictures.
#
# **No clear winner: we agree.** The winners line prints several different models for six
# columns, and the Pareto front has more than one point: the cheapest samplers are not
# the best drawers. Every winner pays somewhere else. The conditional GAN has no
# likelihood at all and came out of a game that chapter 06 saw fail; the VAE has the best
# likelihood estimate and soft digits; the diffusion model obeys the label with a dial
# and pays in network passes. "Best" is a choice of column, and a problem solver picks
# the column from the task: a likelihood to compress or to detect odd inputs, FID and
# label accuracy to draw, sampling cost to serve many users. Seed 001's hint, "a hybrid of
# different approaches", is where section 12 goes next.

# %% [markdown]
# ## 10 · The journey's strategies, chapter by chapter
#
# Chapter 00 promised to name a problem-solving strategy every time we used one. Here is
# where they were used; each link opens the section. The strategies are seed 000's list.
#
# | strategy | where the journey used it | what it bought |
# |---|---|---|
# | **1. Diagnose** the problem type, find similar solved problems | [00 §1](00_the_problem.ipynb#1-·-Diagnose:-what-kind-of-problem-is-this?) · [01 §1](01_first_attempt_mlp.ipynb#1-·-The-idea:-drawing-as-regression) · [02 §8](02_convolutions.ipynb#8-·-Diagnose:-the-noise,-again) · [03 §1](03_boltzmann_machines.ipynb#1-·-The-idea:-score-images-instead-of-drawing-them) · [04 §1](04_variational_autoencoders.ipynb#1-·-The-idea:-turn-the-arrows-around) · [05 §1](05_draw.ipynb#1-·-Diagnose:-where-does-the-VAE-lose-its-nats?) · [06 §8](06_gans.ipynb#8-·-Experiment-2:-mode-collapse,-on-purpose) · [07 §3](07_autoregressive.ipynb#3-·-Experiment:-the-blind-spot) · [08 §12](08_normalizing_flows.ipynb#12-·-Diagnose:-what-do-the-constraints-cost?) · [09 §12](09_diffusion.ipynb#12-·-Experiment-(c):-does-it-copy-the-training-set?) | every new family was chosen by a named failure of the last one: the class mean, the partition function, the bound's blur |
# | **2. Formulate** clearly, in symbols | [01 §2](01_first_attempt_mlp.ipynb#2-·-Formulate) · [03 §2](03_boltzmann_machines.ipynb#2-·-Formulate) · [04 §2](04_variational_autoencoders.ipynb#2-·-Formulate:-a-bound-on-log-p(x),-and-its-gap) · [06 §2](06_gans.ipynb#2-·-Formulate:-a-two-player-game,-and-the-best-judge) · [08 §2](08_normalizing_flows.ipynb#2-·-Formulate:-the-change-of-variables-in-784-dimensions) · [09 §2](09_diffusion.ipynb#2-·-Formulate:-any-step-in-one-draw) · 10 §1 | $y = f(x, \theta, Z)$, then one objective per family that a computer can minimize |
# | **3. Experiment**: small cases, change one thing, estimate | [00 §5](00_the_problem.ipynb#5-·-Experiment:-random-images-against-real-digits) · [02 §2](02_convolutions.ipynb#2-·-Build:-a-transposed-convolution-by-hand) · [03 §6](03_boltzmann_machines.ipynb#6-·-Diagnose-(b):-CD-1,-CD-k-and-PCD,-side-by-side) · [04 §5](04_variational_autoencoders.ipynb#5-·-Experiment:-a-live-run-with-two-latent-numbers) · [06 §3](06_gans.ipynb#3-·-Experiment-1:-the-loss-that-stalls) · [08 §3](08_normalizing_flows.ipynb#3-·-Experiment:-the-Jacobian-bottleneck,-measured) · [09 §11](09_diffusion.ipynb#11-·-Experiment-(b):-fewer-steps-with-DDIM) · 10 §2 | failures we could see, on models small enough to understand |
# | **4. Bounds** and constraints | [00 §4](00_the_problem.ipynb#4-·-The-space-of-images:-count-it) · [01 §8](01_first_attempt_mlp.ipynb#8-·-Diagnose-(c):-how-the-MLP-grows-with-the-image) · [03 §7](03_boltzmann_machines.ipynb#7-·-Diagnose-(c):-reconstruction-error-is-not-likelihood) · [05 §4](05_draw.ipynb#Why-two-small-matrices,-not-one-big-filter) · [07 §6](07_autoregressive.ipynb#How-many-nats-is-the-label-worth?) · [08 §6](08_normalizing_flows.ipynb#6-·-Data:-dequantization-and-the-logit-transform) · [08 §12c](08_normalizing_flows.ipynb#12c-·-Good-likelihood,-bad-samples:-a-mixture-with-noise) | what no model can beat (a floor on the loss, a ceiling on what a label is worth) before training any |
# | **5. Identities** and theorems | [00 §8](00_the_problem.ipynb#8-·-A-2-D-view,-and-what-it-hides) · [01 §5](01_first_attempt_mlp.ipynb#5-·-Diagnose-(a):-what-output-does-MSE-ask-for?) · [02 §8](02_convolutions.ipynb#8-·-Diagnose:-the-noise,-again) · [04 §2](04_variational_autoencoders.ipynb#2-·-Formulate:-a-bound-on-log-p(x),-and-its-gap) · [07 §1](07_autoregressive.ipynb#1-·-The-idea:-the-chain-rule,-read-as-a-recipe) · [08 §10](08_normalizing_flows.ipynb#10-·-The-conditional-flow:-what-is-the-label-worth?) · [09 §6](09_diffusion.ipynb#6-·-Build:-the-reverse-step) | the MSE optimum is the mean; the ELBO's gap is a KL; the chain rule of probability; Bayes' rule; any noising step in one draw |
# | **6. Patterns** instead of brute force | [00 §6](00_the_problem.ipynb#6-·-Measure:-what-makes-a-digit-look-like-a-digit?) · [02 §1](02_convolutions.ipynb#1-·-The-idea:-local-filters,-shared-everywhere) · [07 §8](07_autoregressive.ipynb#8-·-Completion:-the-top-half-given) · [07 §10](07_autoregressive.ipynb#10-·-Performance:-784-passes-per-image) · [08 §4](08_normalizing_flows.ipynb#4-·-Build:-the-affine-coupling-layer) | shared filters instead of dense layers; a cache instead of 784 full passes; a triangular Jacobian instead of a determinant |
# | **7. Divide and conquer** | [05 §8](05_draw.ipynb#8-·-Diagnose:-how-the-drawing-is-spent) · [06 §9](06_gans.ipynb#9-·-Divide-and-conquer:-LAPGAN,-coarse-to-fine) · [07 §4](07_autoregressive.ipynb#4-·-The-gated-PixelCNN:-two-stacks,-no-blind-spot) · [08 §5](08_normalizing_flows.ipynb#5-·-Masks,-squeeze-and-the-multi-scale-flow) · [09 §1](09_diffusion.ipynb#1-·-The-idea:-destroy-slowly,-then-learn-to-undo) | a drawing in steps, an image coarse to fine, one hard map as a thousand easy denoising steps |
# | **8. Verify** and refine | [00 §10](00_the_problem.ipynb#10-·-Verify:-what-we-now-know) · [01 §9](01_first_attempt_mlp.ipynb#9-·-Verify:-what-we-now-know) · [02 §7](02_convolutions.ipynb#7-·-Verify-the-seed's-claims:-is-it-sharper?) · [03 §8](03_boltzmann_machines.ipynb#8-·-Verify:-the-likelihood-of-the-shipped-model) · [04 §6](04_variational_autoencoders.ipynb#6-·-Verify-on-a-small-case:-the-exact-likelihood-of-the-2-D-model) · [05 §9](05_draw.ipynb#9-·-Verify:-the-likelihood,-against-the-VAE-and-the-paper) · [06 §10](06_gans.ipynb#10-·-Verify:-the-shipped-models,-measured) · [07 §9](07_autoregressive.ipynb#9-·-The-label:-conditional-samples,-checked-by-the-judge) · [08 §7](08_normalizing_flows.ipynb#7-·-Verify:-invertibility-and-log-determinants-against-autograd) · [09 §15](09_diffusion.ipynb#15-·-Verify:-the-journey's-answer,-side-by-side) · 10 §9, §11 | every estimator checked where the truth is computable, every claim with a printed number |
#
# Two patterns stand out in the table. Diagnosis and verification appear in every
# chapter: the journey was mostly *checking*, and each new idea came from a check that
# failed. And divide and conquer appears only late, but each time it appeared it changed
# the family itself: DRAW's steps, LAPGAN's scales, the gated PixelCNN's two stacks, the
# flow's multi-scale split, and finally diffusion, which is nothing but one hard problem
# cut into a thousand easy ones.

# %% [markdown]
# ## 11 · Verify: the numbers of this chapter in one place
#
# *Strategy: verify.* The table rests on records made elsewhere, on other days. Three
# checks that the records describe the models we loaded: the parameter count we computed
# against the one recorded; the label accuracy of our timed samples against the recorded
# one (a proportion from $n$ samples has a standard error of $\sqrt{p(1-p)/n}$, and both
# numbers are such proportions, from $n$ here and $n_\text{rec}$ when recorded, so their
# difference has a standard error of $\sqrt{p(1-p)(1/n + 1/n_\text{rec})}$; more than
# about three of those, confirmed on a second, larger sample, would say the checkpoint is
# not what its record says); and our
# sampling time against the recorded one (a ratio: the machines and batch sizes differ, so
# only a gross mismatch would mean anything).

# %%
param_mismatch = [r["name"] for r in rows.values()
                  if r["params_recorded"] is not None and r["params_recorded"] != r["params"]]
print(f"parameters: {sum(r['params_recorded'] is not None for r in rows.values())} recorded counts, "
      f"mismatches: {param_mismatch or 'none'}")
def accuracy_z(r, images):
    """(label accuracy of `images`, labels 0..9 in turn; its z against the record)."""
    rec_acc, n = r["recorded"]["label_accuracy"], images.shape[0]
    here = metrics.label_accuracy(images, torch.arange(n, device=DEVICE) % 10)
    p = min(max(rec_acc, 0.5 / n), 1 - 0.5 / n)
    n_rec = r["recorded"].get("n_samples", 10_000)
    return here, (here - rec_acc) / math.sqrt(p * (1 - p) * (1 / n + 1 / n_rec))


z_scores = {}
for r in rows.values():
    if r["conditional"] and r["recorded"].get("label_accuracy") is not None:
        here, z_scores[r["name"]] = accuracy_z(r, timed[r["name"]]["images"])
        print(f"  {r['name']:>12}: label accuracy here {here:.3f} (n = {r['n_here']:,}), recorded "
              f"{r['recorded']['label_accuracy']:.3f}, z = {z_scores[r['name']]:+.1f}")
# A |z| of 3 or more is rare by chance (0.3% per row), not impossible: a flagged model is
# measured again on a fresh, larger sample where that is cheap (a minute or less), and the
# second measurement decides.
N_RECHECK = size(200, 10_000, 10_000)
for name in [k for k, z in z_scores.items() if abs(z) >= 3]:
    if rows[name]["seconds_per_100"] * N_RECHECK / 100 > 60:
        print(f"  {name}: |z| >= 3 and too slow to re-sample here; the record stays unconfirmed")
        continue
    torch.manual_seed(1234)
    again, _ = draw_timed(name, N_RECHECK)
    here, z_scores[name] = accuracy_z(rows[name], again)
    print(f"  {name}: |z| >= 3, so {N_RECHECK:,} fresh samples: label accuracy {here:.3f}, z = {z_scores[name]:+.1f}")
print(f"largest |z|: {max(abs(z) for z in z_scores.values()):.1f} "
      f"({'all within 3 standard errors' if all(abs(z) < 3 for z in z_scores.values()) else 'look at the rows above'})")
time_ratios = {r["name"]: r["seconds_per_100"] / r["recorded"]["sample_seconds_per_100"]
               for r in rows.values() if r["recorded"].get("sample_seconds_per_100")}
print("sampling time here / recorded: " + ", ".join(f"{k} {v:.2g}" for k, v in time_ratios.items()))

# %%
print(f"harness live run ({LIVE_MINUTES} min each, {N_LIVE:,} samples): " + ", ".join(
    f"{k} FID {fid_text(v['fid_mnist'])}" for k, v in live_results.items()))
print(f"FID and n: the shipped cGAN {cgan_here['fid_mnist']:.2f} on {N_LIVE:,} vs {cgan_rec['fid_mnist']:.2f} recorded; "
      f"real digits {fid_real_small:.2f} on {N_LIVE:,} vs {fid_real:.2f} on {N_REAL:,}")
print(f"sampling: {fastest['name']} fastest, {slowest['name']} slowest, a factor "
      f"{ratio(slowest['seconds_per_100'], fastest['seconds_per_100']):,.0f} on {runtime.hardware()}")
print(f"flow: FID rank {flow_rank} of {len(by_fid)} recorded at 28x28, label accuracy rank {flow_acc_rank} of "
      f"{len(by_acc)}, {'on' if flow_ in front else 'off'} the Pareto front; target {FLOW_TARGET} bits/dim missed by "
      f"{flow_['likelihood'][0] - FLOW_TARGET:.2f}")
print(f"column winners: " + "; ".join(f"{c}: {r['name']}" for c, r in columns.items()))
print(f"\nwhole notebook: {time.perf_counter() - START:.0f} s on {runtime.describe()}")

# %% [markdown]
# ## 12 · Where to go next
#
# Our $x$ in $y = f(x, \theta, Z)$ has been one of ten labels, our images 784 grey pixels.
# Three directions lead from here to the systems that draw from a sentence.
#
# **Words instead of ten labels.** Seed 002 points at language as the way to richer
# conditioning: people describe pictures in words, and the descriptions grow from "dog"
# to "a dog on a pillow" to a whole room with a portrait above the fireplace. Look at
# what our diffusion model does with its label: a lookup table of eleven learned vectors
# (ten digits and "no label"), added to the timestep's embedding. A sentence needs two
# changes. A text encoder (a pretrained language model) turns the words into a sequence
# of vectors, and the U-Net *attends* to that sequence, so each region of the image can
# look up the words that concern it; our U-Net already has one self-attention layer at
# its coarsest resolution, and cross-attention is the same layer with its keys and values
# taken from the text. Classifier-free guidance carries over without change: drop the
# caption during training with probability `p_uncond`, and at sampling time mix the
# predictions with and without it. (Seed 001 warns that a GAN cannot be trained end to end
# through discrete text; conditioning on a text *encoder's* output sidesteps that, and
# text-conditioned GANs were built that way.)
#
# **Latent diffusion: a hybrid.** Our diffusion model paid for every one of its steps at
# full resolution. Chapter 04's VAE squeezes a digit into 32 numbers. Run the diffusion on
# those 32 numbers, and decode once at the end: every step works on an input 24.5 times
# smaller than the image. This is the hybrid seed 001 hopes for, and it is how large
# text-to-image systems are built (Rombach et al. 2022): an autoencoder for the pixels,
# diffusion for the content, a text encoder for the words. It also shows why the families
# of this course are not rivals: the autoencoders used there are trained with an
# adversarial critic on top of their reconstruction loss, precisely to avoid the blur
# chapter 04 diagnosed. VAE, GAN and diffusion, each doing the part it is good at.
#
# **More data, more capacity.** Seed 002's other two rules: the training data decides what
# can be drawn (a model of digits will never draw a shoe), and the model needs the
# capacity for the distribution it learns. The next step from MNIST keeps everything else
# fixed: Fashion-MNIST has the same size, the same ten classes and the same split, with
# garments instead of digits; the exercises run the journey on it with this course's
# code. After that come colour (three channels), larger images (CIFAR-10, then faces and
# natural scenes), and models measured in hundreds of millions of parameters, trained on
# GPUs for days; the `*_gpu` recipes in the package are the first step in that direction.
# One instrument has to change on the way: FID-MNIST is built on a digit classifier, and
# published work measures precision and recall beside FID (seed 002's DiT table), because
# one number mixes realism and coverage.

# %% [markdown]
# ## Exercises
#
# The exercises run the journey again on **Fashion-MNIST** (`data.fashion_mnist`, the same
# loader and format as MNIST: 60,000 training and 10,000 test images of 28x28, ten
# classes named in `.classes`). The package's recipes and its judge are built for digits,
# so we use the same building blocks directly: the models, their losses and steps,
# `train.fit`, and the metrics' functions. Start every exercise from this cell:
#
# ```python
# import torch.nn.functional as F
# from drawjourney import judge, train
# from drawjourney.models import gan, mlp
# fashion_train, fashion_test = data.fashion_mnist("train"), data.fashion_mnist("test")
# print(fashion_train.classes)
# ```
#
# **1. Look before you train.** *Strategy: diagnose the problem type.* What is different
# about the new data? Compare the share of pixels with ink (value above 0.1) and the share
# of the ink that is mid-grey (between 0.1 and 0.9) in MNIST and Fashion-MNIST, and show
# the class means. Which families of the course will the difference hurt most?
#
# <details><summary>Solution</summary>
#
# ```python
# for name, d in (("MNIST", data.mnist("train")), ("Fashion-MNIST", fashion_train)):
#     x = d.images
#     ink = x > 0.1
#     mid = (ink & (x < 0.9)).float().sum() / ink.float().sum()
#     print(f"{name:>14}: ink on {ink.float().mean():.2f} of pixels; {mid:.2f} of the ink is mid-grey")
# plot.grid(mlp.mse_optimum(fashion_train.images, fashion_train.labels), labels=list(fashion_train.classes),
#           nrow=10, title="Fashion-MNIST: the class means (the MSE optimum of chapter 01)")
# ```
#
# Garments cover far more of the image than strokes do, and nearly all of their ink is
# mid-grey texture and shading; about half of MNIST's ink is grey, the soft edges of its
# strokes.
# The binary models of the course (the RBM, the Bernoulli VAE and DRAW, the binary
# PixelCNN) would have to binarize that away: a shirt's shading becomes salt-and-pepper
# noise. The grey-level families (the GAN, the flow, diffusion) keep it. The class means
# also look much more like garments than the mean digits looked like digits: trousers and
# bags are roughly aligned, so the MSE optimum of chapter 01 is a better-looking failure
# here, and a pixel-space score would flatter it even more.
#
# </details>
#
# **2. An instrument first.** *Strategy: verify the instrument.* FID-MNIST uses a digit
# classifier's features, which say nothing useful about shirts. Train a judge for
# Fashion-MNIST with the same network (`judge.Judge(judge.JudgeConfig())`) and `train.fit`,
# report its test accuracy, and write `fid_fashion(samples)` from `metrics.feature_statistics`
# and `metrics.frechet_distance`. Check it on two cases whose answer you know.
#
# <details><summary>Solution</summary>
#
# ```python
# fashion_judge = judge.Judge(judge.JudgeConfig()).to(DEVICE)
# opt = torch.optim.Adam(fashion_judge.parameters(), lr=3e-3)
#
# def judge_step(batch):
#     x, y = batch
#     loss = F.cross_entropy(fashion_judge(x), y)
#     opt.zero_grad(set_to_none=True)
#     loss.backward()
#     opt.step()
#     return loss.detach()
#
# fashion_judge.train()
# train.fit(judge_step, data.batches(fashion_train, 128), epochs=3, desc="Fashion judge")
# fashion_judge.eval()
# print("test accuracy", (fashion_judge.predict(fashion_test.images) == fashion_test.labels).float().mean().item())
# reference_stats = metrics.feature_statistics(fashion_judge.features(fashion_test.images))
#
# def fid_fashion(samples):
#     return metrics.frechet_distance(*metrics.feature_statistics(fashion_judge.features(samples)), *reference_stats)
#
# print("real training garments:", fid_fashion(fashion_train.images[:10_000]))
# print("MNIST digits:", fid_fashion(data.mnist("test").images))
# ```
#
# Expect a test accuracy near 90%, lower than the digit judge's 99%: shirts, T-shirts,
# pullovers and coats are hard to tell apart even for people. That matters for label
# accuracy later: no generator can be judged more accurate than the judge itself, so
# compare every label accuracy with the judge's accuracy on real test images. The two
# checks: real training garments score close to 0 (different images, same distribution),
# MNIST digits score enormously (same format, wrong distribution). An FID between them
# means something only because both ends behave.
#
# </details>
#
# **3. The first attempt, again.** Train chapter 01's paired MLP with squared error on
# 16x16 Fashion-MNIST (`mlp.make_step` with `pair_labels=True`) for a few thousand steps.
# Predict before you run it: will the noise matter this time? Then check the prediction
# against the class means.
#
# <details><summary>Solution</summary>
#
# ```python
# fashion16 = data.fashion_mnist("train", size=16)
# model = mlp.MLPGenerator(mlp.MLPConfig()).to(DEVICE)
# opt = torch.optim.Adam(model.parameters(), lr=2e-3)
# train.fit(mlp.make_step(model, opt, pair_labels=True), data.batches(fashion16, 256), steps=3_000,
#           desc="MLP on garments")
# model.eval()
# labels = torch.arange(10, device=DEVICE)
# outputs = torch.stack([model.sample(labels) for _ in range(20)])        # 20 noises per class
# means = mlp.mse_optimum(fashion16.images, fashion16.labels)
# print("largest spread over the noise:", outputs.std(0).max().item())
# print("largest distance of the average output to the class mean:", (outputs.mean(0) - means).abs().max().item())
# ```
#
# The identity of chapter 01 does not care what the images show: for a fixed label the
# squared error is smallest at the class mean, so the network learns to ignore the noise
# again and both printed numbers shrink as training goes on. The diagnosis carries over
# word for word, and so does the fix: a loss that scores *samples* rather than pixels.
#
# </details>
#
# **4. A conditional GAN on garments.** Train chapter 06's conditional DCGAN on
# Fashion-MNIST for a few minutes with `gan.gan_step` and `train.fit`, draw 1,000 samples
# (100 per class), and measure them with your instruments of exercise 2.
#
# <details><summary>Solution</summary>
#
# ```python
# config = gan.GANConfig(g_width=64, d_width=64, n_classes=10)
# G, D = gan.Generator(config).to(DEVICE), gan.Discriminator(config).to(DEVICE)
# g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
# d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
# G.train(); D.train()
# history = train.fit(lambda batch: gan.gan_step(G, D, g_opt, d_opt, batch[0], batch[1]),
#                     data.batches(fashion_train, 64), minutes=5, desc="cGAN on garments")
# G.eval()
# labels = torch.arange(1_000, device=DEVICE) % 10
# samples = G.sample(1_000, labels=labels)
# print("FID-Fashion", fid_fashion(samples), "label accuracy",
#       (fashion_judge.predict(samples) == labels).float().mean().item())
# plot.loss_curves(history, keys=["d_loss", "g_loss"], smooth=0.9)
# ```
#
# Watch the two losses as chapter 06 taught: if D's loss falls towards zero while G's
# climbs, D has won and G's gradients are vanishing. The shipped recipe adds two things
# this loop leaves out, a moving average of G's weights and DCGAN's weight
# initialisation (see `gan.train_recipe`); try them if the samples are noisy. The
# textures make the task harder than digits, and five minutes on a CPU gives recognisable
# trousers, sneakers and bags sooner than shirts.
#
# </details>
#
# **5. Conditional diffusion on garments.** Train the U-Net of chapter 09 (at the shipped
# recipe's width, `channels=16`) with `diffusion.ddpm_loss` and label dropout, then sample
# with guided DDIM. Time the sampler against the GAN's.
#
# <details><summary>Solution</summary>
#
# ```python
# net = diffusion.UNet(diffusion.UNetConfig(channels=16, n_classes=10)).to(DEVICE)
# opt = torch.optim.Adam(net.parameters(), lr=1e-3)
#
# def diffusion_step(batch):
#     x, y = batch
#     loss = diffusion.ddpm_loss(net, net.schedule, x, y, p_uncond=0.1)
#     opt.zero_grad(set_to_none=True)
#     loss.backward()
#     opt.step()
#     return loss.detach()
#
# net.train()
# train.fit(diffusion_step, data.batches(fashion_train, 128), minutes=10, desc="diffusion on garments")
# net.eval()
# labels = torch.arange(200, device=DEVICE) % 10
# t0 = time.perf_counter()
# samples = diffusion.ddim_sample(net, net.schedule, 200, 50, labels=labels, guidance=1.0)
# print(f"{100 * (time.perf_counter() - t0) / 200:.2f} s per 100; FID-Fashion {fid_fashion(samples):.1f}")
# ```
#
# The loss is the same mean squared error as on digits, with no game to watch; the cost
# moved to sampling, as in this chapter's table. With ten minutes of CPU the samples are
# blurry shapes of the right class; the shipped digit model trained far longer and
# averaged its weights (`ema` in `diffusion.RECIPES`). Guidance weights above 1 make the
# class clearer and the garments more alike, the trade-off of chapter 09.
#
# </details>
#
# **6. The table, again.** Put the models of exercises 3 to 5 in one table with the
# columns of section 5 (with FID-Fashion and your judge's label accuracy). Which
# conclusions of sections 8 and 9 survive the change of data, and which do not?
#
# <details><summary>Solution</summary>
#
# Reuse section 5's `Table` with your own rows, e.g. for the GAN
# `("cgan", fmt(fid_fashion(samples), ".3g"), fmt(acc, ".3f"), f"{sum(p.numel() for p in G.parameters()):,}", ...)`,
# and add a reference row for real test garments (their label accuracy is your judge's
# test accuracy). What should survive is everything that does not depend on the data:
# the ordering of sampling costs (one pass, 50 guided steps, 784 pixels) is a property
# of the families, so it should come out the same, and the regressor should again draw
# class means. What can move is the quality column: textures are harder for a small
# generator than strokes, label accuracies are capped by a weaker judge, and at a few
# minutes of CPU each, budget differences can swap neighbours. If the GAN and the
# diffusion model change places, check the budget before blaming the family, as section 2
# did.
#
# </details>
#
# **7. Which strategy did you use?** Pick one exercise and, for each of its steps, name the
# strategy from section 10's table. Which strategy did you *not* use, and where would it
# have helped?
#
# <details><summary>Solution</summary>
#
# One reading of exercise 2: *diagnose* (FID-MNIST measures digits, the wrong thing);
# *formulate* (an FID needs features that separate the classes of *this* data);
# *experiment* (train a judge); *verify* (two cases with known answers). *Bounds* were
# missing and would have helped: the judge's own test accuracy is a ceiling on any
# generator's measured label accuracy, and real training garments give a floor for FID at
# the sample size used. Writing both down before measuring a model saves misreading its
# numbers.
#
# </details>

# %% [markdown]
# ## The end of the journey
#
# We set out to find $f$ in $y = f(x, \theta, Z)$: a label in, a fresh digit out. The
# first attempt drew one blurred average per label, and an identity told us why; every
# chapter after that was a response to a specific, measured failure. A probability model
# (the RBM) made the failure about *distributions* instead of outputs, and cost us a
# partition function. Latent variables and a bound (the VAE) made training tractable,
# and blurred. Drawing step by step (DRAW) organised the canvas, and still blurred. A
# learned critic (the GAN) made everything sharp, and made training a balancing act.
# Exact likelihoods came back twice, pixel by pixel (the PixelCNN) and in one invertible
# pass (the flow), each with its own price in time or in pictures. Diffusion split the
# hardest map into many easy denoising steps and, with guidance, finally did what chapter
# 00 asked, at the cost of many network passes per image.
#
# This chapter measured all of it side by side and found no winner in every column, and
# no support, on our evidence, for flows as the best approach. What the journey leaves is
# less a favourite model than a way of working: write the problem down, try the simplest
# thing, measure it with an instrument you have checked, find *why* it fails, and let
# that reason pick the next idea. The same moves will carry you from ten digits to
# garments, and from a label to a sentence.
