import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from drawjourney import plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _titles(fig: Figure) -> list[str]:
    """The figure's suptitle and every axes' title (inset axes included), in drawing order."""
    axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    return ([fig.get_suptitle()] if fig.get_suptitle() else []) + titles


def test_to_grid_shapes_and_range():
    x = torch.rand(10, 1, 16, 16) * 3 - 1  # values outside [0, 1] are clipped
    g = plot.to_grid(x, nrow=4, pad=1)
    assert g.shape == (3 * 16 + 2, 4 * 16 + 3)
    assert g.dtype == np.float32 and g.min() >= 0.0 and g.max() <= 1.0
    # default nrow: a near square; (N, H, W) and (H, W) are accepted too
    assert plot.to_grid(torch.rand(4, 28, 28), pad=0).shape == (56, 56)
    assert plot.to_grid(np.ones((5, 7))).shape == (5, 7)


def test_to_grid_places_images_and_fills_empty_cells():
    x = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 0.25)])
    g = plot.to_grid(x, nrow=2, pad=1, pad_value=0.5)
    assert g.shape == (5, 5)
    assert (g[:2, :2] == 0.0).all() and (g[:2, 3:] == 1.0).all() and (g[3:, :2] == 0.25).all()
    assert (g[3:, 3:] == 0.5).all() and (g[2, :] == 0.5).all()


def test_to_grid_detaches_grad_and_casts_dtype():
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert plot.to_grid(x).shape == (4, 9)


@pytest.mark.parametrize("shape", [(3, 2, 8, 8), (2, 3, 1, 8, 8), (8,)])
def test_to_grid_bad_shapes_raise(shape):
    with pytest.raises(ValueError, match="channels|must be"):
        plot.to_grid(torch.rand(shape))


def test_to_png_is_png_of_scaled_size():
    data = plot.to_png(torch.rand(1, 16, 12), scale=3)
    assert data.startswith(b"\x89PNG")
    img = Image.open(io.BytesIO(data))
    assert img.size == (36, 48) and img.mode == "L"
    pixels = np.asarray(img)
    assert (pixels[:3, :3] == pixels[0, 0]).all()  # nearest neighbour: a 3x3 block per pixel


def test_to_png_maps_zero_and_one_to_black_and_white():
    img = Image.open(io.BytesIO(plot.to_png(np.array([[0.0, 1.0]]), scale=1)))
    assert np.asarray(img).tolist() == [[0, 255]]


def test_to_png_bad_input_raises():
    with pytest.raises(ValueError, match="one image"):
        plot.to_png(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="scale"):
        plot.to_png(torch.rand(8, 8), scale=0)


def test_grid_tiled_with_title():
    fig = plot.grid(torch.rand(6, 1, 16, 16), title="samples")
    assert isinstance(fig, Figure)
    assert _titles(fig) == ["samples"]
    assert not fig.axes[0].axison
    assert fig.axes[0].images[0].get_array().shape == (2 * 16 + 1, 3 * 16 + 2)


def test_grid_with_labels_titles_each_panel():
    fig = plot.grid(torch.rand(4, 1, 16, 16), labels=torch.tensor([3, 1, 4, 1]), nrow=2, title="digits")
    assert _titles(fig) == ["digits", "3", "1", "4", "1"]
    assert len(fig.axes) == 4 and all(not ax.axison for ax in fig.axes)


def test_grid_into_given_axes():
    fig, ax = plt.subplots()
    assert plot.grid(torch.rand(3, 1, 8, 8), labels=["a", "b", "c"], ax=ax, title="t") is fig
    assert _titles(fig) == ["t", "a", "b", "c"]
    assert len(ax.child_axes) == 3


def test_grid_label_count_mismatch_raises():
    with pytest.raises(ValueError, match="labels"):
        plot.grid(torch.rand(4, 1, 8, 8), labels=[1, 2])


def test_loss_curves_from_dict():
    fig = plot.loss_curves({"recon": [3.0, 2.0, 1.0], "kl": [0.1, 0.2, 0.3]}, title="VAE")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and ax.get_title() == "VAE"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["recon", "kl"]
    assert ax.lines[0].get_ydata().tolist() == [3.0, 2.0, 1.0]


