"""Image grids, loss curves and frame strips for the course's notebooks.

Images everywhere in the course are float tensors in [0, 1] of shape (N, 1, H, W) with
H = W = 16 or 28, on any device; every function here also takes numpy arrays.

Figures are built with `matplotlib.figure.Figure`, not `pyplot`: a figure returned as
the last expression of a cell is shown once (pyplot's inline backend would show it a
second time when the cell ends), and notebooks that draw hundreds of figures never
collect open pyplot figures. Use ``display(fig)`` or ``fig.savefig(...)`` elsewhere.
Importing this module inside IPython registers a PNG formatter for figures, so they show
inline without ``%matplotlib inline`` or pyplot.

Bad input raises a `TypeError` (wrong kind of thing) or `ValueError` (wrong shape, size
or value) that names the argument, before numpy, matplotlib or PIL see it. Pictures are
never quietly wrong: `grid`, `frame_strip` and the scrubbers refuse NaN and values outside
[0, 1] (a model that forgot its sigmoid, images in [-1, 1]); the encoders `to_grid` and
`to_png` clip values outside [0, 1] and refuse NaN.
"""
from __future__ import annotations

import io
import math
import numbers
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

# Inches per image panel; 16x16 and 28x28 digits stay readable at this size.
_PANEL_INCHES = 0.9
# Pixels may leave [0, 1] by a quarter of one 8-bit grey level (float rounding in an
# interpolation, say) before a picture refuses them; such values are clipped.
_RANGE_SLACK = 1e-3


# Argument checks, shared with widgets.py: each returns the cleaned value or raises an
# error that names the argument and what it may be.

def _type_name(value) -> str:
    return type(value).__name__


def _check_int(value, name: str, minimum: int, what: str = "") -> int:
    """`value` as an int >= `minimum` (a whole float or a 0-d tensor is fine too)."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()
    hint = f" ({what})" if what else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int >= {minimum}{hint}; got {value!r} ({_type_name(value)})")
    if not math.isfinite(value) or int(value) != value:
        raise ValueError(f"{name} must be a whole number >= {minimum}{hint}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{hint}; got {value!r}")
    return int(value)


def _check_number(value, name: str) -> float:
    """`value` as a finite float (a 0-d tensor or numpy scalar is fine too)."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r} ({_type_name(value)})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({_type_name(value)})")
    return bool(value)


def _check_text(value, name: str) -> str | None:
    """A title or caption: a str, or None."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str (or None); got {value!r} ({_type_name(value)})")
    return value


def _check_list(values, name: str, example: str) -> list:
    """Any iterable but a string or a dict, as a list (a tensor or array must be 1-D)."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list ({example}); got {values!r:.80} ({_type_name(values)})")
    if isinstance(values, (torch.Tensor, np.ndarray)) and values.ndim != 1:
        raise ValueError(f"{name} must be 1-D ({example}); got shape {tuple(values.shape)}")
    return list(values)


def _check_titles(titles, n: int, name: str, what: str) -> list[str] | None:
    """None, or exactly `n` titles (strings, numbers, 0-d tensors) as strings."""
    if titles is None:
        return None
    titles = [_label_text(t) for t in _check_list(titles, name, f"one per {what}")]
    if len(titles) != n:
        raise ValueError(f"got {len(titles)} {name} for {n} {what}s; pass one per {what}")
    return titles


def _check_axes(ax) -> Axes | None:
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None for a new figure); got {_type_name(ax)}")
    return ax


