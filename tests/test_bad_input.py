"""Bad input across the public API and the CLI: a clear error, never a hang or a silent answer.

Each case calls one public function (or the command line) with one bad argument: a wrong
type, shape or range, NaN, something empty, a wrong device, a missing or broken file.
An outcome is

- clear: a ValueError, TypeError, LookupError, OSError or FloatingPointError (or a
  subclass, such as the package's own errors) raised by drawjourney's code, whose message
  matches the case's pattern (it names the argument and what is allowed) and gives no unsafe advice;
  for the CLI, exit status 2 with such a message on stderr;
- unclear: any other exception, or one from inside torch, numpy, matplotlib or pathlib,
  or a message that does not say what was wrong;
- silent: no error at all (a wrong result or a hang, cut off after a few seconds).

A few cases are valid input that must be accepted (`expect="ok"`); refusing them counts
as unclear. Run this file directly for the survey (`python tests/test_bad_input.py`), which
prints every outcome and the counts; under pytest each case is a test that must be clear.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

CLEAR_TYPES = (ValueError, TypeError, LookupError, OSError, FloatingPointError)
FORBIDDEN = ("weights_only=False",)   # advice that is unsafe for an untrusted file
HANG_SECONDS = 8


@dataclass(frozen=True)
class Case:
    id: str
    pattern: str                       # regex the message must match (case-insensitive)
    call: Callable[["Context"], object]
    expect: str = "error"              # "ok": valid input that must be accepted
    env: tuple[tuple[str, str], ...] = ()


class Context:
    """Inputs shared by the cases, made once: real test digits, a checkpoint, files."""

    def __init__(self):
        from drawjourney import checkpoint, data
        from drawjourney.models import mlp

        self.tmp = Path(tempfile.mkdtemp(prefix="drawjourney-bad-input-"))
        self.test = data.mnist("test", device="cpu")
        self.digits = self.test.images[:200]
        self.labels = self.test.labels[:200]
        self.small = data.mnist("test", size=16, device="cpu").images[:200]
        self.mlp_path = checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), self.tmp / "mlp.pt")
        self.folder = self.tmp / "a-folder"
        self.folder.mkdir()
        raw = Path(os.environ["DRAWJOURNEY_DATA"]) / "MNIST" / "raw"
        broken = self.tmp / "broken-data" / "MNIST" / "raw"
        broken.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            src = raw / name
            if not src.exists():
                src = raw / (name + ".gz")
            content = src.read_bytes()
            if src.suffix == ".gz":
                import gzip
                content = gzip.decompress(content)
            if name.startswith("t10k-images"):
                content = content[:len(content) // 2]          # truncated
            (broken / name).write_bytes(content)
        self.broken_data = self.tmp / "broken-data"
        (self.tmp / "empty-data").mkdir()
        self.empty_data = self.tmp / "empty-data"


def _clear_data_caches():
    """Forget every cached split so a case with another DRAWJOURNEY_DATA reads the files."""
    from drawjourney import data

    for value in vars(data).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def _cli(argv):
    from drawjourney.__main__ import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, err.getvalue()


class _CLIResult(Exception):
    """Raised by `cli` so the CLI's exit code and stderr are judged like an exception."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def cli(*argv):
    code, message = _cli([str(a) for a in argv])
    if code == 0:
        return code
    raise _CLIResult(code, message)


# ----------------------------------------------------------------------------- helpers


def fit(step=lambda b: 1.0, batches=None, **kw):
    from drawjourney import train

    kw.setdefault("progress", False)
    return train.fit(step, [0, 1, 2] if batches is None else batches, **kw)


def make_rbm(W, b, c):
    return type("RBM", (), {"W": W, "b": b, "c": c})()


class Weights:
    """A latent-variable 'model' whose log weights are given."""

    def __init__(self, make):
        self.make = make

    def log_importance_weights(self, x, k):
        return self.make(x, k)


def scrubber(ctx, **kw):
    from drawjourney import widgets

    decode = kw.pop("decode", lambda z, label: ctx.digits[:1])
    z = kw.pop("z", torch.zeros(4))
    return widgets.LatentScrubber(decode, z, **kw)


def frames(ctx):
    return ctx.digits[:5]


# ----------------------------------------------------------------------------- the cases


