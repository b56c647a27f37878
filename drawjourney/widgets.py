"""Scrubbers: sliders over a sequence of frames, and over the dimensions of a latent vector.

Built only from ipywidgets that exist unchanged in 7.7 (Colab) and 8.x (JupyterLab):
`Image` fed with PNG bytes, `IntSlider`, `FloatSlider`, `Dropdown`, `HTML`, `VBox`,
`HBox`, and ``.observe(handler, names="value")``. Widgets update synchronously, so a
scrubber also works with no frontend at all (plain python, nbval), where `show`, `set`
and `set_label` drive it. Every scrubber has `strip()`, a static matplotlib figure of the
same idea, for notebooks rendered where widgets do not run (GitHub, nbviewer).
"""
from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from drawjourney import plot


# Boxes are CSS flexboxes whose default (align-items: stretch) draws an image child at the
# box's full width or height: a 64x64 digit became 64x188 beside the sliders in JupyterLab.
# Aligning children to the start keeps every image at its own (already upscaled) size.
def _natural_size() -> widgets.Layout:
    return widgets.Layout(align_items="flex-start")


class FrameScrubber:
    """A slider over the frames of a sequence: Gibbs steps, diffusion steps, a canvas over time.

    frames: one of
        - a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array (N images per frame,
          tiled with `plot.to_grid(nrow=nrow)`), values in [0, 1], on any device;
        - a list of T per-frame tensors, each (1, H, W), (H, W) or (N, 1, H, W);
        - a callable ``render(t) -> image(s)`` with `n_frames` = T: frames are rendered
          lazily, when first shown, and cached.
    titles: T captions (default f"{label} {t}").
    label: the slider's description.
    scale: nearest-neighbour upscaling of the PNG shown.

    Attributes: `slider` (IntSlider over 0..T-1), `image` (ipywidgets.Image), `caption`
    (ipywidgets.HTML), `widget` (the VBox to display), `n_frames`.
    """

    def __init__(self, frames, titles: Sequence[str] | None = None, label: str = "step",
                 scale: int = 4, nrow: int | None = None, n_frames: int | None = None):
        if callable(frames):
            if n_frames is None or int(n_frames) < 1:
                raise ValueError("a render(t) callable needs n_frames >= 1 (the number of frames)")
            self._render = frames
            self.n_frames = int(n_frames)
        else:
            frame_list = plot.split_frames(frames)
            if not frame_list:
                raise ValueError("FrameScrubber got no frames (T = 0)")
            if n_frames is not None and int(n_frames) != len(frame_list):
                raise ValueError(f"n_frames={n_frames} but {len(frame_list)} frames were given")
            self._render = frame_list.__getitem__
            self.n_frames = len(frame_list)
        if titles is not None and len(titles) != self.n_frames:
            raise ValueError(f"got {len(titles)} titles for {self.n_frames} frames")
        self.titles = None if titles is None else [str(t) for t in titles]
        self.label = label
        self.scale = scale
        self.nrow = nrow
        self._grids: dict[int, np.ndarray] = {}
        self._pngs: dict[int, bytes] = {}

        self.slider = widgets.IntSlider(value=0, min=0, max=self.n_frames - 1, step=1,
                                        description=label, continuous_update=True)
        self.image = widgets.Image(value=self.png(0), format="png")
        self.caption = widgets.HTML(value=self._caption_html(0))
        self.widget = widgets.VBox([self.image, self.caption, self.slider], layout=_natural_size())
        self.slider.observe(self._on_slider, names="value")

    def frame(self, t: int) -> np.ndarray:
        """Frame `t` as one tiled (H', W') float32 array in [0, 1]; rendered once, then cached."""
        t = self._check_t(t)
        if t not in self._grids:
            self._grids[t] = plot.to_grid(self._render(t), nrow=self.nrow)
        return self._grids[t]

    def png(self, t: int) -> bytes:
        """The PNG bytes shown for frame `t` (upscaled by `scale`); encoded once, then cached."""
        t = self._check_t(t)
        if t not in self._pngs:
            self._pngs[t] = plot.to_png(self.frame(t), scale=self.scale)
        return self._pngs[t]

    def title(self, t: int) -> str:
        """The caption of frame `t`: titles[t], or f"{label} {t}"."""
        t = self._check_t(t)
        return self.titles[t] if self.titles is not None else f"{self.label} {t}"

    def show(self, t: int) -> None:
        """Move the slider to frame `t` (0 <= t < n_frames); the image and caption follow."""
        self.slider.value = self._check_t(t)

    def strip(self, max_frames: int = 10, title: str | None = None) -> Figure:
        """Static fallback: at most `max_frames` evenly spaced frames (first and last included) in a row."""
        picked = plot.frame_indices(self.n_frames, max_frames)
        return plot.frame_strip([self.frame(t) for t in picked], titles=[self.title(t) for t in picked],
                                title=title, max_frames=len(picked))

    def _check_t(self, t) -> int:
        if int(t) != t or not 0 <= t < self.n_frames:
            raise ValueError(f"frame index must be an int in [0, {self.n_frames - 1}]; got {t}")
        return int(t)

    def _caption_html(self, t: int) -> str:
        return html.escape(self.title(t))

    def _on_slider(self, change) -> None:
        t = change["new"]
        self.image.value = self.png(t)
        self.caption.value = self._caption_html(t)

    def _ipython_display_(self) -> None:
        """Display the widget when the scrubber is the last expression of a cell."""
        from IPython.display import display  # IPython is there wherever ipywidgets is
        display(self.widget)


