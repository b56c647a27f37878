"""Image grids, loss curves and frame strips for the course's notebooks.

Images everywhere in the course are float tensors in [0, 1] of shape (N, 1, H, W) with
H = W = 16 or 28, on any device; every function here also takes numpy arrays.

Figures are built with `matplotlib.figure.Figure`, not `pyplot`: a figure returned as
the last expression of a cell is shown once (pyplot's inline backend would show it a
second time when the cell ends), and notebooks that draw hundreds of figures never
collect open pyplot figures. Use ``display(fig)`` or ``fig.savefig(...)`` elsewhere.
Importing this module inside IPython registers a PNG formatter for figures, so they show
inline without ``%matplotlib inline`` or pyplot.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

# Inches per image panel; 16x16 and 28x28 digits stay readable at this size.
_PANEL_INCHES = 0.9


def _as_numpy(x) -> np.ndarray:
    """A float32 numpy copy of a tensor (any device, any dtype, maybe requiring grad) or array."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _as_batch(images) -> np.ndarray:
    """(N, 1, H, W), (N, H, W) or (H, W) images -> (N, H, W) float32 numpy."""
    x = _as_numpy(images)
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return x
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"images of shape {tuple(x.shape)} have {x.shape[1]} channels; "
                             "the course's images are grayscale, (N, 1, H, W)")
        return x[:, 0]
    raise ValueError(f"images must be (N, 1, H, W), (N, H, W) or (H, W); got shape {tuple(x.shape)}")


def _grid_shape(n: int, nrow: int | None) -> tuple[int, int]:
    """(rows, columns) for `n` panels with `nrow` panels per row (default: a near square)."""
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1 (images per row); got {nrow}")
    cols = min(nrow, n)
    return math.ceil(n / cols), cols