def _cases() -> list[Case]:
    from drawjourney import bench, checkpoint, data, metrics, plot, runtime, widgets
    from drawjourney.models import flow, mlp, vae

    cases = [
        # runtime
        Case("runtime.device(env gpu)", "DRAWJOURNEY_DEVICE", lambda c: runtime.device(),
             env=(("DRAWJOURNEY_DEVICE", "gpu"),)),
        Case("runtime.device(env cuda:7)", "DRAWJOURNEY_DEVICE", lambda c: runtime.device(),
             env=(("DRAWJOURNEY_DEVICE", "cuda:7"),)),
        Case("runtime.fast_mode(env maybe)", "DRAWJOURNEY_FAST", lambda c: runtime.fast_mode(),
             env=(("DRAWJOURNEY_FAST", "maybe"),)),
        Case("runtime.seed(1.5)", "seed", lambda c: runtime.seed(1.5)),
        Case("runtime.seed('3')", "seed", lambda c: runtime.seed("3")),
        Case("runtime.seed(-1)", "seed", lambda c: runtime.seed(-1)),
        Case("runtime.use_pretrained(env maybe)", "DRAWJOURNEY_PRETRAINED",
             lambda c: runtime.use_pretrained(), env=(("DRAWJOURNEY_PRETRAINED", "maybe"),)),
        Case("pretrained('nope')", "no pretrained model named 'nope'", lambda c: _pretrained("nope")),
        Case("pretrained(3)", "name", lambda c: _pretrained(3)),
        # data
        Case("data.mnist(split='val')", "split", lambda c: data.mnist("val")),
        Case("data.mnist(size=32)", "size", lambda c: data.mnist("test", size=32)),
        Case("data.mnist(size='28')", "size", lambda c: data.mnist("test", size="28")),
        Case("data.mnist(binarize='yes')", "binarize", lambda c: data.mnist("test", binarize="yes")),
        Case("data.mnist(binarize=True)", "binarize", lambda c: data.mnist("test", binarize=True)),
        Case("data.mnist(device='gpu')", "device", lambda c: data.mnist("test", device="gpu")),
        Case("data.mnist(device='cuda:7')", "cuda", lambda c: data.mnist("test", device="cuda:7")),
        Case("data.mnist(device=3)", "device", lambda c: data.mnist("test", device=3)),
        Case("data.fashion_mnist(split=1)", "split", lambda c: data.fashion_mnist(1)),
        Case("data.load('kmnist')", "name", lambda c: data.load("kmnist")),
        Case("data.batches(batch_size=2.5)", "batch_size", lambda c: data.batches(c.test, 2.5)),
        Case("data.batches(batch_size='64')", "batch_size", lambda c: data.batches(c.test, "64")),
        Case("data.batches(batch_size=0)", "batch_size", lambda c: data.batches(c.test, 0)),
        Case("data.batches(batch_size=True)", "batch_size", lambda c: data.batches(c.test, True)),
        Case("data.batches(batch_size=10**6)", "batch_size", lambda c: data.batches(c.test, 10**6)),
        Case("data.batches(seed=1.5)", "seed", lambda c: next(iter(data.batches(c.test, 8, seed=1.5)))),
        Case("data.batches(not data)", "data", lambda c: next(iter(data.batches("digits", 8)))),
        Case("ImageData.subset(2.5)", "subset|n ", lambda c: c.test.subset(2.5)),
        Case("ImageData.subset('3')", "subset|n ", lambda c: c.test.subset("3")),
        Case("ImageData.subset(0)", "subset|n ", lambda c: c.test.subset(0)),
        Case("ImageData.to('gpu')", "device", lambda c: c.test.to("gpu")),
        Case("data: no files offline", "DRAWJOURNEY_DATA",
             lambda c: (_clear_data_caches(), data.mnist("test", download=False)),
             env=(("DRAWJOURNEY_DATA", "{empty_data}"),)),
        Case("data: truncated file", r"t10k-images-idx3-ubyte.*(truncated|corrupt|broken)|"
                                     r"(truncated|corrupt|broken).*t10k-images-idx3-ubyte",
             lambda c: (_clear_data_caches(), data.mnist("test", download=False)),
             env=(("DRAWJOURNEY_DATA", "{broken_data}"),)),
        # train
        Case("fit(minutes=nan)", "minutes", lambda c: fit(minutes=float("nan"))),
        Case("fit(minutes=inf)", "minutes", lambda c: fit(minutes=float("inf"))),
        Case("fit(minutes='1')", "minutes", lambda c: fit(minutes="1")),
        Case("fit(steps=2.5)", "steps", lambda c: fit(steps=2.5)),
        Case("fit(steps='10')", "steps", lambda c: fit(steps="10")),
        Case("fit(steps=True)", "steps", lambda c: fit(steps=True)),
        Case("fit(epochs=0)", "epochs", lambda c: fit(epochs=0)),
        Case("fit(epochs=1.5)", "epochs", lambda c: fit(epochs=1.5)),
        Case("fit(no budget)", "budget", lambda c: fit()),
        Case("fit(every=0)", "every", lambda c: fit(steps=2, every=0)),
        Case("fit(step returns True)", "loss", lambda c: fit(lambda b: True, steps=2)),
        Case("fit(step returns '0.5')", "loss", lambda c: fit(lambda b: "0.5", steps=2)),
        Case("fit(step returns None)", "loss", lambda c: fit(lambda b: None, steps=2)),
        Case("fit(step returns shape (3,))", "scalar", lambda c: fit(lambda b: torch.ones(3), steps=2)),
        Case("fit(step returns {})", "dict", lambda c: fit(lambda b: {}, steps=2)),
        Case("fit(step returns nan)", "loss .*nan", lambda c: fit(lambda b: float("nan"), steps=2)),
        Case("fit(step returns np.float32)", "", lambda c: fit(lambda b: np.float32(0.5), steps=2),
             expect="ok"),
        Case("fit(one-shot generator, 2 epochs)", "generator|re-iterable",
             lambda c: fit(batches=(b for b in range(3)), epochs=2)),
        Case("fit(step_fn='step')", "step_fn", lambda c: fit("step", steps=2)),
        Case("fit(batches=42)", "batches", lambda c: fit(batches=42, steps=2)),
        Case("fit(callback='plot')", "callback", lambda c: fit(steps=2, callback="plot")),
        Case("History.last('missing')", "missing", lambda c: fit(steps=2).last("missing")),
        # checkpoint
        Case("checkpoint.save(onto a folder)", "folder",
             lambda c: checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), c.folder)),
        Case("checkpoint.save(no config)", "config",
             lambda c: checkpoint.save(torch.nn.Linear(2, 2), c.tmp / "x.pt")),
        Case("checkpoint.save(metrics=[1])", "metrics",
             lambda c: checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), c.tmp / "x.pt", metrics=[1])),
        Case("checkpoint.save(metrics={object})", "store|metrics",
             lambda c: checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), c.tmp / "x.pt",
                                       metrics={"fid": object()})),
        Case("checkpoint.save(storage='fp8')", "storage",
             lambda c: checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), c.tmp / "x.pt", storage="fp8")),
        Case("checkpoint.save(path=3)", "path",
             lambda c: checkpoint.save(mlp.MLPGenerator(mlp.MLPConfig()), 3)),
        Case("checkpoint.read(missing)", "no checkpoint", lambda c: checkpoint.read(c.tmp / "none.pt")),
        Case("checkpoint.read(corrupt)", "corrupt|not a readable",
             lambda c: checkpoint.read(_write(c.tmp / "bad.pt", b"\x80\x02garbage"))),
        Case("checkpoint.read(truncated)", "corrupt|truncated|not a readable",
             lambda c: checkpoint.read(_write(c.tmp / "half.pt", c.mlp_path.read_bytes()[:5000]))),
        Case("checkpoint.read(plain torch file)", "not a drawjourney checkpoint",
             lambda c: checkpoint.read(_torch_file(c.tmp / "plain.pt", {"w": torch.ones(2)}))),
        Case("checkpoint.read(pickled object)", "not a drawjourney checkpoint|objects",
             lambda c: checkpoint.read(_torch_file(c.tmp / "obj.pt", {"x": Context}))),
        Case("checkpoint.load(expect wrong class)", "not a",
             lambda c: checkpoint.load(c.mlp_path, expect=torch.nn.Linear)),
        Case("checkpoint.load(device='gpu')", "device", lambda c: checkpoint.load(c.mlp_path, device="gpu")),
        Case("checkpoint.info(a folder)", "folder", lambda c: checkpoint.info(c.folder)),
        Case("checkpoint.load(incomplete)", "incomplete|missing|not a drawjourney",
             lambda c: checkpoint.load(_torch_file(c.tmp / "inc.pt", {"format": checkpoint.FORMAT}))),
        # metrics
        Case("fid_mnist(16x16 vs a 28x28 reference)", "size|28|16",
             lambda c: metrics.fid_mnist(c.small, reference=c.digits)),
        Case("fid_mnist(one sample)", "2 samples|at least 2|N >= 2", lambda c: metrics.fid_mnist(c.digits[:1])),
        Case("fid_mnist(a list)", "samples", lambda c: metrics.fid_mnist([0.5] * 784)),
        Case("fid_mnist(NaN)", "NaN", lambda c: metrics.fid_mnist(_with_nan(c.digits))),
        Case("fid_mnist(range [-1, 1])", r"\[0, 1\]", lambda c: metrics.fid_mnist(c.digits * 2 - 1)),
        Case("fid_mnist(flat (N, 784))", "shape", lambda c: metrics.fid_mnist(c.digits.flatten(1))),
        Case("fid_mnist(reference='val')", "reference", lambda c: metrics.fid_mnist(c.digits, reference="val")),
        Case("fid_mnist(uint8)", "dtype|float", lambda c: metrics.fid_mnist((c.digits * 255).byte())),
        Case("fid_mnist(empty)", "empty", lambda c: metrics.fid_mnist(c.digits[:0])),
        Case("fid_mnist(device='gpu')", "device", lambda c: metrics.fid_mnist(c.digits, device="gpu")),
        Case("label_accuracy(labels=None)", "labels", lambda c: metrics.label_accuracy(c.digits, None)),
        Case("label_accuracy(labels too short)", "labels", lambda c: metrics.label_accuracy(c.digits, c.labels[:5])),
        Case("label_accuracy(float labels)", "labels", lambda c: metrics.label_accuracy(c.digits, c.labels.float())),
        Case("label_accuracy(label 10)", "labels", lambda c: metrics.label_accuracy(c.digits, c.labels * 0 + 10)),
        Case("class_histogram('x')", "samples|images", lambda c: metrics.class_histogram("x")),
        Case("class_histogram(NaN)", "NaN", lambda c: metrics.class_histogram(_with_nan(c.digits))),
        Case("frechet_distance(shapes differ)", "shape",
             lambda c: metrics.frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))),
        Case("feature_statistics(one row)", "features|N >= 2", lambda c: metrics.feature_statistics(torch.zeros(1, 8))),
        Case("nats_to_bits_per_dim(dims=0)", "dims", lambda c: metrics.nats_to_bits_per_dim(1.0, 0)),
        Case("nats_to_bits_per_dim(dims=784.0)", "dims", lambda c: metrics.nats_to_bits_per_dim(1.0, 784.0)),
        Case("bits_per_dim(dequantized_8bit='yes')", "dequantized_8bit",
             lambda c: metrics.bits_per_dim(-1.0, 784, dequantized_8bit="yes")),
        Case("bits_per_dim_to_nats(dims=-1)", "dims", lambda c: metrics.bits_per_dim_to_nats(1.0, -1)),
        Case("iwae_nll(+inf log weight)", "inf", lambda c: metrics.iwae_nll(
            Weights(lambda x, k: torch.full((k, x.shape[0]), math.inf)), c.digits[:4], k=3)),
        Case("iwae_nll(NaN log weight)", "NaN", lambda c: metrics.iwae_nll(
            Weights(lambda x, k: torch.full((k, x.shape[0]), math.nan)), c.digits[:4], k=3)),
        Case("iwae_nll(wrong shape)", "shape", lambda c: metrics.iwae_nll(
            Weights(lambda x, k: torch.zeros(x.shape[0], k + 1)), c.digits[:4], k=3)),
        Case("iwae_nll(no method)", "log_importance_weights",
             lambda c: metrics.iwae_nll(torch.nn.Linear(2, 2), c.digits[:4], k=3)),
        Case("iwae_nll(k=0)", "k", lambda c: metrics.iwae_nll(Weights(lambda x, k: torch.zeros(k, 4)), c.digits[:4], k=0)),
        Case("iwae_nll(k=2.5)", "k", lambda c: metrics.iwae_nll(Weights(lambda x, k: torch.zeros(k, 4)), c.digits[:4], k=2.5)),
        Case("iwae_nll(chunk=0)", "chunk", lambda c: metrics.iwae_nll(
            Weights(lambda x, k: torch.zeros(k, 4)), c.digits[:4], k=3, chunk=0)),
        Case("iwae_nll(x='digits')", r"\bx\b", lambda c: metrics.iwae_nll(
            Weights(lambda x, k: torch.zeros(k, 4)), "digits", k=3)),
        Case("ais(float32 W, float64 b)", "dtype|float",
             lambda c: metrics.ais_log_partition(make_rbm(torch.zeros(6, 3), torch.zeros(6, dtype=torch.float64),
                                                          torch.zeros(3)), n_betas=10)),
        Case("ais(data with NaN)", "data|NaN",
             lambda c: metrics.ais_log_partition(make_rbm(torch.zeros(784, 3), torch.zeros(784), torch.zeros(3)),
                                                 n_betas=10, data=_with_nan(c.digits))),
        Case("ais(data outside [0, 1])", "data|\\[0, 1\\]",
             lambda c: metrics.ais_log_partition(make_rbm(torch.zeros(784, 3), torch.zeros(784), torch.zeros(3)),
                                                 n_betas=10, data=c.digits * 5)),
        Case("ais(n_chains=0)", "n_chains", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_chains=0, n_betas=10)),
        Case("ais(n_chains=2.5)", "n_chains", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_chains=2.5, n_betas=10)),
        Case("ais(n_betas=1)", "n_betas", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_betas=1)),
        Case("ais(schedule='cosine')", "schedule", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_betas=10, schedule="cosine")),
        Case("ais(no W)", r"\bW\b", lambda c: metrics.ais_log_partition(object(), n_betas=10)),
        Case("ais(base_visible_bias shape)", "base_visible_bias", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_betas=10,
            base_visible_bias=torch.zeros(5))),
        Case("ais(data width)", "data", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(6, 3), torch.zeros(6), torch.zeros(3)), n_betas=10, data=c.digits)),
        Case("ais(data and base bias)", "not both|both", lambda c: metrics.ais_log_partition(
            make_rbm(torch.zeros(784, 3), torch.zeros(784), torch.zeros(3)), n_betas=10, data=c.digits,
            base_visible_bias=torch.zeros(784))),
        Case("rbm_free_energy(v width)", r"\bv\b", lambda c: metrics.rbm_free_energy(
            torch.zeros(2, 5), torch.zeros(6, 3), torch.zeros(6), torch.zeros(3))),
        Case("rbm_log_partition_exact(30x30)", "enumerat|max_states", lambda c: metrics.rbm_log_partition_exact(
            torch.zeros(30, 30), torch.zeros(30), torch.zeros(30))),
        Case("rbm parameters mismatch", r"\bW\b|parameters", lambda c: metrics.rbm_log_partition_exact(
            torch.zeros(6, 3), torch.zeros(5), torch.zeros(3))),
        Case("judge(device='gpu')", "device", lambda c: metrics.judge("gpu")),
        Case("train_judge(minutes=-1)", "minutes", lambda c: metrics.train_judge(minutes=-1, progress=False)),
        Case("train_judge(epochs=0)", "epochs", lambda c: metrics.train_judge(epochs=0, progress=False)),
        # plot
        Case("plot.grid('x')", "images", lambda c: plot.grid("x")),
        Case("plot.grid(NaN)", "NaN", lambda c: plot.grid(_with_nan(c.digits[:4]))),
        Case("plot.grid(nrow=0)", "nrow", lambda c: plot.grid(c.digits[:4], nrow=0)),
        Case("plot.grid(labels too short)", "labels", lambda c: plot.grid(c.digits[:4], labels=[1, 2])),
        Case("plot.to_png(scale=0)", "scale", lambda c: plot.to_png(c.digits[0, 0], scale=0)),
        Case("plot.to_png(scale=2.5)", "scale", lambda c: plot.to_png(c.digits[0, 0], scale=2.5)),
        Case("plot.loss_curves('x')", "history", lambda c: plot.loss_curves("x")),
        Case("plot.loss_curves(keys=['nope'])", "nope", lambda c: plot.loss_curves(fit(steps=3), keys=["nope"])),
        Case("plot.frame_strip([])", "frames", lambda c: plot.frame_strip([])),
        Case("plot.frame_strip(titles too short)", "titles",
             lambda c: plot.frame_strip(list(c.digits[:3]), titles=["a"])),
        Case("plot.to_grid(empty)", "empty|images", lambda c: plot.to_grid(c.digits[:0])),
        # widgets
        Case("FrameScrubber([])", "frames", lambda c: widgets.FrameScrubber([])),
        Case("FrameScrubber(titles too short)", "titles", lambda c: widgets.FrameScrubber(frames(c), titles=["a"])),
        Case("FrameScrubber(render, no n_frames)", "n_frames", lambda c: widgets.FrameScrubber(lambda t: c.digits[0])),
        Case("FrameScrubber.show(99)", "frame", lambda c: widgets.FrameScrubber(frames(c)).show(99)),
        Case("FrameScrubber(scale=0)", "scale", lambda c: widgets.FrameScrubber(frames(c), scale=0)),
        Case("LatentScrubber(decode='f')", "decode", lambda c: scrubber(c, decode="f")),
        Case("LatentScrubber(z outside the range)", "range", lambda c: scrubber(c, z=torch.full((4,), 5.0))),
        Case("LatentScrubber(dims=[99])", "dim", lambda c: scrubber(c, dims=[99])),
        Case("LatentScrubber(value_range=(1, -1))", "value_range", lambda c: scrubber(c, value_range=(1, -1))),
        Case("LatentScrubber(labels=[])", "labels", lambda c: scrubber(c, labels=[])),
        Case("LatentScrubber.set(0, 99)", "range", lambda c: scrubber(c).set(0, 99)),
        Case("LatentScrubber.set_label(11)", "label", lambda c: scrubber(c, labels=range(10)).set_label(11)),
        Case("LatentScrubber(z with NaN)", "NaN|finite", lambda c: scrubber(c, z=torch.tensor([0.0, math.nan, 0, 0]))),
        Case("LatentScrubber(step=0)", "step", lambda c: scrubber(c, step=0)),
        # bench
        Case("measure_family(n_samples=0)", "n_samples",
             lambda c: bench.measure_family(bench.families()["mlp"], checkpoint=c.mlp_path, n_samples=0)),
        Case("measure_family(minutes=nan)", "minutes",
             lambda c: bench.measure_family(bench.families()["mlp"], minutes=float("nan"))),
        Case("measure_family(device='gpu')", "device",
             lambda c: bench.measure_family(bench.families()["mlp"], checkpoint=c.mlp_path, device="gpu")),
        Case("measure_family(checkpoint missing)", "no checkpoint",
             lambda c: bench.measure_family(bench.families()["mlp"], checkpoint=c.tmp / "none.pt")),
        Case("measure_data(batch_size=0)", "batch_size", lambda c: bench.measure_data("test", batch_size=0)),
        # models/mlp
        Case("MLPConfig(z_dim=0)", "z_dim", lambda c: mlp.MLPGenerator(mlp.MLPConfig(z_dim=0))),
        Case("MLPGenerator.sample('three')", "labels", lambda c: mlp.MLPGenerator(mlp.MLPConfig()).sample("three")),
        Case("MLPGenerator.sample([0, 10])", "labels", lambda c: mlp.MLPGenerator(mlp.MLPConfig()).sample([0, 10])),
        Case("MLPGenerator.sample(z shape)", r"\bz\b", lambda c: mlp.MLPGenerator(mlp.MLPConfig()).sample(
            torch.tensor([0, 1]), torch.zeros(2, 99))),
        Case("mse_loss(shapes differ)", "shape", lambda c: mlp.mse_loss(torch.zeros(2, 3), torch.zeros(3, 2))),
        Case("mse_optimum(label 12)", "labels", lambda c: mlp.mse_optimum(c.small[:4], torch.tensor([0, 1, 2, 12]))),
        # models/vae
        Case("VAEConfig(hidden=())", "hidden", lambda c: vae.VAE(vae.VAEConfig(hidden=()))),
        Case("VAE.elbo(x in [0, 2])", r"\[0, 1\]", lambda c: vae.VAE(vae.VAEConfig(hidden=(8,))).elbo(c.digits[:4] * 2)),
        Case("VAE.elbo(labels, unconditional)", "labels|unconditional",
             lambda c: vae.VAE(vae.VAEConfig(hidden=(8,))).elbo(c.digits[:4], c.labels[:4])),
        Case("VAE.log_importance_weights(k=0)", r"\bk\b", lambda c: vae.VAE(vae.VAEConfig(hidden=(8,)))
             .log_importance_weights(c.digits[:4], 0)),
        # models/flow
        Case("FlowConfig(n_scales=3) for 28x28", "divisible", lambda c: flow.FlowConfig(n_scales=3)),
        Case("FlowConfig(alpha=0.5)", "alpha", lambda c: flow.FlowConfig(alpha=0.5)),
        Case("FlowConfig(n_scales=True)", "n_scales", lambda c: flow.FlowConfig(n_scales=True)),
        Case("RealNVP(config=dict)", "FlowConfig", lambda c: flow.RealNVP(dict(n_scales=1))),
        Case("RealNVP.log_prob(16x16 digits)", r"\(B, 1, 28, 28\)", lambda c: _flow().log_prob(c.small[:4])),
        Case("RealNVP.log_prob(x in [0, 2])", r"\[0, 1\]", lambda c: _flow().log_prob(c.digits[:4] * 2)),
        Case("RealNVP.log_prob(NaN)", r"\[0, 1\]", lambda c: _flow().log_prob(_with_nan(c.digits[:4]))),
        Case("RealNVP.log_prob(a list)", "tensor", lambda c: _flow().log_prob([0.5] * 784)),
        Case("RealNVP.log_prob(labels, unconditional)", "unconditional",
             lambda c: _flow().log_prob(c.digits[:4], c.labels[:4])),
        Case("RealNVP.log_prob(label 10)", "labels", lambda c: _flow(10).log_prob(c.digits[:2], [0, 10])),
        Case("RealNVP.log_prob(3 labels for 2)", "labels", lambda c: _flow(10).log_prob(c.digits[:2], [0, 1, 2])),
        Case("RealNVP.log_prob(generator=3)", "generator", lambda c: _flow().log_prob(c.digits[:2], generator=3)),
        Case("RealNVP.forward(NaN)", "NaN", lambda c: _flow()(torch.full((2, 1, 28, 28), float("nan")))),
        Case("RealNVP.inverse(16x16)", r"\(B, 1, 28, 28\)", lambda c: _flow().inverse(torch.zeros(2, 1, 16, 16))),
        Case("RealNVP.sample(n=0)", r"\bn\b", lambda c: _flow().sample(0)),
        Case("RealNVP.sample(n=2.5)", r"\bn\b", lambda c: _flow().sample(2.5)),
        Case("RealNVP.sample(temperature=-1)", "temperature", lambda c: _flow().sample(2, temperature=-1.0)),
        Case("RealNVP.sample(temperature=nan)", "temperature", lambda c: _flow().sample(2, temperature=float("nan"))),
        Case("RealNVP.sample(float labels)", "labels", lambda c: _flow(10).sample(2, labels=torch.tensor([0.0, 1.0]))),
        Case("RealNVP.sample(generator=0)", "generator", lambda c: _flow().sample(2, generator=0)),
        Case("flow.test_bits_per_dim(batch_size=0)", "batch_size",
             lambda c: flow.test_bits_per_dim(_flow(), c.digits[:4], batch_size=0)),
        Case("flow.test_bits_per_dim(seed=1.5)", "seed", lambda c: flow.test_bits_per_dim(_flow(), c.digits[:4], seed=1.5)),
        Case("flow.train_recipe(minutes=0)", "minutes", lambda c: flow.train_recipe("flow", minutes=0)),
        Case("flow.train_recipe('nope')", "no flow recipe", lambda c: flow.train_recipe("nope")),
        Case("flow.train_recipe(layers=3)", "unknown recipe settings", lambda c: flow.train_recipe("flow", layers=3)),
        # the command line
        Case("cli sample --n -5", "positive|--n", lambda c: cli("sample", "mlp", "--checkpoint", c.mlp_path, "--n", "-5")),
        Case("cli sample --n many", "whole number|int", lambda c: cli("sample", "mlp", "--checkpoint", c.mlp_path, "--n", "many")),
        Case("cli bench --checkpoint mpl=...", "mpl", lambda c: cli("bench", "mlp", "--checkpoint", f"mpl={c.mlp_path}")),
        Case("cli bench --checkpoint mlp.pt", "FAMILY=PATH", lambda c: cli("bench", "mlp", "--checkpoint", c.mlp_path)),
        Case("cli bench --samples 0", "samples|positive", lambda c: cli("bench", "mlp", "--samples", "0",
                                                                          "--checkpoint", f"mlp={c.mlp_path}")),
        Case("cli bench no-such-family", "no family", lambda c: cli("bench", "no-such-family")),
        Case("cli train mlp --minutes nan", "minutes", lambda c: cli("train", "mlp", "--minutes", "nan",
                                                                      "--out", c.tmp / "m.pt")),
        Case("cli train mlp --minutes -1", "minutes", lambda c: cli("train", "mlp", "--minutes", "-1",
                                                                     "--out", c.tmp / "m.pt")),
        Case("cli info missing.pt", "no checkpoint", lambda c: cli("info", c.tmp / "none.pt")),
        Case("cli sample --checkpoint missing.pt", "no checkpoint",
             lambda c: cli("sample", "mlp", "--checkpoint", c.tmp / "none.pt", "--out", c.tmp / "s.png")),
        Case("cli sample --out a-folder", "out|image", lambda c: cli("sample", "mlp", "--checkpoint", c.mlp_path,
                                                                      "--out", c.folder)),
    ]
    return cases