class LatentScrubber:
    """Sliders over some dimensions of a latent vector, the decoded image(s) updated live.

    decode: ``decode(z, label) -> images``, z a (B, D) tensor (a clone of the current
        latent), label an int/str or None; returns (B, 1, H, W) in [0, 1] (tiled when B > 1).
        Called under `torch.no_grad()`.
    z: the initial latent, (D,), (1, D) or (B, D), on the device `decode` expects.
    dims: latent dimensions that get a FloatSlider (default the first min(D, 8)).
    labels: if given (e.g. range(10)), a Dropdown chooses the label passed to `decode`;
        `label` is the initial one (default labels[0], or None without labels).
    value_range, step: the sliders' range and step, in latent units.
    continuous_update: False decodes only when a slider is released (slow decoders).
    names: the sliders' descriptions (default "z[d]").

    A slider for dim d sets z[:, d] for every row of the batch; its initial value is z[0, d].
    Attributes: `z` (current latent, (B, D)), `label`, `dims`, `sliders`, `dropdown`
    (or None), `image` (ipywidgets.Image), `widget` (the box to display).
    """

    def __init__(self, decode: Callable, z: torch.Tensor, dims: Sequence[int] | None = None,
                 labels=None, label=None, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.1, scale: int = 4, continuous_update: bool = False,
                 names: Sequence[str] | None = None, nrow: int | None = None):
        if not callable(decode):
            raise ValueError("decode must be a function decode(z, label) -> (B, 1, H, W) images")
        if not isinstance(z, torch.Tensor):
            z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
            raise ValueError(f"z must be (D,), (1, D) or (B, D); got shape {tuple(z.shape)}")
        low, high = (float(v) for v in value_range)
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high; got {value_range}")
        self.z = z.detach().clone()
        latent_dim = self.z.shape[1]
        self.dims = list(range(min(latent_dim, 8))) if dims is None else [self._check_dim(d) for d in dims]
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"dims has repeated dimensions: {self.dims}")
        if names is not None and len(names) != len(self.dims):
            raise ValueError(f"got {len(names)} names for {len(self.dims)} dims")
        self.names = [f"z[{d}]" for d in self.dims] if names is None else [str(n) for n in names]

        self.labels = None if labels is None else [_plain(v) for v in labels]
        if self.labels is not None:
            if not self.labels:
                raise ValueError("labels is empty; pass None for an unconditional decoder")
            label = self.labels[0] if label is None else self._check_label(label)
        self.label = _plain(label)
        self.decode = decode
        self.value_range = (low, high)
        self.scale = scale
        self.nrow = nrow
        self._muted = False

        self.sliders = [
            widgets.FloatSlider(value=min(max(float(self.z[0, d]), low), high), min=low, max=high,
                                step=step, description=name, continuous_update=continuous_update)
            for d, name in zip(self.dims, self.names)
        ]
        for d, slider in zip(self.dims, self.sliders):
            slider.observe(lambda change, d=d: self._on_slider(d, change), names="value")
        self.dropdown = None
        if self.labels is not None:
            self.dropdown = widgets.Dropdown(options=[(str(v), v) for v in self.labels],
                                             value=self.label, description="label")
            self.dropdown.observe(self._on_dropdown, names="value")
        self.image = widgets.Image(value=self._png(), format="png")
        controls = ([self.dropdown] if self.dropdown is not None else []) + self.sliders
        self.widget = widgets.HBox([self.image, widgets.VBox(controls)], layout=_natural_size())

    def images(self, z: torch.Tensor | None = None, label=None) -> torch.Tensor:
        """decode(z, label) under no_grad; defaults are the current latent and label. (B, 1, H, W)."""
        z = self.z if z is None else z
        label = self.label if label is None else label
        with torch.no_grad():
            return self.decode(z.clone(), label)

    def set(self, dim: int, value: float) -> None:
        """Set z[:, dim] = value (moving its slider, if it has one) and redraw.

        A dim with a slider takes values inside `value_range`; other dims take any value.
        """
        dim = self._check_dim(dim)
        value = float(value)
        low, high = self.value_range
        if dim in self.dims:
            if not low <= value <= high:
                raise ValueError(f"z[{dim}] = {value} is outside the slider range {self.value_range}")
            with self._quiet():
                self.sliders[self.dims.index(dim)].value = value
        self.z[:, dim] = value
        self.image.value = self._png()

    def set_label(self, label) -> None:
        """Decode with `label` from now on (it must be one of `labels` when they were given)."""
        label = _plain(label)
        if self.labels is not None:
            label = self._check_label(label)
            with self._quiet():
                self.dropdown.value = label
        self.label = label
        self.image.value = self._png()

    def strip(self, dim: int | None = None, values: Sequence[float] | None = None,
              title: str | None = None) -> Figure:
        """Static fallback: sweep latent `dim` (default the first slider's) over `values`.

        values: latent values (default 7 evenly spaced over value_range); one titled panel
        each, the other dims and the label as they are now. The scrubber's z is unchanged.
        """
        dim = self.dims[0] if dim is None else self._check_dim(dim)
        values = np.linspace(*self.value_range, 7) if values is None else [float(v) for v in values]
        if len(values) == 0:
            raise ValueError("strip needs at least one value to sweep")
        frames = []
        for v in values:
            z = self.z.clone()
            z[:, dim] = float(v)
            frames.append(self.images(z))
        name = self.names[self.dims.index(dim)] if dim in self.dims else f"z[{dim}]"
        if title is None:
            title = f"sweeping {name}" + ("" if self.label is None else f", label {self.label}")
        return plot.frame_strip(frames, titles=[f"{v:.2g}" for v in values], title=title,
                                max_frames=len(frames), nrow=self.nrow)

    def _png(self) -> bytes:
        return plot.to_png(plot.to_grid(self.images(), nrow=self.nrow), scale=self.scale)

    def _check_dim(self, dim) -> int:
        latent_dim = self.z.shape[1]
        if int(dim) != dim or not 0 <= dim < latent_dim:
            raise ValueError(f"latent dim must be an int in [0, {latent_dim - 1}]; got {dim}")
        return int(dim)

    def _check_label(self, label):
        if label not in self.labels:
            raise ValueError(f"label {label!r} is not one of the labels {self.labels}")
        return label

    @contextmanager
    def _quiet(self):
        """Move a control programmatically without its observer decoding a second time."""
        self._muted = True
        try:
            yield
        finally:
            self._muted = False

    def _on_slider(self, dim: int, change) -> None:
        if self._muted:
            return
        self.z[:, dim] = float(change["new"])
        self.image.value = self._png()

    def _on_dropdown(self, change) -> None:
        if self._muted:
            return
        self.label = change["new"]
        self.image.value = self._png()

    def _ipython_display_(self) -> None:
        """Display the widget when the scrubber is the last expression of a cell."""
        from IPython.display import display  # IPython is there wherever ipywidgets is
        display(self.widget)


def _plain(value):
    """A 0-d tensor or numpy scalar as a python scalar, so `==`, `in` and Dropdown work."""
    if isinstance(value, (torch.Tensor, np.generic)):
        return value.item()
    return value