def to_grid(images, nrow: int | None = None, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Tile images into one image.

    images: (N, 1, H, W), (N, H, W) or (H, W) tensor or array, values in [0, 1].
    nrow: images per row, as in torchvision's ``make_grid`` (default ceil(sqrt(N))).
    pad: pixels of `pad_value` between neighbouring images (none around the border).
    Returns a (rows*H + (rows-1)*pad, cols*W + (cols-1)*pad) float32 array in [0, 1];
    cells past the last image are filled with `pad_value`.
    """
    x = _as_batch(images)
    n, h, w = x.shape
    if n == 0:
        raise ValueError("to_grid got no images (N = 0)")
    if pad < 0:
        raise ValueError(f"pad must be >= 0 pixels; got {pad}")
    rows, cols = _grid_shape(n, nrow)
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad), pad_value,
                  dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = x[i]
    return np.clip(out, 0.0, 1.0)


def to_png(image, scale: int = 4) -> bytes:
    """Encode one grayscale image as PNG bytes, for `ipywidgets.Image`.

    image: (H, W) or (1, H, W) tensor or array in [0, 1] (values outside are clipped).
    scale: integer upscaling factor; nearest neighbour, so pixels stay visible squares.
    Returns the bytes of an 8-bit grayscale PNG of size (H*scale, W*scale).
    """
    x = _as_numpy(image)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"to_png takes one image, (H, W) or (1, H, W); got shape {tuple(x.shape)}; "
                         "tile a batch first with to_grid")
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer; got {scale}")
    # nan_to_num: casting NaN to uint8 is undefined, and a diverged model should still show
    pixels = np.round(np.clip(np.nan_to_num(x), 0.0, 1.0) * 255).astype(np.uint8)
    img = Image.fromarray(pixels)  # uint8 (H, W) -> mode "L"
    if scale > 1:
        img = img.resize((x.shape[1] * int(scale), x.shape[0] * int(scale)), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _show(ax: Axes, image: np.ndarray, cmap: str) -> None:
    """Draw one (H, W) image in [0, 1] on `ax` with a fixed colour scale and no axes."""
    # vmin/vmax fixed: otherwise matplotlib stretches each image's own range, and a
    # blurry grey mean looks as crisp as a digit.
    ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def _label_text(label) -> str:
    """A label as a short title: ints of tensors/arrays as ints, anything else via str."""
    if isinstance(label, (torch.Tensor, np.generic, np.ndarray)):
        label = label.item()
    return str(label)


def grid(images, labels=None, nrow: int | None = None, title: str | None = None,
         ax: Axes | None = None, cmap: str = "gray") -> Figure:
    """Show a batch of images, optionally each with its label as a small title.

    images: (N, 1, H, W), (N, H, W) or (H, W) tensor or array in [0, 1].
    labels: N ints or strings (list, tensor or array); with labels every image is its own
        panel titled by its label, without them the batch is one tiled image.
    nrow: images per row (default ceil(sqrt(N))).
    title: the figure's title (the axes' title when `ax` is given).
    ax: draw into this axes instead of a new figure (labelled panels become inset axes).
    Returns the Figure (not shown; the last expression of a cell displays it).
    """
    x = _as_batch(images)
    n = x.shape[0]
    if n == 0:
        raise ValueError("grid got no images (N = 0)")
    rows, cols = _grid_shape(n, nrow)
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images")
    if ax is not None:
        return _grid_into(ax, x, labels, rows, cols, title, cmap)

    if labels is None:
        fig = Figure(figsize=(max(2.0, cols * _PANEL_INCHES), rows * _PANEL_INCHES + 0.4),
                     layout="constrained")
        ax = fig.add_subplot()
        _show(ax, to_grid(x, nrow=cols), cmap)
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
            panel.set_title(_label_text(labels[i]), fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


def _grid_into(ax: Axes, x: np.ndarray, labels: list | None, rows: int, cols: int,
               title: str | None, cmap: str) -> Figure:
    """`grid` drawn into a given axes; labelled panels become its inset axes (`ax.child_axes`)."""
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    if labels is None:
        _show(ax, to_grid(x, nrow=cols), cmap)
        return ax.figure
    gap = 0.08  # fraction of a cell kept free for the panel's title and spacing
    for i, label in enumerate(labels):
        r, c = divmod(i, cols)
        panel = ax.inset_axes([c / cols, 1 - (r + 1) / rows, (1 - gap) / cols, (1 - 2 * gap) / rows])
        _show(panel, x[i], cmap)
        panel.set_title(_label_text(label), fontsize=8, pad=2)
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
    if isinstance(seconds, (int, float)):
        return float(seconds)
    values = list(seconds)
    return float(values[-1]) if values else None


def loss_curves(history, keys: Sequence[str] | None = None, smooth: float = 0.0,
                ax: Axes | None = None, title: str | None = None, logy: bool = False) -> Figure:
    """Plot training losses against the step.

    history: dict[str, list[float]] (name -> loss per step), or an object with `.losses`
        of that form and optionally `.seconds` (wall seconds: a total or per-step times),
        which is then added to the title.
    keys: which losses to draw (default all, in order).
    smooth: exponential moving-average weight in [0, 1); > 0 draws the smoothed curve over
        a faint raw one.
    logy: logarithmic loss axis (non-positive values are not drawn).
    Returns the Figure (x label "step", y label "loss", a legend).
    """
    losses = history if isinstance(history, Mapping) else getattr(history, "losses", None)
    if not isinstance(losses, Mapping):
        raise ValueError("history must be a dict of name -> losses per step, or have a "
                         f"`.losses` dict; got {type(history).__name__}")
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1); got {smooth}")
    keys = list(losses) if keys is None else list(keys)
    missing = [k for k in keys if k not in losses]
    if missing:
        raise ValueError(f"no losses named {missing} in history; it has {list(losses)}")

    if ax is None:
        fig = Figure(figsize=(5.0, 3.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for key in keys:
        y = np.array([float(v) for v in losses[key]], dtype=np.float64)
        steps = np.arange(len(y))
        if smooth > 0 and len(y):
            raw, = ax.plot(steps, y, alpha=0.25, linewidth=0.8)
            ax.plot(steps, _ema(y, smooth), color=raw.get_color(), label=key)
        else:
            ax.plot(steps, y, label=key)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if keys:
        ax.legend()
    seconds = _wall_seconds(getattr(history, "seconds", None))
    text = title if title is not None else "training loss"
    if seconds is not None:
        text = f"{text} ({seconds:.1f} s)"
    ax.set_title(text)
    return fig


def frame_indices(n_frames: int, max_frames: int) -> list[int]:
    """At most `max_frames` evenly spaced indices into `n_frames` frames, first and last included.

    With max_frames = 1 only the last frame (the end result) is picked.
    """
    if n_frames < 1:
        raise ValueError("there are no frames to pick from")
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1; got {max_frames}")
    if max_frames == 1:
        return [n_frames - 1]
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, min(n_frames, max_frames))})


def split_frames(frames) -> list:
    """T frames as a list of per-frame images.

    frames: a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array, or any sequence of
    per-frame images ((1, H, W), (H, W) or (N, 1, H, W) each).
    """
    if isinstance(frames, (torch.Tensor, np.ndarray)) and frames.ndim not in (3, 4, 5):
        raise ValueError("frames must be (T, 1, H, W), (T, N, 1, H, W) or (T, H, W); "
                         f"got shape {tuple(frames.shape)}")
    return list(frames)


def frame_strip(frames, titles: Sequence[str] | None = None, title: str | None = None,
                max_frames: int = 10, nrow: int | None = None) -> Figure:
    """One row of frames from a sequence (a Gibbs chain, a diffusion trajectory, a canvas over time).

    frames: T frames, as a (T, 1, H, W), (T, H, W) or (T, N, 1, H, W) tensor/array or a
        sequence of per-frame images; a frame of N images is tiled with `to_grid(nrow=nrow)`.
    titles: T titles (default "step t").
    max_frames: at most this many evenly spaced frames are drawn, always the first and last.
    Returns the Figure, one titled panel per drawn frame.
    """
    frames = split_frames(frames)
    if not frames:
        raise ValueError("frame_strip got no frames")
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"got {len(titles)} titles for {len(frames)} frames")
    picked = frame_indices(len(frames), max_frames)
    grids = [to_grid(frames[t], nrow=nrow) for t in picked]
    # A frame that tiles several images gets a larger panel, up to 3 inches.
    panel = min(3.0, 1.2 * max(1.0, grids[0].shape[1] / 30))
    fig = Figure(figsize=(max(2.0, len(picked) * panel), panel + (0.4 if title is None else 0.7)),
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
