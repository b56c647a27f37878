import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from drawjourney import widgets


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _frames(t: int = 5) -> torch.Tensor:
    """(T, 1, 8, 8) frames whose brightness is t / (T - 1): each frame's PNG is different."""
    return torch.linspace(0, 1, t).view(t, 1, 1, 1).expand(t, 1, 8, 8).clone()


def test_frame_scrubber_builds_headless_and_follows_slider():
    s = widgets.FrameScrubber(_frames(), scale=2)
    assert (s.slider.min, s.slider.max, s.slider.value) == (0, 4, 0)
    assert s.image.value == s.png(0) and s.image.format == "png"
    assert s.caption.value == "step 0"
    first = s.image.value
    s.slider.value = 3  # what the frontend does when the user drags
    assert s.image.value != first and s.image.value == s.png(3)
    assert s.caption.value == "step 3"
    assert _pixels(s.image.value).shape == (16, 16)
    assert _pixels(s.image.value)[0, 0] == round(0.75 * 255)
    s.show(4)
    assert s.slider.value == 4 and s.image.value == s.png(4)
    assert s.widget.children == (s.image, s.caption, s.slider)


def test_frame_scrubber_titles_batched_frames_and_lists():
    s = widgets.FrameScrubber(torch.rand(3, 4, 1, 8, 8), titles=["t=0", "t=<1>", "t=2"], label="t")
    assert s.slider.description == "t"
    s.show(1)
    assert s.caption.value == "t=&lt;1&gt;"  # captions are escaped HTML
    assert s.frame(1).shape == (17, 17)  # 4 images tiled 2x2 with 1 px padding
    listed = widgets.FrameScrubber([torch.rand(1, 8, 8), torch.rand(8, 8)], label="k")
    listed.show(1)
    assert listed.caption.value == "k 1"


def test_frame_scrubber_renders_callable_frames_lazily_and_once():
    calls = []

    def render(t):
        calls.append(t)
        return torch.full((2, 1, 8, 8), t / 99)

    s = widgets.FrameScrubber(render, n_frames=100)
    assert calls == [0]
    s.show(42)
    s.show(0)
    s.show(42)
    assert calls == [0, 42]
    assert s.image.value == s.png(42)


def test_frame_scrubber_strip_is_static_fallback():
    calls = []

    def render(t):
        calls.append(t)
        return torch.rand(1, 8, 8)

    fig = widgets.FrameScrubber(render, n_frames=50).strip(max_frames=4, title="chain")
    assert isinstance(fig, Figure) and fig.get_suptitle() == "chain"
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 16", "step 33", "step 49"]
    assert sorted(set(calls)) == [0, 16, 33, 49]


def test_frame_scrubber_bad_input_raises():
    with pytest.raises(ValueError, match="no frames"):
        widgets.FrameScrubber([])
    with pytest.raises(ValueError, match="n_frames"):
        widgets.FrameScrubber(lambda t: torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="titles"):
        widgets.FrameScrubber(_frames(3), titles=["a"])
    with pytest.raises(ValueError, match="frames must be"):
        widgets.FrameScrubber(torch.rand(3, 8))
    with pytest.raises(ValueError, match="frame index"):
        widgets.FrameScrubber(_frames(3)).show(3)


def _toy_decode(calls=None):
    """An 'image' whose brightness is sigmoid(z[:, 0]) and whose first column is label / 9."""
    def decode(z, label):
        if calls is not None:
            calls.append((z.clone(), label))
        x = torch.sigmoid(z[:, :1]).view(-1, 1, 1, 1).expand(-1, 1, 6, 6).clone()
        x[..., 0] = 0.0 if label is None else label / 9
        return x
    return decode


