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


def test_ipython_display_without_a_shell_prints_instead_of_failing(capsys):
    # plain python (no IPython shell): IPython's display falls back to print
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        pytest.skip("an IPython shell is running")
    widgets.FrameScrubber(_frames())._ipython_display_()
    assert "VBox" in capsys.readouterr().out


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