def _as_numpy(x, name: str = "images") -> np.ndarray:
    """A float32 numpy copy of a tensor (any device, any dtype, maybe requiring grad), array or list."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    if not isinstance(x, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a tensor or array of pixel values; got {_type_name(x)}")
    try:
        out = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or array of pixel values (numbers, one shape); "
                        f"a {_type_name(x)} could not become one: {err}") from None
    return out


def _as_batch(images, name: str = "images") -> np.ndarray:
    """(N, 1, H, W), (N, H, W) or (H, W) images -> (N, H, W) float32 numpy, NaN refused."""
    x = _as_numpy(images, name)
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"{name}: shape {tuple(x.shape)} has {x.shape[1]} channels; "
                             "the course's images are grayscale, (N, 1, H, W)")
        x = x[:, 0]
    elif x.ndim != 3:
        raise ValueError(f"{name} must be (N, 1, H, W), (N, H, W) or (H, W); got shape {tuple(x.shape)}")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"{name}: no pixels; height and width must be >= 1, got shape {tuple(x.shape)}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {x.size} values are NaN or infinite; "
                         "a diverged model? Check its loss")
    return x


def _unit_range(x: np.ndarray, name: str) -> np.ndarray:
    """`x` with values in [0, 1] (rounding slack clipped), or a ValueError that says what to do."""
    if x.size == 0:
        return x
    low, high = float(x.min()), float(x.max())
    if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
        raise ValueError(f"{name}: values must be in [0, 1]; got values in [{low:.3g}, {high:.3g}]. "
                         "Images in [-1, 1]: pass (x + 1) / 2; logits: pass torch.sigmoid(x); "
                         "a small overshoot: pass x.clamp(0, 1)")
    return np.clip(x, 0.0, 1.0)


def _image_batch(images, name: str = "images") -> np.ndarray:
    """Images for a picture: (N, H, W) float32 numpy, finite, in [0, 1]."""
    return _unit_range(_as_batch(images, name), name)


def _grid_shape(n: int, nrow: int | None) -> tuple[int, int]:
    """(rows, columns) for `n` panels with `nrow` panels per row (default: a near square)."""
    nrow = math.ceil(math.sqrt(n)) if nrow is None else _check_int(nrow, "nrow", 1, "images per row")
    cols = min(nrow, n)
    return math.ceil(n / cols), cols


def _tile(x: np.ndarray, nrow: int | None, pad: int, pad_value: float) -> np.ndarray:
    n, h, w = x.shape
    if n == 0:
        raise ValueError("there are no images to tile (N = 0)")
    rows, cols = _grid_shape(n, nrow)
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad), pad_value,
                  dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = x[i]
    return np.clip(out, 0.0, 1.0)


def to_grid(images, nrow: int | None = None, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Tile images into one image.

    images: (N, 1, H, W), (N, H, W) or (H, W) tensor or array, values in [0, 1] (values
        outside are clipped; NaN raises).
    nrow: images per row, as in torchvision's ``make_grid`` (default ceil(sqrt(N))).
    pad: pixels of `pad_value` between neighbouring images (none around the border).
    Returns a (rows*H + (rows-1)*pad, cols*W + (cols-1)*pad) float32 array in [0, 1];
    cells past the last image are filled with `pad_value`.
    """
    x = _as_batch(images)
    if x.shape[0] == 0:
        raise ValueError("to_grid got no images (N = 0)")
    pad = _check_int(pad, "pad", 0, "pixels between images")
    pad_value = _check_number(pad_value, "pad_value")
    if not 0.0 <= pad_value <= 1.0:
        raise ValueError(f"pad_value must be a grey level in [0, 1]; got {pad_value}")
    return _tile(x, nrow, pad, pad_value)


def _frame_grid(frame, name: str, nrow: int | None = None) -> np.ndarray:
    """One frame of a sequence (N images or one) checked like a picture and tiled; shared with widgets.py."""
    x = _image_batch(frame, name)
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no images (N = 0)")
    return _tile(x, nrow, pad=1, pad_value=0.5)