def test_latent_scrubber_slider_moves_z_and_image():
    s = widgets.LatentScrubber(_toy_decode(), torch.zeros(5), dims=[0, 3], scale=1)
    assert len(s.sliders) == 2 and s.dropdown is None
    assert [sl.description for sl in s.sliders] == ["z[0]", "z[3]"]
    assert s.sliders[0].continuous_update is False
    assert s.z.shape == (1, 5)
    before = s.image.value
    assert _pixels(before)[0, 1] == round(0.5 * 255)
    s.sliders[0].value = 2.0  # what the frontend does when the user releases the slider
    assert s.z[0, 0].item() == pytest.approx(2.0)
    assert s.image.value != before
    assert _pixels(s.image.value)[0, 1] == round(torch.sigmoid(torch.tensor(2.0)).item() * 255)
    s.set(3, -1.5)
    assert s.z[0, 3].item() == pytest.approx(-1.5) and s.sliders[1].value == pytest.approx(-1.5)
    s.set(4, 10.0)  # a dim without slider takes any value
    assert s.z[0, 4].item() == 10.0


def test_latent_scrubber_default_dims_names_and_batch():
    s = widgets.LatentScrubber(_toy_decode(), torch.randn(3, 20), names=[f"d{i}" for i in range(8)])
    assert s.dims == list(range(8)) and s.sliders[7].description == "d7"
    s.sliders[2].value = 1.0
    assert (s.z[:, 2] == 1.0).all()  # a slider moves that dim of every latent in the batch
    assert _pixels(s.image.value).shape == (4 * (2 * 6 + 1), 4 * (2 * 6 + 1))  # 3 images tiled 2x2


def test_latent_scrubber_label_dropdown_calls_decode_with_label():
    calls = []
    s = widgets.LatentScrubber(_toy_decode(calls), torch.zeros(1, 2), labels=range(10), label=3, scale=1)
    assert calls[-1][1] == 3 and s.dropdown.value == 3
    before = s.image.value
    s.dropdown.value = 7
    assert calls[-1][1] == 7 and s.label == 7
    assert s.image.value != before and _pixels(s.image.value)[0, 0] == round(7 / 9 * 255)
    n = len(calls)
    s.set_label(9)
    assert len(calls) == n + 1 and calls[-1][1] == 9 and s.dropdown.value == 9
    s.sliders[0].value = 1.0
    assert calls[-1][1] == 9  # the label stays while the latent moves


def test_latent_scrubber_passes_a_clone_and_no_grad():
    seen = []

    def decode(z, label):
        seen.append(torch.is_grad_enabled())
        z += 100.0  # a careless decoder must not move the scrubber's latent
        return torch.zeros(z.shape[0], 1, 4, 4)

    z = torch.zeros(1, 3, requires_grad=True)
    s = widgets.LatentScrubber(decode, z)
    s.set(1, 0.5)
    assert seen == [False, False]
    assert s.z.tolist() == [[0.0, 0.5, 0.0]] and not s.z.requires_grad


def test_latent_scrubber_bad_input_raises():
    decode = _toy_decode()
    with pytest.raises(ValueError, match="latent dim"):
        widgets.LatentScrubber(decode, torch.zeros(4), dims=[0, 4])
    with pytest.raises(ValueError, match="repeated"):
        widgets.LatentScrubber(decode, torch.zeros(4), dims=[1, 1])
    with pytest.raises(ValueError, match="not one of the labels"):
        widgets.LatentScrubber(decode, torch.zeros(4), labels=range(10), label=10)
    with pytest.raises(ValueError, match="names"):
        widgets.LatentScrubber(decode, torch.zeros(4), dims=[0], names=["a", "b"])
    with pytest.raises(ValueError, match="z must be"):
        widgets.LatentScrubber(decode, torch.zeros(1, 2, 3))
    s = widgets.LatentScrubber(decode, torch.zeros(4), labels=[0, 1])
    with pytest.raises(ValueError, match="not one of the labels"):
        s.set_label(5)
    with pytest.raises(ValueError, match="latent dim"):
        s.set(4, 0.0)
    with pytest.raises(ValueError, match="outside the slider range"):
        s.set(0, 5.0)


