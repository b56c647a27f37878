"""Scrubbers: sliders over a sequence of frames, over the dimensions of a latent vector, and
over the arguments of a figure.

Built only from ipywidgets that exist unchanged in 7.7 (Colab) and 8.x (JupyterLab):
`Image` fed with PNG bytes, `IntSlider`, `FloatSlider`, `Dropdown`, `HTML`, `VBox`,
`HBox`, and ``.observe(handler, names="value")``. Widgets update synchronously, so a
scrubber also works with no frontend at all (plain python, nbval), where `show`, `set`
and `set_label` drive it. Every scrubber has `strip()` (`FigureControls` has `figure()`), a
static matplotlib figure of the same idea, for notebooks rendered where widgets do not run
(GitHub, nbviewer). These three are every widget the chapters show, so the widget tests
under ipywidgets 7.7 and 8.x cover the whole course.

A saved notebook keeps, for each displayed widget, a text/plain fallback: what JupyterLab
shows for an untrusted notebook (a fresh clone, before it runs) and what renderers that
ignore widget state show. For a scrubber it is one sentence saying what the widget is
(`repr(scrubber)`), not the ipywidgets repr of its box (``VBox(children=(Image(...``).

Bad arguments raise a `TypeError` or `ValueError` naming the argument, as in `plot`; so do
frames and decoded images that are NaN or outside [0, 1].
"""
from __future__ import annotations

import html
import io
import numbers
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from drawjourney import plot
from drawjourney.plot import (_check_bool, _check_int, _check_list, _check_number, _check_text, _check_titles,
                              _frame_grid, _image_batch)

# ipywidgets (7.7 in `_ipython_display_`, 8.x in `_repr_mimebundle_`) cuts the text/plain
# of a displayed widget at 110 characters; scrubber descriptions stay inside that.
_PLAIN_LIMIT = 110
_INTERACTIVE = " (interactive: run the notebook; static strip below)"


# Boxes are CSS flexboxes whose default (align-items: stretch) draws an image child at the
# box's full width or height: a 64x64 digit became 64x188 beside the sliders in JupyterLab.
# Aligning children to the start keeps every image at its own (already upscaled) size.
def _natural_size() -> widgets.Layout:
    return widgets.Layout(align_items="flex-start")


class _Described:
    """A box whose repr is a sentence about its scrubber.

    Both ipywidgets 7.7 and 8.x build the text/plain of a displayed widget from
    ``repr(widget)``, so this is the one hook that sets the saved fallback text in both.
    """

    text = ""

    def __repr__(self) -> str:
        return self.text


class _DescribedVBox(_Described, widgets.VBox):
    pass


class _DescribedHBox(_Described, widgets.HBox):
    pass


def _describe(box: _Described, text: str) -> _Described:
    box.text = text if len(text) <= _PLAIN_LIMIT else text[:_PLAIN_LIMIT - 1] + "…"
    return box