def to_png(image, scale: int = 4) -> bytes:
    """Encode one grayscale image as PNG bytes, for `ipywidgets.Image`.

    image: (H, W) or (1, H, W) tensor or array in [0, 1] (values outside are clipped; NaN raises).
    scale: integer upscaling factor; nearest neighbour, so pixels stay visible squares.
    Returns the bytes of an 8-bit grayscale PNG of size (H*scale, W*scale).
    """
    x = _as_numpy(image, "image")
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"to_png takes one image, (H, W) or (1, H, W); got shape {tuple(x.shape)}; "
                         "tile a batch first with to_grid")
    x = _as_batch(x, "image")[0]
    scale = _check_int(scale, "scale", 1, "a positive integer: pixels per image pixel")
    pixels = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    img = Image.fromarray(pixels)  # uint8 (H, W) -> mode "L"
    if scale > 1:
        img = img.resize((x.shape[1] * scale, x.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _show(ax: Axes, image: np.ndarray, cmap) -> None:
    """Draw one (H, W) image in [0, 1] on `ax` with a fixed colour scale and no axes."""
    # vmin/vmax fixed: otherwise matplotlib stretches each image's own range, and a
    # blurry grey mean looks as crisp as a digit.
    ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def _label_text(label) -> str:
    """A label as a short title: ints of tensors/arrays as ints, anything else via str."""
    if isinstance(label, (torch.Tensor, np.ndarray, np.generic)):
        if np.prod(label.shape, dtype=int) != 1:
            raise ValueError(f"each label or title must be one value; got an array of shape {tuple(label.shape)}")
        label = label.item()
    return str(label)


def _check_cmap(cmap):
    if isinstance(cmap, matplotlib.colors.Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise TypeError(f"cmap must be a matplotlib colormap name such as 'gray'; got {_type_name(cmap)}")
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap name such as 'gray', 'gray_r' or 'viridis'; "
                         f"got {cmap!r}")
    return cmap


def grid(images, labels=None, nrow: int | None = None, title: str | None = None,
         ax: Axes | None = None, cmap: str = "gray") -> Figure:
    """Show a batch of images, optionally each with its label as a small title.

    images: (N, 1, H, W), (N, H, W) or (H, W) tensor or array in [0, 1], N >= 1.
    labels: N ints or strings (list, tensor or array); with labels every image is its own
        panel titled by its label, without them the batch is one tiled image.
    nrow: images per row (default ceil(sqrt(N))).
    title: the figure's title (the axes' title when `ax` is given).
    ax: draw into this axes instead of a new figure (labelled panels become inset axes).
    cmap: a matplotlib colormap (name), "gray" by default.
    Returns the Figure (not shown; the last expression of a cell displays it).
    """
    x = _image_batch(images)
    n = x.shape[0]
    if n == 0:
        raise ValueError("grid got no images (N = 0)")
    rows, cols = _grid_shape(n, nrow)
    labels = None if labels is None else _check_titles(labels, n, "labels", "image")
    title = _check_text(title, "title")
    ax = _check_axes(ax)
    cmap = _check_cmap(cmap)
    if ax is not None:
        return _grid_into(ax, x, labels, rows, cols, title, cmap)

    if labels is None:
        fig = Figure(figsize=(max(2.0, cols * _PANEL_INCHES), rows * _PANEL_INCHES + 0.4),
                     layout="constrained")
        ax = fig.add_subplot()
        _show(ax, _tile(x, cols, pad=1, pad_value=0.5), cmap)
        if title is not None:
            ax.set_title(title)
        return fig

    fig = Figure(figsize=(max(2.0, cols * _PANEL_INCHES), rows * (_PANEL_INCHES + 0.2) + 0.4),
                 layout="constrained")
    panels = fig.subplots(rows, cols, squeeze=False).ravel()
    for i, panel in enumerate(panels):
        panel.set_axis_off()
        if i < n:
            _show(panel, x[i], cmap)
            panel.set_title(labels[i], fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


def _grid_into(ax: Axes, x: np.ndarray, labels: list[str] | None, rows: int, cols: int,
               title: str | None, cmap) -> Figure:
    """`grid` drawn into a given axes; labelled panels become its inset axes (`ax.child_axes`)."""
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    if labels is None:
        _show(ax, _tile(x, cols, pad=1, pad_value=0.5), cmap)
        return ax.figure
    gap = 0.08  # fraction of a cell kept free for the panel's title and spacing
    for i, label in enumerate(labels):
        r, c = divmod(i, cols)
        panel = ax.inset_axes([c / cols, 1 - (r + 1) / rows, (1 - gap) / cols, (1 - 2 * gap) / rows])
        _show(panel, x[i], cmap)
        panel.set_title(label, fontsize=8, pad=2)
    return ax.figure


def _ema(values: np.ndarray, smooth: float) -> np.ndarray:
    """Exponential moving average with bias correction, so the start is not pulled to 0."""
    out = np.empty_like(values)
    acc = 0.0
    for t, v in enumerate(values):
        acc = smooth * acc + (1 - smooth) * v
        out[t] = acc / (1 - smooth ** (t + 1))
    return out


def _wall_seconds(seconds) -> float | None:
    """Total wall time from a history's `.seconds`: a number, or per-step times (last = total)."""
    if seconds is None:
        return None
    if isinstance(seconds, numbers.Real) or (isinstance(seconds, torch.Tensor) and seconds.ndim == 0):
        return _check_number(seconds, "history.seconds")
    if isinstance(seconds, (str, bytes)) or not hasattr(seconds, "__iter__"):
        raise TypeError("history.seconds must be a number (total seconds) or a list of per-step times; "
                        f"got {seconds!r:.80} ({_type_name(seconds)})")
    values = _check_list(seconds, "history.seconds", "per-step times")
    return _check_number(values[-1], "history.seconds[-1]") if values else None


def _loss_values(values, key: str) -> np.ndarray:
    """The losses of one curve as float64 numpy; NaN and inf (a diverged run) are kept."""
    name = f"history[{key!r}]"
    values = _check_list(values, name, "one loss per step")
    if not values:
        raise ValueError(f"{name} has no losses to draw (0 steps)")
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim == 0:
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name}[{i}] must be a number (a loss); got {v!r:.80} ({_type_name(v)})")
        out[i] = float(v)
    return out


def loss_curves(history, keys: Sequence[str] | None = None, smooth: float = 0.0,
                ax: Axes | None = None, title: str | None = None, logy: bool = False) -> Figure:
    """Plot training losses against the step.

    history: dict[str, list[float]] (name -> loss per step), or an object with `.losses`
        of that form and optionally `.seconds` (wall seconds: a total or per-step times),
        which is then added to the title.
    keys: which losses to draw (default all, in order); at least one, each with >= 1 value.
    smooth: exponential moving-average weight in [0, 1); > 0 draws the smoothed curve over
        a faint raw one.
    logy: logarithmic loss axis (non-positive values are not drawn).
    A curve that turns NaN or infinite (a diverged run) is drawn up to there, and the
    title says from which step.
    Returns the Figure (x label "step", y label "loss", a legend).
    """
    losses = history if isinstance(history, Mapping) else getattr(history, "losses", None)
    if not isinstance(losses, Mapping):
        raise ValueError("history must be a dict of name -> losses per step, or have a "
                         f"`.losses` dict; got {_type_name(history)}")
    smooth = _check_number(smooth, "smooth")
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1); got {smooth}")
    keys = list(losses) if keys is None else _check_list(keys, "keys", "e.g. ['loss']")
    if not keys:
        raise ValueError("no losses to draw: history is empty or keys is []")
    missing = [k for k in keys if k not in losses]
    if missing:
        raise ValueError(f"no losses named {missing} in history; it has {list(losses)}")
    curves = {key: _loss_values(losses[key], key) for key in keys}
    title = _check_text(title, "title")
    ax = _check_axes(ax)
    logy = _check_bool(logy, "logy")
    seconds = _wall_seconds(getattr(history, "seconds", None))

    if ax is None:
        fig = Figure(figsize=(5.0, 3.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    diverged = []
    for key, y in curves.items():
        bad = np.flatnonzero(~np.isfinite(y))
        if len(bad):
            diverged.append(f"{key} is NaN/inf from step {bad[0]}")
        steps = np.arange(len(y))
        if smooth > 0:
            raw, = ax.plot(steps, y, alpha=0.25, linewidth=0.8)
            ax.plot(steps, _ema(y, smooth), color=raw.get_color(), label=key)
        else:
            ax.plot(steps, y, label=key)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    text = title if title is not None else "training loss"
    if seconds is not None:
        text = f"{text} ({seconds:.1f} s)"
    if diverged:
        text = f"{text}\n" + "; ".join(diverged)
    ax.set_title(text)
    return fig


def frame_indices(n_frames: int, max_frames: int) -> list[int]:
    """At most `max_frames` evenly spaced indices into `n_frames` frames, first and last included.

    With max_frames = 1 only the last frame (the end result) is picked.
    """
    n_frames = _check_int(n_frames, "n_frames", 1, "there must be frames to pick from")
    max_frames = _check_int(max_frames, "max_frames", 1)
    if max_frames == 1:
        return [n_frames - 1]
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, min(n_frames, max_frames))})