def test_latent_scrubber_strip_sweeps_one_dim():
    s = widgets.LatentScrubber(_toy_decode(), torch.zeros(4), dims=[2, 0], labels=[1, 2])
    fig = s.strip()
    assert isinstance(fig, Figure) and len(fig.axes) == 7
    assert "z[2]" in fig.get_suptitle()
    fig = s.strip(dim=0, values=[-2.0, 0.0, 2.0], title="sweep")
    assert fig.get_suptitle() == "sweep" and [ax.get_title() for ax in fig.axes] == ["-2", "0", "2"]
    brightness = [ax.images[0].get_array()[0, 1] for ax in fig.axes]
    assert brightness[0] < brightness[1] < brightness[2]
    assert s.z.tolist() == [[0.0] * 4]  # the sweep leaves the scrubber's latent alone


@pytest.fixture
def ipython_shell(monkeypatch, tmp_path):
    """A real IPython shell for one test, removed afterwards so no other test sees it."""
    import builtins

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if InteractiveShell.initialized():  # running under IPython already: use that one
        yield InteractiveShell.instance()
        return
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    config = Config()
    config.HistoryManager.enabled = False
    names_before = set(vars(builtins))
    shell = InteractiveShell.instance(config=config)
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()
        for name in set(vars(builtins)) - names_before:  # `display`, `__IPYTHON__`
            delattr(builtins, name)


@pytest.mark.parametrize("make", [
    lambda: widgets.FrameScrubber(_frames()),
    lambda: widgets.LatentScrubber(_toy_decode(), torch.zeros(3), labels=[0, 1]),
])
def test_ipython_display_publishes_the_widget(make, ipython_shell):
    # display(scrubber) must go through _ipython_display_ and publish the widget's own
    # view, the mimebundle JupyterLab and Colab render.
    from IPython.display import display
    from IPython.utils.capture import capture_output

    scrubber = make()
    with capture_output() as captured:
        display(scrubber)
    [output] = captured.outputs
    view = output.data["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == scrubber.widget.model_id
    # the text/plain fallback, saved with the notebook, says what the widget is
    assert output.data["text/plain"] == repr(scrubber)


@pytest.mark.parametrize("make, text", [
    (lambda: widgets.FrameScrubber(_frames(40), label="Gibbs step"),
     "FrameScrubber: 40 frames of 'Gibbs step' (interactive: run the notebook; static strip below)"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.zeros(100), dims=range(5), labels=range(10)),
     "LatentScrubber: 5 of 100 latent dims + a label menu (interactive: run the notebook; static strip below)"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.zeros(3)),
     "LatentScrubber: 3 of 3 latent dims (interactive: run the notebook; static strip below)"),
])
def test_scrubbers_describe_themselves_in_plain_text(make, text):
    scrubber = make()
    assert repr(scrubber) == repr(scrubber.widget) == text
    assert len(text) <= 110  # ipywidgets 7.7 and 8.x cut a widget's text/plain at 110 characters


def test_plain_text_of_a_long_label_fits():
    text = repr(widgets.FrameScrubber(_frames(3), label="a very long description of the slider").widget)
    assert len(text) <= 110 and "'a very long description…'" in text


def test_ipython_display_without_a_shell_prints_instead_of_failing(capsys):
    # plain python (no IPython shell): IPython's display falls back to print
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        pytest.skip("an IPython shell is running")
    widgets.FrameScrubber(_frames())._ipython_display_()
    assert capsys.readouterr().out.startswith("FrameScrubber: 5 frames of 'step'")


def _accelerators() -> list[str]:
    names = ["cuda"] if torch.cuda.is_available() else []
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


@pytest.mark.parametrize("device", _accelerators() or [pytest.param("cuda", marks=pytest.mark.skip("no GPU"))])
def test_scrubbers_take_images_and_latents_on_an_accelerator(device):
    frames = widgets.FrameScrubber(_frames().to(device))
    frames.show(2)
    latent = widgets.LatentScrubber(_toy_decode(), torch.zeros(2, 3, device=device), labels=[0, 1])
    latent.set(0, 1.0)
    assert latent.z.device.type == device
    assert len(latent.strip(values=[0.0, 1.0]).axes) == 2