def _quoted(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


class _Quiet:
    """`with self._quiet():` moves controls from code without their observers redrawing;
    the caller redraws once after."""

    _muted = False

    @contextmanager
    def _quiet(self):
        self._muted = True
        try:
            yield
        finally:
            self._muted = False


class FrameScrubber:
    """A slider over the frames of a sequence: Gibbs steps, diffusion steps, a canvas over time.

    frames: one of
        - a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array (N images per frame,
          tiled with `plot.to_grid(nrow=nrow)`), values in [0, 1], on any device;
        - a list of T per-frame tensors, each (1, H, W), (H, W) or (N, 1, H, W);
        - a callable ``render(t) -> image(s)`` with `n_frames` = T: frames are rendered
          lazily, when first shown, and cached.
        Given frames are checked (shape, NaN, [0, 1]) at once; rendered ones when first shown.
    titles: T captions (default f"{label} {t}").
    label: the slider's description (a str).
    scale: nearest-neighbour upscaling of the PNG shown (an int >= 1).
    nrow: images per row when a frame holds several (default a near square).

    Attributes: `slider` (IntSlider over 0..T-1), `image` (ipywidgets.Image), `caption`
    (ipywidgets.HTML), `widget` (the VBox to display), `n_frames`.
    """

    def __init__(self, frames, titles: Sequence[str] | None = None, label: str = "step",
                 scale: int = 4, nrow: int | None = None, n_frames: int | None = None):
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, the slider's description, e.g. 'step'; got {type(label).__name__}")
        self.label = label
        self.scale = _check_int(scale, "scale", 1, "pixels per image pixel")
        self.nrow = None if nrow is None else _check_int(nrow, "nrow", 1, "images per row")
        self._grids: dict[int, np.ndarray] = {}
        self._pngs: dict[int, bytes] = {}
        if callable(frames):
            if n_frames is None:
                raise ValueError("a render(t) callable needs n_frames >= 1 (the number of frames)")
            self.n_frames = _check_int(n_frames, "n_frames", 1, "the number of frames render(t) draws")
            self._render, self._frame_name = frames, "render({})"
        else:
            frame_list = plot.split_frames(frames)
            if not frame_list:
                raise ValueError("FrameScrubber got no frames (T = 0)")
            if n_frames is not None and _check_int(n_frames, "n_frames", 1) != len(frame_list):
                raise ValueError(f"n_frames={n_frames} but {len(frame_list)} frames were given")
            self.n_frames = len(frame_list)
            self._render, self._frame_name = frame_list.__getitem__, "frames[{}]"
            for t in range(self.n_frames):  # a bad frame fails here, not mid-scrub
                self.frame(t)
        self.titles = _check_titles(titles, self.n_frames, "titles", "frame")

        self.slider = widgets.IntSlider(value=0, min=0, max=self.n_frames - 1, step=1,
                                        description=self.label, continuous_update=True)
        self.image = widgets.Image(value=self.png(0), format="png")
        self.caption = widgets.HTML(value=self._caption_html(0))
        self.widget = _describe(
            _DescribedVBox([self.image, self.caption, self.slider], layout=_natural_size()), repr(self))
        self.slider.observe(self._on_slider, names="value")

    def __repr__(self) -> str:
        return f"FrameScrubber: {self.n_frames} frames of {_quoted(self.label)}{_INTERACTIVE}"

    def frame(self, t: int) -> np.ndarray:
        """Frame `t` as one tiled (H', W') float32 array in [0, 1]; rendered once, then cached."""
        t = self._check_t(t)
        if t not in self._grids:
            self._grids[t] = _frame_grid(self._render(t), self._frame_name.format(t), self.nrow)
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
        t = _check_int(t, "frame index", 0, f"an int in [0, {self.n_frames - 1}]")
        if t >= self.n_frames:
            raise ValueError(f"frame index must be an int in [0, {self.n_frames - 1}]; got {t}")
        return t

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


class LatentScrubber(_Quiet):
    """Sliders over some dimensions of a latent vector, the decoded image(s) updated live.

    decode: ``decode(z, label) -> images``, z a (B, D) tensor (a clone of the current
        latent), label an int/str or None; returns (B, 1, H, W) in [0, 1] (tiled when B > 1).
        Called under `torch.no_grad()`.
    z: the initial latent, (D,), (1, D) or (B, D), finite, on the device `decode` expects
        (an integer tensor becomes float32). z[0, d] must lie in `value_range` for every
        slider dim d, so each slider starts where the latent is.
    dims: latent dimensions that get a FloatSlider (default the first min(D, 8)).
    labels: if given (e.g. range(10)), a Dropdown chooses the label passed to `decode`;
        `label` is the initial one (default labels[0], or None without labels).
    value_range, step: the sliders' range (low < high) and step (> 0), in latent units.
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
            raise TypeError("decode must be a function decode(z, label) -> (B, 1, H, W) images; "
                            f"got {type(decode).__name__}")
        self.z = _as_latent(z)
        latent_dim = self.z.shape[1]
        low, high = _check_range(value_range)
        step = _check_number(step, "step")
        if not 0 < step <= high - low:
            raise ValueError(f"step must be > 0 and at most the width of value_range ({high - low:g}); got {step}")
        self.dims = (list(range(min(latent_dim, 8))) if dims is None
                     else [self._check_dim(d) for d in _check_list(dims, "dims", "e.g. [0, 1, 2]")])
        if not self.dims:
            raise ValueError("dims is empty; name at least one latent dimension to put on a slider")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"dims has repeated dimensions: {self.dims}")
        for d in self.dims:
            _check_start(d, float(self.z[0, d]), low, high)
        self.names = ([f"z[{d}]" for d in self.dims] if names is None
                      else _check_titles(names, len(self.dims), "names", "dim"))

        self.labels = None if labels is None else [_plain(v) for v in _check_list(labels, "labels", "e.g. range(10)")]
        if self.labels is not None:
            if not self.labels:
                raise ValueError("labels is empty; pass None for an unconditional decoder")
            if any(v in self.labels[:i] for i, v in enumerate(self.labels)):
                raise ValueError(f"labels has repeated values: {self.labels}")
            label = self.labels[0] if label is None else self._check_label(label)
        self.label = _plain(label)
        self.decode = decode
        self.value_range = (low, high)
        self.scale = _check_int(scale, "scale", 1, "pixels per image pixel")
        self.nrow = None if nrow is None else _check_int(nrow, "nrow", 1, "images per row")
        continuous_update = _check_bool(continuous_update, "continuous_update")
        self._muted = False

        self.sliders = [
            widgets.FloatSlider(value=float(self.z[0, d]), min=low, max=high,
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
        self.widget = _describe(
            _DescribedHBox([self.image, widgets.VBox(controls)], layout=_natural_size()), repr(self))

    def __repr__(self) -> str:
        menu = "" if self.labels is None else " + a label menu"
        return (f"LatentScrubber: {len(self.dims)} of {self.z.shape[1]} latent dims{menu}"
                f"{_INTERACTIVE}")

    def images(self, z: torch.Tensor | None = None, label=None) -> torch.Tensor:
        """decode(z, label) under no_grad; defaults are the current latent and label. (B, 1, H, W).

        The decoded images are checked: (B, 1, H, W), (B, H, W) or (H, W), finite, in [0, 1].
        """
        if z is None:
            z = self.z
        else:
            z = _as_latent(z)
            if z.shape[1] != self.z.shape[1]:
                raise ValueError(f"z must have {self.z.shape[1]} latent dims, like the scrubber's; "
                                 f"got shape {tuple(z.shape)}")
        label = self.label if label is None else _plain(label)
        if self.labels is not None:
            label = self._check_label(label)
        with torch.no_grad():
            x = self.decode(z.clone(), label)
        _image_batch(x, "decode(z, label)")
        return x

    def set(self, dim: int, value: float) -> None:
        """Set z[:, dim] = value (moving its slider, if it has one) and redraw.

        A dim with a slider takes values inside `value_range`; other dims take any finite value.
        """
        dim = self._check_dim(dim)
        value = _check_number(value, "value")
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

        values: finite latent values (default 7 evenly spaced over value_range); one titled
        panel each, the other dims and the label as they are now. The scrubber's z is unchanged.
        """
        dim = self.dims[0] if dim is None else self._check_dim(dim)
        values = (np.linspace(*self.value_range, 7) if values is None
                  else [_check_number(v, "each of values") for v in _check_list(values, "values", "e.g. [-2, 0, 2]")])
        if len(values) == 0:
            raise ValueError("strip needs at least one value to sweep")
        title = _check_text(title, "title")
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
        dim = _check_int(dim, "latent dim", 0, f"an int in [0, {latent_dim - 1}]")
        if dim >= latent_dim:
            raise ValueError(f"latent dim must be an int in [0, {latent_dim - 1}]; got {dim}")
        return dim

    def _check_label(self, label):
        if label not in self.labels:
            raise ValueError(f"label {label!r} is not one of the labels {self.labels}")
        return label

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


class FigureControls(_Quiet):
    """Sliders and menus that redraw a matplotlib figure: an explorer for a function of a few values.

    draw: ``draw(fig, **values)`` draws on an empty `Figure` (constrained layout, `figsize`),
        given the current value of every control by name.
    controls: {name: spec}, in display order. A spec is
        - (low, high, step, start): a slider over [low, high]; an IntSlider when all four are
          ints, else a FloatSlider; low < high, 0 < step <= high - low, start in [low, high];
        - a list of options (str or numbers): a Dropdown starting at the first.
    labels: {name: description} for some controls (default: the name).
    description: the sentence a saved notebook shows where widgets do not run.
    figsize, dpi: the size of the figure drawn and its PNG resolution.
    beside: the controls to the right of the figure (True) or below it (False).

    Sliders redraw when released (a figure takes tens of milliseconds). Works with no
    frontend: `set(**values)` moves controls and redraws once. Attributes: `controls`
    (name -> widget), `image` (ipywidgets.Image), `widget` (the box to display).
    """

    def __init__(self, draw: Callable, controls: dict, description: str,
                 labels: dict | None = None, figsize: tuple[float, float] = (7.0, 3.0),
                 dpi: int = 80, beside: bool = True):
        if not callable(draw):
            raise TypeError("draw must be a function draw(fig, **values) that draws on a matplotlib "
                            f"Figure; got {type(draw).__name__}")
        if not isinstance(controls, dict) or not controls:
            raise TypeError("controls must be a non-empty dict {name: (low, high, step, start) or "
                            f"[options]}}; got {controls!r}")
        labels = {} if labels is None else labels
        if not isinstance(labels, dict):
            raise TypeError(f"labels must be a dict {{name: description}}; got {type(labels).__name__}")
        unknown = sorted(set(labels) - set(controls))
        if unknown:
            raise ValueError(f"labels names {unknown}, which are not controls; the controls are {list(controls)}")
        if not isinstance(description, str) or not description.strip():
            raise TypeError("description must be a non-empty str: the sentence a saved notebook shows")
        self.draw = draw
        self.description = description
        self.figsize = tuple(_check_number(v, "figsize") for v in _check_list(figsize, "figsize", "(width, height)"))
        if len(self.figsize) != 2 or min(self.figsize) <= 0:
            raise ValueError(f"figsize must be (width, height) in inches, both > 0; got {figsize}")
        self.dpi = _check_int(dpi, "dpi", 10, "dots per inch")
        beside = _check_bool(beside, "beside")
        self._specs = dict(controls)
        self.controls = {name: _control(name, spec, labels.get(name, name)) for name, spec in controls.items()}
        self._muted = False
        self.image = widgets.Image(value=self.png(), format="png")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        panel = widgets.VBox(list(self.controls.values()))
        box = (_DescribedHBox([self.image, panel], layout=_natural_size()) if beside
               else _DescribedVBox([self.image, panel], layout=_natural_size()))
        self.widget = _describe(box, repr(self))

    def __repr__(self) -> str:
        return f"{self.description} (interactive: run the notebook; figure below)"

    @property
    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> None:
        """Move some controls to new values, then redraw once."""
        for name, value in values.items():
            self._check_value(name, value)
        with self._quiet():
            for name, value in values.items():
                self.controls[name].value = value
        self.image.value = self.png()

    def figure(self, **values) -> Figure:
        """A new static figure drawn at the current values, with `values` replacing some."""
        for name, value in values.items():
            self._check_value(name, value)
        fig = Figure(figsize=self.figsize, layout="constrained")
        self.draw(fig, **{**self.values, **values})
        return fig

    def png(self) -> bytes:
        """The PNG bytes shown: the figure at the current values."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=self.dpi)
        return buffer.getvalue()

    def _check_value(self, name, value) -> None:
        if name not in self.controls:
            raise ValueError(f"{name!r} is not a control; the controls are {list(self.controls)}")
        control = self.controls[name]
        if isinstance(control, widgets.Dropdown):
            options = self._specs[name]
            if value not in options:
                raise ValueError(f"{name} = {value!r} is not one of its options {options}")
            return
        value = _check_number(value, name)
        if not control.min <= value <= control.max:
            raise ValueError(f"{name} = {value} is outside its slider's range [{control.min}, {control.max}]")
        if isinstance(control, widgets.IntSlider) and value != int(value):
            raise ValueError(f"{name} takes whole numbers; got {value}")

    def _on_change(self, change) -> None:
        if not self._muted:
            self.image.value = self.png()

    def _ipython_display_(self) -> None:
        """Display the widget when the explorer is the last expression of a cell."""
        from IPython.display import display  # IPython is there wherever ipywidgets is
        display(self.widget)


def _control(name, spec, label: str):
    """The ipywidget for one `FigureControls` spec (see its docstring)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"control names must be identifiers (they are draw's keyword arguments); got {name!r}")
    if not isinstance(label, str):
        raise TypeError(f"the label of control {name!r} must be a str; got {label!r}")
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"control {name!r}: a menu needs at least one option")
        if len(set(map(repr, spec))) != len(spec):
            raise ValueError(f"control {name!r}: its options repeat: {spec}")
        return widgets.Dropdown(options=[(str(v), v) for v in spec], value=spec[0], description=label)
    if not isinstance(spec, tuple) or len(spec) != 4:
        raise TypeError(f"control {name!r} must be (low, high, step, start) or a list of options; got {spec!r}")
    low, high, step, start = (_check_number(v, f"control {name!r}'s low, high, step and start") for v in spec)
    if not low < high:
        raise ValueError(f"control {name!r}: low must be < high; got ({spec[0]}, {spec[1]})")
    if not 0 < step <= high - low:
        raise ValueError(f"control {name!r}: step must be > 0 and at most high - low = {high - low:g}; got {spec[2]}")
    if not low <= start <= high:
        raise ValueError(f"control {name!r}: start {spec[3]} is outside [{spec[0]}, {spec[1]}]")
    whole = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in spec)
    if whole:
        return widgets.IntSlider(value=spec[3], min=spec[0], max=spec[1], step=spec[2], description=label,
                                 continuous_update=False)
    return widgets.FloatSlider(value=start, min=low, max=high, step=step, description=label,
                               continuous_update=False)