def _flow(n_classes: int = 0):
    """A small 28x28 RealNVP (fresh: the identity) for the flow's cases."""
    from drawjourney.models import flow

    return flow.RealNVP(flow.FlowConfig(n_scales=1, n_couplings=1, channels=4, n_blocks=0,
                                        n_classes=n_classes))


def _pretrained(name):
    import drawjourney

    return drawjourney.pretrained(name)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _torch_file(path: Path, payload) -> Path:
    torch.save(payload, path)
    return path


def _with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[0] = math.nan
    return x


# ----------------------------------------------------------------------------- judging


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _raised_by_drawjourney(err: BaseException) -> bool:
    """True when the innermost frame that raised `err` is drawjourney's (or this file's) code."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return False
    where = frames[-1].filename.replace("\\", "/")
    return "/drawjourney/" in where or where.endswith("test_bad_input.py")


def judge_case(case: Case, ctx: Context) -> tuple[str, str]:
    """(outcome, what happened) for one case: outcome is clear, unclear or silent."""
    saved = {k: os.environ.get(k) for k, _ in case.env}
    for key, value in case.env:
        os.environ[key] = value.format(**vars(ctx))
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        case.call(ctx)
    except _Hang:
        return "silent", f"no error; still running after {HANG_SECONDS} s"
    except _CLIResult as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        if err.code == 2 and re.search(case.pattern, str(err), re.I) and "Traceback" not in str(err):
            return "clear", message
        return "unclear", f"exit {err.code}: {message[:200]}"
    except BaseException as err:  # noqa: BLE001 - every kind is judged here
        message = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        if case.expect == "ok":
            return "unclear", f"valid input refused: {message[:200]}"
        if (isinstance(err, CLEAR_TYPES) and _raised_by_drawjourney(err)
                and re.search(case.pattern, str(err), re.I)
                and not any(bad in str(err) for bad in FORBIDDEN)):
            return "clear", message[:200]
        frame = traceback.extract_tb(err.__traceback__)[-1]
        return "unclear", f"{message[:160]} (raised in {Path(frame.filename).name})"
    else:
        if case.expect == "ok":
            return "clear", "accepted"
        return "silent", "no error"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if case.env:
            _clear_data_caches()


@pytest.fixture(scope="module")
def ctx(data_root):
    return Context()


@pytest.fixture(scope="module")
def all_cases():
    return {case.id: case for case in _cases()}


def _ids() -> list[str]:
    return [case.id for case in _cases()]


@pytest.mark.parametrize("case_id", _ids())
def test_bad_input_gives_a_clear_error(case_id, ctx, all_cases, monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "cpu")
    outcome, what = judge_case(all_cases[case_id], ctx)
    assert outcome == "clear", f"{case_id}: {outcome}: {what}"


def main() -> int:
    """The survey: every case's outcome and the counts (clear / unclear / silent)."""
    os.environ.setdefault("DRAWJOURNEY_DEVICE", "cpu")
    if "DRAWJOURNEY_DATA" not in os.environ:
        print("set DRAWJOURNEY_DATA to a folder with MNIST (e.g. ../shared/data)", file=sys.stderr)
        return 2
    ctx = Context()
    counts = {"clear": 0, "unclear": 0, "silent": 0}
    for case in _cases():
        outcome, what = judge_case(case, ctx)
        counts[outcome] += 1
        print(f"{outcome:8s} {case.id:42s} {what[:150]}")
    total = sum(counts.values())
    print(f"\n{total} cases: {counts['clear']} clear ({100 * counts['clear'] / total:.0f}%), "
          f"{counts['unclear']} unclear, {counts['silent']} silent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