def test_boxes_keep_images_at_their_own_size():
    """Flexbox stretching squashed a 64x64 digit to 64x188 in JupyterLab; children align to the start."""
    frames = widgets.FrameScrubber(torch.rand(3, 1, 8, 8))
    latent = widgets.LatentScrubber(lambda z, label: torch.rand(1, 1, 8, 8), torch.zeros(4))
    assert frames.widget.layout.align_items == "flex-start"
    assert latent.widget.layout.align_items == "flex-start"


def _bad_frames(value, t=1):
    frames = _frames(3)
    frames[t, 0, 2, 2] = value
    return frames


def _decode_returning(images):
    return lambda z, label: images


def _latent(**kwargs):
    return widgets.LatentScrubber(_toy_decode(), torch.zeros(4), **kwargs)


# (what is called, the error, what its message must say): one row per kind of bad input.
BAD_INPUT = [
    # FrameScrubber: the frames
    (lambda: widgets.FrameScrubber(7), TypeError, "frames must be a"),
    (lambda: widgets.FrameScrubber(_bad_frames(float("nan"))), ValueError, r"frames\[1\]: 1 of 64 values are NaN"),
    (lambda: widgets.FrameScrubber(_bad_frames(-2.0, t=2)), ValueError, r"frames\[2\]: values must be in \[0, 1\]"),
    (lambda: widgets.FrameScrubber([torch.rand(8, 8), torch.rand(8)]), ValueError,
     r"frames\[1\] must be \(N, 1, H, W\)"),
    (lambda: widgets.FrameScrubber(lambda t: None, n_frames=3), TypeError, r"render\(0\) must be a tensor or array"),
    (lambda: widgets.FrameScrubber(lambda t: torch.full((8, 8), t * 0.75), n_frames=3).show(2), ValueError,
     r"render\(2\): values must be in \[0, 1\]"),
    (lambda: widgets.FrameScrubber(lambda t: torch.rand(8, 8), n_frames=0), ValueError, "n_frames must be >= 1"),
    (lambda: widgets.FrameScrubber(lambda t: torch.rand(8, 8), n_frames=2.5), ValueError,
     "n_frames must be a whole number"),
    (lambda: widgets.FrameScrubber(lambda t: torch.rand(8, 8), n_frames="3"), TypeError, "n_frames must be an int"),
    (lambda: widgets.FrameScrubber(_frames(3), n_frames=4), ValueError, "n_frames=4 but 3 frames"),
    # FrameScrubber: the other arguments
    (lambda: widgets.FrameScrubber(_frames(3), titles="abc"), TypeError, "titles must be a list"),
    (lambda: widgets.FrameScrubber(_frames(3), label=3), TypeError, "label must be a str"),
    (lambda: widgets.FrameScrubber(_frames(3), scale=0), ValueError, "scale must be >= 1"),
    (lambda: widgets.FrameScrubber(_frames(3), scale=1.5), ValueError, "scale must be a whole number"),
    (lambda: widgets.FrameScrubber(_frames(3), scale="2"), TypeError, "scale must be an int"),
    (lambda: widgets.FrameScrubber(torch.rand(3, 4, 1, 8, 8), nrow=0), ValueError, "nrow must be >= 1"),
    (lambda: widgets.FrameScrubber(_frames(3)).show(-1), ValueError, r"frame index must be >= 0"),
    (lambda: widgets.FrameScrubber(_frames(3)).show(1.5), ValueError, "frame index must be a whole number"),
    (lambda: widgets.FrameScrubber(_frames(3)).show("1"), TypeError, "frame index must be an int"),
    (lambda: widgets.FrameScrubber(_frames(3)).strip(max_frames=0), ValueError, "max_frames must be >= 1"),
    (lambda: widgets.FrameScrubber(_frames(3)).strip(title=1), TypeError, "title must be a str"),
    # LatentScrubber: decode and what it returns
    (lambda: widgets.LatentScrubber("decoder", torch.zeros(4)), TypeError, "decode must be a function"),
    (lambda: widgets.LatentScrubber(_decode_returning(None), torch.zeros(4)), TypeError,
     r"decode\(z, label\) must be a tensor or array"),
    (lambda: widgets.LatentScrubber(_decode_returning(torch.rand(1, 3, 8, 8)), torch.zeros(4)), ValueError,
     r"decode\(z, label\): shape \(1, 3, 8, 8\) has 3 channels"),
    (lambda: widgets.LatentScrubber(_decode_returning(torch.full((1, 1, 8, 8), float("nan"))), torch.zeros(4)),
     ValueError, r"decode\(z, label\): 64 of 64 values are NaN"),
    (lambda: widgets.LatentScrubber(_decode_returning(torch.rand(1, 1, 8, 8) * 2 - 1), torch.zeros(4)), ValueError,
     r"decode\(z, label\): values must be in \[0, 1\].*\(x \+ 1\) / 2"),
    # LatentScrubber: the latent
    (lambda: widgets.LatentScrubber(_toy_decode(), "z"), TypeError, "z must be a tensor"),
    (lambda: widgets.LatentScrubber(_toy_decode(), [[0.0, 1.0], [2.0]]), TypeError, "z must be a tensor"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.zeros(0)), ValueError,
     r"z must be \(D,\), \(1, D\) or \(B, D\)"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.tensor([0.0, float("nan")])), ValueError,
     "z contains 1 NaN or infinite"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.tensor([0.0, 4.5, 0.0])), ValueError,
     r"z\[0, 1\] = 4.5 is outside the slider range value_range=\(-3, 3\).*value_range=\(-3, 5\)"),
    (lambda: widgets.LatentScrubber(_toy_decode(), torch.tensor([0.0, 0.0, -7.2]), value_range=(-1, 1)), ValueError,
     r"z\[0, 2\] = -7.2 is outside the slider range value_range=\(-1, 1\).*value_range=\(-8, 1\)"),
    # LatentScrubber: dims, labels, names
    (lambda: _latent(dims=2), TypeError, "dims must be a list"),
    (lambda: _latent(dims=[]), ValueError, "dims is empty"),
    (lambda: _latent(dims=[0.5]), ValueError, "latent dim must be a whole number"),
    (lambda: _latent(dims=["z0"]), TypeError, "latent dim must be an int"),
    (lambda: _latent(dims=[-1]), ValueError, "latent dim must be >= 0"),
    (lambda: _latent(labels="0123"), TypeError, "labels must be a list"),
    (lambda: _latent(labels=[]), ValueError, "labels is empty"),
    (lambda: _latent(labels=[1, 2, 1]), ValueError, "labels has repeated values"),
    (lambda: _latent(dims=[0, 1], names="ab"), TypeError, "names must be a list"),
    # LatentScrubber: the sliders
    (lambda: _latent(value_range=3), TypeError, r"value_range must be a pair \(low, high\) of numbers"),
    (lambda: _latent(value_range=(1,)), ValueError, r"value_range must be a pair \(low, high\).*got 1 values"),
    (lambda: _latent(value_range=(3, -3)), ValueError, "low < high"),
    (lambda: _latent(value_range=(-3, float("inf"))), ValueError, "value_range's low and high must be a finite number"),
    (lambda: _latent(value_range=("low", "high")), TypeError, "value_range's low and high must be a number"),
    (lambda: _latent(step=0), ValueError, "step must be > 0"),
    (lambda: _latent(step=10), ValueError, r"step must be > 0 and at most the width of value_range \(6\)"),
    (lambda: _latent(step="0.1"), TypeError, "step must be a number"),
    (lambda: _latent(scale=0), ValueError, "scale must be >= 1"),
    (lambda: _latent(nrow=0), ValueError, "nrow must be >= 1"),
    (lambda: _latent(continuous_update="yes"), TypeError, "continuous_update must be True or False"),
    # LatentScrubber: its methods
    (lambda: _latent().set(0, "high"), TypeError, "value must be a number"),
    (lambda: _latent(dims=[0]).set(3, float("nan")), ValueError, "value must be a finite number"),
    (lambda: _latent().images(torch.zeros(1, 5)), ValueError, "z must have 4 latent dims"),
    (lambda: _latent(labels=[0, 1]).images(label=2), ValueError, "not one of the labels"),
    (lambda: _latent().strip(values="abc"), TypeError, "values must be a list"),
    (lambda: _latent().strip(values=[]), ValueError, "at least one value"),
    (lambda: _latent().strip(values=[0.0, float("nan")]), ValueError, "each of values must be a finite number"),
    (lambda: _latent().strip(dim=9), ValueError, r"latent dim must be an int in \[0, 3\]"),
    (lambda: _latent().strip(title=2), TypeError, "title must be a str"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT,
                         ids=[f"{i:02d}-{m[:30]}" for i, (_, _, m) in enumerate(BAD_INPUT)])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_inputs_that_worked_keep_working():
    s = widgets.LatentScrubber(_toy_decode(), torch.tensor([0, 3]), dims=torch.arange(2), scale=2.0)
    assert s.z.dtype == torch.float32  # an integer latent would round every slider value
    s.set(0, 0.25)
    assert s.z[0, 0].item() == 0.25
    assert [sl.value for sl in s.sliders] == [0.25, 3.0]  # z[0, 1] = 3 sits on the range's edge
    frames = widgets.FrameScrubber(np.random.rand(3, 8, 8), titles=np.array([1, 2, 3]), nrow=np.int64(1))
    frames.show(np.int64(2))
    assert frames.caption.value == "3"