def _as_latent(z) -> torch.Tensor:
    """A latent as a detached (B, D) floating-point tensor clone, finite; D, B >= 1."""
    if isinstance(z, np.ndarray) or (isinstance(z, (list, tuple)) and not isinstance(z, str)):
        try:
            z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise TypeError(f"z must be a tensor (or array) of numbers, (D,), (1, D) or (B, D): {err}") from None
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a tensor (or array) of numbers, (D,), (1, D) or (B, D); got {type(z).__name__}")
    z = z.detach().clone()
    if not z.is_floating_point():
        z = z.float()  # an integer latent would round every slider value
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"z must be (D,), (1, D) or (B, D); got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"z contains {int((~torch.isfinite(z)).sum())} NaN or infinite values")
    return z


def _check_range(value_range) -> tuple[float, float]:
    """The sliders' (low, high): two finite numbers, low < high."""
    what = "value_range must be a pair (low, high) of numbers, e.g. (-3.0, 3.0)"
    if isinstance(value_range, (str, bytes)) or not hasattr(value_range, "__iter__"):
        raise TypeError(f"{what}; got {value_range!r} ({type(value_range).__name__})")
    values = list(value_range)
    if len(values) != 2:
        raise ValueError(f"{what}; got {len(values)} values: {value_range}")
    low, high = (_check_number(v, "value_range's low and high") for v in values)
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high; got {value_range}")
    return low, high


def _check_start(dim: int, value: float, low: float, high: float) -> None:
    """A slider must start where the latent is: z[0, dim] inside the slider's range."""
    if not low <= value <= high:
        wider = (min(low, np.floor(value)), max(high, np.ceil(value)))
        raise ValueError(f"z[0, {dim}] = {value:.4g} is outside the slider range value_range=({low:g}, {high:g}), "
                         f"so slider z[{dim}] cannot start at it; pass a wider range, e.g. "
                         f"value_range=({wider[0]:g}, {wider[1]:g}), or start from a z inside it")


def _plain(value):
    """A 0-d tensor or numpy scalar as a python scalar, so `==`, `in` and Dropdown work."""
    if isinstance(value, (torch.Tensor, np.generic)):
        return value.item()
    return value