def test_loss_curves_from_history_object_smoothed_and_log():
    class History:
        losses = {"loss": list(np.linspace(5, 1, 50)), "other": [1.0] * 50}
        seconds = 12.34

    fig = plot.loss_curves(History(), keys=["loss"], smooth=0.9, logy=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert "12.3 s" in ax.get_title()
    raw, smoothed = ax.lines
    assert raw.get_alpha() < 1 and smoothed.get_label() == "loss"
    # bias-corrected EMA starts at the first value and lags a decreasing curve
    assert smoothed.get_ydata()[0] == pytest.approx(5.0)
    assert (smoothed.get_ydata()[1:] > raw.get_ydata()[1:]).all()


def test_loss_curves_bad_input_raises():
    with pytest.raises(ValueError, match="smooth"):
        plot.loss_curves({"loss": [1.0]}, smooth=1.0)
    with pytest.raises(ValueError, match="no losses named"):
        plot.loss_curves({"loss": [1.0]}, keys=["kl"])
    with pytest.raises(ValueError, match="history"):
        plot.loss_curves([1.0, 2.0])


def test_frame_indices_include_first_and_last():
    assert plot.frame_indices(100, 10)[0] == 0 and plot.frame_indices(100, 10)[-1] == 99
    assert len(plot.frame_indices(100, 10)) == 10
    assert plot.frame_indices(3, 10) == [0, 1, 2]
    assert plot.frame_indices(5, 1) == [4]


def test_frame_strip_picks_first_and_last():
    frames = torch.rand(25, 1, 16, 16)
    fig = plot.frame_strip(frames, title="Gibbs chain", max_frames=5)
    assert fig.get_suptitle() == "Gibbs chain"
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 6", "step 12", "step 18", "step 24"]
    assert np.allclose(fig.axes[-1].images[0].get_array(), frames[24, 0].numpy())


def test_frame_strip_tiles_batched_frames_and_uses_titles():
    fig = plot.frame_strip(torch.rand(3, 4, 1, 8, 8), titles=["t=0", "t=1", "t=2"])
    assert [ax.get_title() for ax in fig.axes] == ["t=0", "t=1", "t=2"]
    assert fig.axes[0].images[0].get_array().shape == (17, 17)


def test_frame_strip_bad_input_raises():
    with pytest.raises(ValueError, match="titles"):
        plot.frame_strip(torch.rand(3, 1, 8, 8), titles=["a"])
    with pytest.raises(ValueError, match="no frames"):
        plot.frame_strip([])
    with pytest.raises(ValueError, match="frames must be"):
        plot.frame_strip(torch.rand(3, 8))


def test_figures_are_not_registered_with_pyplot():
    # a returned figure shows once in a notebook: pyplot's inline backend does not show it again
    plot.grid(torch.rand(2, 1, 8, 8))
    assert plt.get_fignums() == []


@pytest.mark.parametrize("make", [
    lambda: plot.grid(torch.rand(5, 1, 16, 16), labels=range(5), title="t"),
    lambda: plot.grid(torch.rand(5, 1, 16, 16), title="t"),
    lambda: plot.loss_curves({"loss": [1.0, 0.5]}, smooth=0.5),
    lambda: plot.frame_strip(torch.rand(12, 2, 1, 16, 16), title="t"),
])
def test_figures_render_to_png(make):
    buffer = io.BytesIO()
    make().savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_figures_show_as_png_inside_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    had_instance = InteractiveShell.initialized()
    shell = InteractiveShell.instance()
    try:
        plot._register_inline_png()
        data, _ = shell.display_formatter.format(plot.grid(torch.rand(2, 1, 8, 8), title="t"))
    finally:
        if not had_instance:
            InteractiveShell.clear_instance()
    png = data["image/png"]
    png = png if isinstance(png, bytes) else base64.b64decode(png)
    assert png[:4] == b"\x89PNG"


def _images(n=4):
    return torch.rand(n, 1, 8, 8)


def _with(value, at=(0, 0, 0, 0)):
    """(4, 1, 8, 8) images in [0, 1] with one pixel set to `value`."""
    x = torch.rand(4, 1, 8, 8)
    x[at] = value
    return x


class _History:
    losses = {"loss": [1.0, 0.5]}
    seconds = "fast"

# (what is called, the error, what its message must say): one row per kind of bad input.
BAD_INPUT = [
    # to_grid / to_png: what an image is
    (lambda: plot.to_grid("digits"), TypeError, "images must be a tensor or array"),
    (lambda: plot.to_grid(None), TypeError, "images must be a tensor or array"),
    (lambda: plot.to_grid([[0.0, 1.0], [0.5]]), TypeError, "could not become one"),
    (lambda: plot.to_grid(_with(float("nan"))), ValueError, "1 of 256 values are NaN or infinite"),
    (lambda: plot.to_grid(_with(float("inf"))), ValueError, "NaN or infinite"),
    (lambda: plot.to_grid(torch.rand(2, 1, 0, 8)), ValueError, "no pixels"),
    (lambda: plot.to_grid(torch.rand(0, 1, 8, 8)), ValueError, "no images"),
    (lambda: plot.to_grid(_images(), nrow=0), ValueError, r"nrow must be >= 1 \(images per row\)"),
    (lambda: plot.to_grid(_images(), nrow=2.5), ValueError, "nrow must be a whole number"),
    (lambda: plot.to_grid(_images(), nrow="2"), TypeError, "nrow must be an int"),
    (lambda: plot.to_grid(_images(), pad=-1), ValueError, "pad must be >= 0"),
    (lambda: plot.to_grid(_images(), pad=0.5), ValueError, "pad must be a whole number"),
    (lambda: plot.to_grid(_images(), pad_value=2.0), ValueError, r"pad_value must be a grey level in \[0, 1\]"),
    (lambda: plot.to_grid(_images(), pad_value=float("nan")), ValueError, "pad_value must be a finite number"),
    (lambda: plot.to_png({"image": 1}), TypeError, "image must be a tensor or array"),
    (lambda: plot.to_png(torch.full((8, 8), float("nan"))), ValueError, "image: 64 of 64 values are NaN"),
    (lambda: plot.to_png(torch.rand(8, 8), scale=2.5), ValueError, "scale must be a whole number"),
    (lambda: plot.to_png(torch.rand(8, 8), scale="4"), TypeError, "scale must be an int"),
    (lambda: plot.to_png(torch.rand(8, 8), scale=True), TypeError, "scale must be an int"),
    (lambda: plot.to_png(torch.rand(8, 8), scale=-2), ValueError, "scale must be >= 1"),
    # grid: a picture refuses what it would draw wrongly
    (lambda: plot.grid(_images() * 2 - 1), ValueError, r"values must be in \[0, 1\].*\(x \+ 1\) / 2"),
    (lambda: plot.grid(_images() * 10), ValueError, r"values must be in \[0, 1\].*sigmoid"),
    (lambda: plot.grid(_with(float("nan"))), ValueError, "NaN"),
    (lambda: plot.grid(torch.rand(0, 1, 8, 8)), ValueError, "no images"),
    (lambda: plot.grid(_images(), nrow=0), ValueError, "nrow must be >= 1"),
    (lambda: plot.grid(_images(), labels=3), TypeError, "labels must be a list"),
    (lambda: plot.grid(_images(), labels="abcd"), TypeError, "labels must be a list"),
    (lambda: plot.grid(_images(), labels=torch.zeros(2, 2)), ValueError, "labels must be 1-D"),
    (lambda: plot.grid(_images(), labels=[np.zeros(2)] * 4), ValueError, "each label or title must be one value"),
    (lambda: plot.grid(_images(), title=3), TypeError, "title must be a str"),
    (lambda: plot.grid(_images(), ax="left"), TypeError, "ax must be a matplotlib Axes"),
    (lambda: plot.grid(_images(), cmap="greys"), ValueError, "cmap must be a matplotlib colormap name"),
    (lambda: plot.grid(_images(), cmap=0), TypeError, "cmap must be a matplotlib colormap name"),
    # loss_curves
    (lambda: plot.loss_curves({"loss": [1.0]}, smooth="0.9"), TypeError, "smooth must be a number"),
    (lambda: plot.loss_curves({"loss": [1.0]}, smooth=-0.1), ValueError, r"smooth must be in \[0, 1\)"),
    (lambda: plot.loss_curves({"loss": [1.0]}, keys="loss"), TypeError, "keys must be a list"),
    (lambda: plot.loss_curves({"loss": [1.0]}, keys=[]), ValueError, "no losses to draw"),
    (lambda: plot.loss_curves({}), ValueError, "no losses to draw"),
    (lambda: plot.loss_curves({"loss": []}), ValueError, r"history\['loss'\] has no losses"),
    (lambda: plot.loss_curves({"loss": 0.5}), TypeError, r"history\['loss'\] must be a list"),
    (lambda: plot.loss_curves({"loss": [1.0, "low"]}), TypeError, r"history\['loss'\]\[1\] must be a number"),
    (lambda: plot.loss_curves({"loss": [1.0]}, ax=3), TypeError, "ax must be a matplotlib Axes"),
    (lambda: plot.loss_curves({"loss": [1.0]}, title=["a"]), TypeError, "title must be a str"),
    (lambda: plot.loss_curves({"loss": [1.0]}, logy="yes"), TypeError, "logy must be True or False"),
    (lambda: plot.loss_curves(_History()), TypeError, "history.seconds must be a number"),
    # frame_indices, split_frames, frame_strip
    (lambda: plot.frame_indices(0, 5), ValueError, "n_frames must be >= 1"),
    (lambda: plot.frame_indices("10", 5), TypeError, "n_frames must be an int"),
    (lambda: plot.frame_indices(10, 0), ValueError, "max_frames must be >= 1"),
    (lambda: plot.frame_indices(10, 2.5), ValueError, "max_frames must be a whole number"),
    (lambda: plot.split_frames(7), TypeError, "frames must be a"),
    (lambda: plot.frame_strip("frames"), TypeError, "frames must be a"),
    (lambda: plot.frame_strip([torch.rand(8, 8), torch.rand(3, 3, 8, 8)]), ValueError,
     r"frames\[1\]: shape \(3, 3, 8, 8\) has 3 channels"),
    (lambda: plot.frame_strip(_with(float("nan"), at=(1, 0, 2, 2))), ValueError,
     r"frames\[1\]: 1 of 64 values are NaN"),
    (lambda: plot.frame_strip(_with(1.5, at=(3, 0, 0, 0))), ValueError, r"frames\[3\]: values must be in \[0, 1\]"),
    (lambda: plot.frame_strip(_images(3), titles="abc"), TypeError, "titles must be a list"),
    (lambda: plot.frame_strip(_images(3), titles=["a", "b", "c", "d"]), ValueError, "got 4 titles for 3 frames"),
    (lambda: plot.frame_strip(_images(3), title=1), TypeError, "title must be a str"),
    (lambda: plot.frame_strip(_images(3), max_frames=0), ValueError, "max_frames must be >= 1"),
    (lambda: plot.frame_strip(torch.rand(3, 4, 1, 8, 8), nrow=0), ValueError, "nrow must be >= 1"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT,
                         ids=[f"{i:02d}-{m[:30]}" for i, (_, _, m) in enumerate(BAD_INPUT)])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_small_rounding_outside_unit_range_is_clipped_not_refused():
    x = torch.rand(4, 1, 8, 8)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 1.0 + 1e-6, -1e-6  # float rounding of (1 - t) * a + t * b
    image = plot.grid(x).axes[0].images[0].get_array()
    assert image.max() <= 1.0 and image.min() >= 0.0


def test_loss_curves_says_where_a_run_diverged():
    fig = plot.loss_curves({"loss": [1.0, 0.5, float("nan"), float("nan")]}, title="run")
    assert fig.axes[0].get_title() == "run\nloss is NaN/inf from step 2"


def test_inputs_that_worked_keep_working():
    assert plot.to_png(torch.rand(8, 8), scale=2.0)[:4] == b"\x89PNG"  # a whole float is an int
    assert plot.to_grid(torch.rand(4, 1, 8, 8), nrow=np.int64(2), pad=torch.tensor(1)).shape == (17, 17)
    assert plot.to_grid(torch.rand(4, 8, 8) > 0.5).shape == (17, 17)  # bool images
    fig = plot.grid(torch.rand(2, 1, 8, 8), labels=np.array([3, 4]), cmap="gray_r")
    assert [ax.get_title() for ax in fig.axes] == ["3", "4"]
    fig = plot.loss_curves({"loss": np.array([1.0, 0.5]), "kl": [torch.tensor(0.1), np.float32(0.2)]})
    assert len(fig.axes[0].lines) == 2