# FigureControls: sliders and menus over the arguments of a figure (chapters 05 and 09).

def _draw_bar(fig, height, colour="k", width=1.0):
    """A bar whose height, colour and width are the controls: each value changes the picture."""
    ax = fig.subplots()
    ax.bar([0], [height], color=colour, width=width)
    ax.set(ylim=(0, 10), xlim=(-1, 1), title="bar")


def _controls(**kwargs):
    spec = {"height": (0, 10, 1, 3), "colour": ["k", "r"], "width": (0.1, 1.0, 0.1, 0.5)}
    return widgets.FigureControls(_draw_bar, spec, description="a bar", figsize=(2, 2), **kwargs)


def test_figure_controls_builds_the_right_widgets_and_follows_them():
    explorer = _controls(labels={"height": "h"})
    height, colour, width = explorer.controls.values()
    assert isinstance(height, __import__("ipywidgets").IntSlider) and height.description == "h"
    assert isinstance(width, __import__("ipywidgets").FloatSlider) and width.description == "width"
    assert isinstance(colour, __import__("ipywidgets").Dropdown) and colour.value == "k"
    assert not height.continuous_update and not width.continuous_update
    assert explorer.values == {"height": 3, "colour": "k", "width": 0.5}
    seen = [_pixels(explorer.image.value)]
    for control, value in ((height, 7), (colour, "r"), (width, 0.9)):
        control.value = value                         # what a learner's drag does
        seen.append(_pixels(explorer.image.value))
        assert not np.array_equal(seen[-1], seen[-2]), f"moving {control.description} left the image as it was"
    assert explorer.values == {"height": 7, "colour": "r", "width": 0.9}