def split_frames(frames) -> list:
    """T frames as a list of per-frame images.

    frames: a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array, or any sequence of
    per-frame images ((1, H, W), (H, W) or (N, 1, H, W) each).
    """
    if isinstance(frames, (torch.Tensor, np.ndarray)):
        if frames.ndim not in (3, 4, 5):
            raise ValueError("frames must be (T, 1, H, W), (T, N, 1, H, W) or (T, H, W); "
                             f"got shape {tuple(frames.shape)}")
        return list(frames)
    if isinstance(frames, (str, bytes, Mapping)) or not hasattr(frames, "__iter__"):
        raise TypeError("frames must be a (T, 1, H, W) tensor/array or a list of per-frame images; "
                        f"got {_type_name(frames)}")
    return list(frames)


def frame_strip(frames, titles: Sequence[str] | None = None, title: str | None = None,
                max_frames: int = 10, nrow: int | None = None) -> Figure:
    """One row of frames from a sequence (a Gibbs chain, a diffusion trajectory, a canvas over time).

    frames: T >= 1 frames, as a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array or a
        sequence of per-frame images in [0, 1]; a frame of N images is tiled with
        `to_grid(nrow=nrow)`.
    titles: T titles (default "step t").
    max_frames: at most this many evenly spaced frames are drawn, always the first and last.
    Returns the Figure, one titled panel per drawn frame.
    """
    frames = split_frames(frames)
    if not frames:
        raise ValueError("frame_strip got no frames")
    titles = _check_titles(titles, len(frames), "titles", "frame")
    title = _check_text(title, "title")
    nrow = None if nrow is None else _check_int(nrow, "nrow", 1, "images per row")
    picked = frame_indices(len(frames), max_frames)
    grids = [_frame_grid(frames[t], f"frames[{t}]", nrow) for t in picked]
    # A frame that tiles several images gets a larger panel, up to 3 inches.
    panel = min(3.0, 1.2 * max(1.0, grids[0].shape[1] / 30))
    # Height follows the frames' aspect ratio, so a wide tiled frame leaves no empty band.
    aspect = grids[0].shape[0] / grids[0].shape[1]
    fig = Figure(figsize=(max(2.0, len(picked) * panel),
                          panel * aspect + (0.4 if title is None else 0.7)),
                 layout="constrained")
    axes = fig.subplots(1, len(picked), squeeze=False)[0]
    for ax, t, image in zip(axes, picked, grids):
        _show(ax, image, "gray")
        ax.set_title(titles[t] if titles is not None else f"step {t}", fontsize=9)
    if title is not None:
        fig.suptitle(title)
    return fig


def _figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _register_inline_png() -> None:
    """Show `Figure` objects as PNG in IPython (notebooks, nbval) without pyplot."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


_register_inline_png()