def test_figure_controls_set_redraws_once_and_figure_leaves_the_controls_alone():
    calls = []

    def draw(fig, **values):
        calls.append(values)
        _draw_bar(fig, **values)

    explorer = widgets.FigureControls(draw, {"height": (0, 10, 1, 3), "colour": ["k", "r"]},
                                      description="a bar", figsize=(2, 2))
    calls.clear()
    explorer.set(height=9, colour="r")
    assert calls == [{"height": 9, "colour": "r"}]    # two controls moved, one redraw
    fig = explorer.figure(height=1)
    assert isinstance(fig, Figure) and calls[-1] == {"height": 1, "colour": "r"}
    assert explorer.values == {"height": 9, "colour": "r"}


def test_figure_controls_layout_and_plain_text():
    beside, below = _controls(), _controls(beside=False)
    assert isinstance(beside.widget, __import__("ipywidgets").HBox)
    assert isinstance(below.widget, __import__("ipywidgets").VBox)
    assert beside.widget.layout.align_items == "flex-start"
    assert repr(beside) == repr(beside.widget) == "a bar (interactive: run the notebook; figure below)"


def test_figure_controls_publishes_the_widget(ipython_shell):
    from IPython.display import display
    from IPython.utils.capture import capture_output

    explorer = _controls()
    with capture_output() as captured:
        display(explorer)
    [output] = captured.outputs
    assert output.data["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert output.data["text/plain"] == repr(explorer)


FIGURE_CONTROLS_BAD_INPUT = [
    (lambda: widgets.FigureControls("draw", {"a": (0, 1, 1, 0)}, "d"), TypeError, "draw must be a function"),
    (lambda: widgets.FigureControls(_draw_bar, {}, "d"), TypeError, "controls must be a non-empty dict"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, 10, 1)}, "d"), TypeError,
     r"control 'height' must be \(low, high, step, start\)"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (5, 1, 1, 2)}, "d"), ValueError, "low must be < high"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, 1, 0, 0)}, "d"), ValueError, "step must be > 0"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, 1, 0.5, 3)}, "d"), ValueError,
     r"start 3 is outside \[0, 1\]"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, "1", 1, 0)}, "d"), TypeError, "must be a number"),
    (lambda: widgets.FigureControls(_draw_bar, {"colour": []}, "d"), ValueError, "a menu needs at least one option"),
    (lambda: widgets.FigureControls(_draw_bar, {"colour": ["k", "k"]}, "d"), ValueError, "its options repeat"),
    (lambda: widgets.FigureControls(_draw_bar, {"the height": (0, 1, 1, 0)}, "d"), TypeError,
     "control names must be identifiers"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, 1, 1, 0)}, ""), TypeError,
     "description must be a non-empty str"),
    (lambda: _controls(labels={"depth": "d"}), ValueError, r"labels names \['depth'\], which are not controls"),
    (lambda: _controls(labels={"height": 3}), TypeError, "the label of control 'height' must be a str"),
    (lambda: _controls(beside="yes"), TypeError, "beside must be True or False"),
    (lambda: widgets.FigureControls(_draw_bar, {"height": (0, 1, 1, 0)}, "d", figsize=(2, 0)), ValueError,
     r"figsize must be \(width, height\)"),
    (lambda: _controls().set(depth=1), ValueError, "'depth' is not a control"),
    (lambda: _controls().set(height=11), ValueError, r"height = 11.0 is outside its slider's range \[0, 10\]"),
    (lambda: _controls().set(height=2.5), ValueError, "height takes whole numbers"),
    (lambda: _controls().set(colour="b"), ValueError, r"colour = 'b' is not one of its options \['k', 'r'\]"),
    (lambda: _controls().figure(width="wide"), TypeError, "width must be a number"),
]


@pytest.mark.parametrize("call, error, message", FIGURE_CONTROLS_BAD_INPUT,
                         ids=[f"{i:02d}-{m[:30]}" for i, (_, _, m) in enumerate(FIGURE_CONTROLS_BAD_INPUT)])
def test_figure_controls_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_chapters_build_their_widgets_from_this_module():
    """`make test-ipywidgets7` runs this file under ipywidgets 7.7: that covers the course's
    widgets only while no chapter builds an ipywidget of its own."""
    from pathlib import Path

    chapters = sorted(Path(__file__).parents[1].glob("notebooks/[0-9][0-9]_*.py"))
    assert len(chapters) >= 11
    for chapter in chapters:
        code = chapter.read_text()
        assert "ipywidgets." not in code.replace("import ipywidgets", ""), \
            f"{chapter.name} builds ipywidgets itself; use drawjourney.widgets (tested under 7.7 and 8.x)"
