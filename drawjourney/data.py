"""MNIST and Fashion-MNIST as one tensor on the device.

Each split's files are read once and cached as the raw uint8 pixels (N, 28, 28), a
quarter of the memory of float32 (Binder gives a learner 2 GB). Every call then makes
the caller's own float tensor (N, 1, H, W) in [0, 1] from that cache: the conversion,
the 16x16 downsampling and the static binarization are redone per call (a few hundred
ms for the 60k training images on 2 CPU cores), so an in-place edit in one notebook
cell never reaches another call. The result is held whole on the device; minibatches
are index slices of it, so there is no per-sample Python work while training.

Where the files live: `$DRAWJOURNEY_DATA` if set, else ``runtime.cache_dir("data")``
(``$XDG_CACHE_HOME/drawjourney/data`` or ``~/.cache/drawjourney/data``), in
torchvision's layout (``MNIST/raw/train-images-idx3-ubyte`` ..., uncompressed or as
``.gz``). Missing files are downloaded by torchvision when online; offline, one clear
`DataNotFoundError` names the folder, the variable and the files expected. A file that
is there but unreadable, truncated or not an IDX file is a `DataFileError` naming it,
what is wrong and what to do.

Every argument is checked: a wrong type is a `TypeError`, a wrong value a `ValueError`
(an index out of range an `IndexError`), each naming the argument and what is allowed.
"""
from __future__ import annotations

import functools
import gzip
import math
import numbers
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from drawjourney import runtime

SIZES = (16, 28)
SPLITS = ("train", "test")
BINARIZE = (None, "static", "dynamic")
DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST"}
STATIC_SEED = 1234  # the one fixed Bernoulli draw behind binarize="static"
RESIZE_CHUNK = 4096  # images downsampled per call; the result does not depend on it

_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_PREFIX = {"train": "train", "test": "t10k"}
_COUNT = {"train": 60_000, "test": 10_000}

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataNotFoundError(FileNotFoundError):
    """The dataset files are not on disk and could not be downloaded."""


class DataFileError(OSError):
    """A dataset file is on disk but unusable: unreadable, truncated or not an IDX file."""


def data_root() -> Path:
    """The folder holding the datasets: `$DRAWJOURNEY_DATA`, else ``runtime.cache_dir("data")``."""
    env = os.environ.get("DRAWJOURNEY_DATA", "").strip()
    if not env:
        return runtime.cache_dir("data")
    root = Path(env).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ValueError(f"DRAWJOURNEY_DATA={env!r} is a file, not a folder: point it at the "
                         f"folder that holds MNIST/raw/..., or unset it")
    return root


@dataclass
class ImageData:
    """One split of a dataset, held whole on a device.

    images: float32 (N, 1, H, H) in [0, 1]; grey, or {0, 1} after static binarization.
    labels: int64 (N,), each in [0, len(classes)).
    binarize: None, "static" (one fixed Bernoulli draw, the same at every call) or
        "dynamic" (`images` stay grey; `batches` draws fresh Bernoulli pixels per batch).

    The tensors are the caller's own: each `mnist(...)` call makes fresh ones, so an
    in-place edit (``x.images[x.images < 0.5] = 0``) changes this object only, never a
    later call. `subset`, and `to` the device the data is already on, share this
    object's memory, as slicing a tensor does.
    Built by hand, the fields are checked: a wrong type, shape, dtype or device, or a
    pixel outside [0, 1] (NaN included) is a `TypeError` or `ValueError` naming it.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    binarize: str | None = None
    classes: tuple[str, ...] = field(default=MNIST_CLASSES, repr=False)

    def __post_init__(self):
        x, y = self.images, self.labels
        for what, t, dtype, fix in (("images", x, torch.float32, ".float()"),
                                    ("labels", y, torch.int64, ".long()")):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"ImageData {what} must be a torch.Tensor, got "
                                f"{type(t).__name__}")
            if t.dtype != dtype:
                raise TypeError(f"ImageData {what} must be {dtype}, got {t.dtype}; convert "
                                f"with {fix}")
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3] or len(x) == 0:
            raise ValueError(f"ImageData images must have shape (N, 1, H, H) with N >= 1, "
                             f"got {tuple(x.shape)}")
        if y.shape != (len(x),):
            raise ValueError(f"ImageData labels must have shape ({len(x)},), one per image, "
                             f"got {tuple(y.shape)}")
        if y.device != x.device:
            raise ValueError(f"ImageData labels are on {y.device} but images on {x.device}; "
                             f"put both on one device")
        for what in ("name", "split"):
            if not isinstance(getattr(self, what), str):
                raise TypeError(f"ImageData {what} must be a str, got {getattr(self, what)!r}")
        self.binarize = _choice("binarize", self.binarize, BINARIZE)
        if (isinstance(self.classes, str) or not isinstance(self.classes, (tuple, list))
                or not self.classes or not all(isinstance(c, str) for c in self.classes)):
            raise TypeError(f"ImageData classes must be a non-empty tuple of str, got "
                            f"{self.classes!r}")
        self.classes = tuple(self.classes)
        lo, hi = torch.aminmax(x)
        if not (0.0 <= lo.item() and hi.item() <= 1.0):  # false for NaN too
            raise ValueError(f"ImageData images must lie in [0, 1] with no NaN (pixels in "
                             f"0..255? divide by 255); got min {lo.item()}, max {hi.item()}")
        lo, hi = torch.aminmax(y)
        if lo.item() < 0 or hi.item() >= len(self.classes):
            raise ValueError(f"ImageData labels must lie in [0, {len(self.classes)}) (one per "
                             f"class); got min {lo.item()}, max {hi.item()}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def take(self, index, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels at `index`, binarized as configured.

        index: a slice, a list or 1-D integer tensor of positions, a boolean mask (N,),
            or one int (which gives images (1, H, W) and a 0-d label, as tensors do).
        generator: for the dynamic Bernoulli draw; used only if on the data's device.
        """
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
        return self._take(_index(index, len(self), self.device), generator)

    def _take(self, index, generator: torch.Generator | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """`take` without checks, for `Batches`: its indices are valid by construction, and
        checking them on a GPU would wait for the device at every batch."""
        x = self.images[index]
        if self.binarize == "dynamic":
            x = torch.bernoulli(x, generator=_on(generator, x.device))
        return x, self.labels[index]

    def subset(self, n: int) -> "ImageData":
        """The first `n` examples (fast mode shrinks data with this), sharing memory."""
        n = self._size("subset", n)
        return self._rows(slice(None, n))

    def spread(self, n: int) -> "ImageData":
        """`n` examples spread over the split (every len // n-th, from the first), sharing memory.

        A fair small sample where `subset(n)` is not one: MNIST's test split puts its
        easier digits first (a flow scored 1.495 bits/dim on the first 1,000 and 1.535 on
        all 10,000), so the model spot checks use this.
        """
        n = self._size("spread", n)
        return self._rows(slice(None, n * (len(self) // n), len(self) // n))

    def _size(self, what: str, n) -> int:
        n = _int(f"{what} size n", n)
        if not 1 <= n <= len(self):
            raise ValueError(f"{what} size n={n} must be between 1 and {len(self)}, the "
                             f"number of examples")
        return n

    def _rows(self, rows: slice) -> "ImageData":
        return ImageData(self.images[rows], self.labels[rows], self.name, self.split,
                         self.binarize, self.classes)

    def to(self, device) -> "ImageData":
        """The same data on `device` (a string or torch.device, checked by `runtime.device`)."""
        device = runtime.device(device)
        return ImageData(self.images.to(device), self.labels.to(device), self.name,
                         self.split, self.binarize, self.classes)


def _index(index, n: int, device: torch.device):
    """`index` checked against `n` examples, as something a tensor can be indexed with."""
    def check(i):
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {n} examples (0 to {n - 1})")

    if isinstance(index, slice):
        for part in ("start", "stop", "step"):
            value = getattr(index, part)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, numbers.Integral)):
                raise TypeError(f"index {index}: the slice {part} must be an int or None")
        if index.step is not None and index.step <= 0:
            raise ValueError(f"index {index}: the slice step must be positive")
        for bound in (index.start, index.stop):
            if bound is not None and not -n <= bound <= n:
                raise IndexError(f"index {index} reaches outside the {n} examples (0 to {n - 1})")
        return index
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        check(int(index))
        return int(index)
    given = index
    try:
        index = torch.as_tensor(index)
    except (TypeError, ValueError, RuntimeError):
        index = None
    if index is not None and index.shape == (0,):
        return index.long().to(device)  # torch reads [] as a float tensor
    if index is None or index.is_floating_point() or index.is_complex():
        raise TypeError(f"index must be a slice, an int, a list or tensor of ints, or a "
                        f"boolean mask; got {given!r}")
    if index.dtype == torch.bool:
        if index.shape != (n,):
            raise ValueError(f"a boolean index must be a mask of shape ({n},), got "
                             f"{tuple(index.shape)}")
        return index.to(device)
    if index.ndim > 1:
        raise ValueError(f"index must be 1-D (positions), got shape {tuple(index.shape)}")
    lo, hi = torch.aminmax(index)
    check(lo.item())
    check(hi.item())
    return index.long().to(device)


def _on(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """Generators are per device; use the given one only where it matches."""
    if generator is None or generator.device.type == device.type:
        return generator
    return None


def mnist(split: str = "train", size: int = 28, binarize: str | None = None,
          device=None, download: bool = True) -> ImageData:
    """MNIST digits: `split` "train" (60k) or "test" (10k), `size` 28 or 16.

    Returns an `ImageData` whose images are (N, 1, size, size) float32 in [0, 1] on
    `device` (default `runtime.device()`), made afresh for this call. 16x16 images are
    made by antialiased bilinear downsampling. See the module docstring for where files
    are found.
    """
    return load("mnist", split, size, binarize, device, download)


def fashion_mnist(split: str = "train", size: int = 28, binarize: str | None = None,
                  device=None, download: bool = True) -> ImageData:
    """Fashion-MNIST, with the same arguments and result as `mnist`."""
    return load("fashion", split, size, binarize, device, download)


def load(name: str, split: str = "train", size: int = 28, binarize: str | None = None,
         device=None, download: bool = True) -> ImageData:
    """`mnist` / `fashion_mnist` by dataset name ("mnist" or "fashion")."""
    name = _choice("name", name, tuple(DATASETS))
    split = _choice("split", split, SPLITS)
    size = _choice("size", size, SIZES)
    binarize = _choice("binarize", binarize, BINARIZE)
    device = runtime.device(device)
    _bool("download", download)
    pixels, labels = _pixels(name, split, download)
    images = _floats(pixels, size)
    if binarize == "static":
        # In place: the draws of torch.bernoulli(images), without a second copy of the split.
        images.bernoulli_(images, generator=torch.Generator().manual_seed(STATIC_SEED))
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return ImageData(images.to(device), labels.long().to(device), name, split, binarize, classes)


def _floats(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 28, 28) pixels as float32 (N, 1, size, size) images in [0, 1].

    16x16 images are made by antialiased bilinear downsampling, RESIZE_CHUNK images at a
    time: the same values as one call over the whole split, without its 28x28 float copy
    and the resampler's buffers (about 400 MB for the 60,000 training digits; Binder gives 2 GB).
    """
    if size == 28:
        return pixels.unsqueeze(1).float().div_(255.0)
    images = torch.empty(len(pixels), 1, size, size)
    for start in range(0, len(pixels), RESIZE_CHUNK):
        block = pixels[start:start + RESIZE_CHUNK].unsqueeze(1).float().div_(255.0)
        images[start:start + RESIZE_CHUNK] = F.interpolate(
            block, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return images


def _choice(what: str, value, allowed: tuple):
    """`value` if it is one of `allowed` with the same type (28.0, True and "28" are not 28)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    for option in allowed:
        if type(value) is type(option) and value == option:
            return option
    raise ValueError(f"{what}={value!r} is not supported; use one of {list(allowed)}")


def _int(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


def _bool(what: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r}")


def _pixels(name: str, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached uint8 images (N, 28, 28) and labels (N,), downloaded first if missing."""
    root = data_root()
    folder = root / DATASETS[name] / "raw"
    files = [folder / f"{_PREFIX[split]}-{kind}"
             for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    if not all(f.exists() or f.with_name(f.name + ".gz").exists() for f in files):
        if not download:
            raise DataNotFoundError(_missing_message(root, DATASETS[name]))
        _download(root, name, split)
    return _read(files[0], files[1], _COUNT[split])


def _download(root: Path, name: str, split: str) -> None:
    from torchvision import datasets  # imported here: it is slow to import

    try:
        getattr(datasets, DATASETS[name])(root=str(root), train=(split == "train"), download=True)
    except Exception as err:  # no network, a proxy, a full disk: one clear message
        raise DataNotFoundError(_missing_message(root, DATASETS[name]) +
                                f"\nThe download failed: {err}") from None


@functools.lru_cache(maxsize=4)
def _read(images_path: Path, labels_path: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (n, 28, 28) and labels (n,) from their IDX files, cached by path."""
    return _read_idx(images_path, (n, 28, 28)), _read_idx(labels_path, (n,))


def _read_idx(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """The uint8 array of `shape` in the IDX file at `path` (or `path`.gz), checked.

    An IDX file is a big-endian header, 0x0000 08 <ndim> then each dimension as uint32,
    followed by the bytes; anything else is a `DataFileError` that says what is wrong.
    """
    if not path.exists():
        path = path.with_name(path.name + ".gz")
    try:
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataFileError(_broken_message(path, f"it cannot be read ({err})")) from None
    header = 4 * (1 + len(shape))
    expected = header + math.prod(shape)
    magic = 0x0800 + len(shape)
    if len(raw) >= 4 and int.from_bytes(raw[:4], "big") != magic:
        raise DataFileError(_broken_message(
            path, f"wrong magic number 0x{raw[:4].hex()}, expected 0x{magic:08x}: it is not "
                  f"an uncompressed IDX file of {len(shape)}-D uint8 data"))
    dims = struct.unpack(f">{len(shape)}I", raw[4:header]) if len(raw) >= header else shape
    if dims != shape:
        raise DataFileError(_broken_message(
            path, f"its header says shape {dims}, expected {shape}"))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "too long"
        raise DataFileError(_broken_message(
            path, f"it is {state}: expected {expected} bytes, got {len(raw)}"))
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).view(shape)


def _broken_message(path: Path, problem: str) -> str:
    return (f"The data file {path} is broken: {problem}.\n"
            f"Delete it and load again to download a fresh copy (an interrupted download "
            f"leaves such files), or set DRAWJOURNEY_DATA to a folder holding good copies.")


def _missing_message(root: Path, folder: str) -> str:
    files = "\n".join(f"  {root / folder / 'raw' / f}" for f in _RAW_FILES)
    return (f"{folder} was not found under {root} and could not be downloaded.\n"
            f"Set DRAWJOURNEY_DATA to a folder holding torchvision's layout, e.g.\n"
            f"  export DRAWJOURNEY_DATA=/path/to/data\n"
            f"with these files (uncompressed, or as .gz):\n{files}")


class Batches:
    """Minibatches of an `ImageData` as index slices; iterate once per epoch.

    Each pass shuffles with a generator seeded by (seed, epoch), so the order is the same
    for the same seed and differs between epochs. Yields (x (B,1,H,W), y (B,)) on the
    data's device; with binarize="dynamic" the pixels are freshly sampled per batch.
    batch_size is a positive int; shuffle and drop_last are bools; seed a non-negative int.
    """

    def __init__(self, data: ImageData, batch_size: int = 128, *, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
        if not isinstance(data, ImageData):
            raise TypeError(f"data must be an ImageData (from data.mnist(...)), got "
                            f"{type(data).__name__}")
        batch_size = _int("batch_size", batch_size)
        seed = _int("seed", seed)
        _bool("shuffle", shuffle)
        _bool("drop_last", drop_last)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        if batch_size > len(data) and drop_last:
            raise ValueError(f"batch_size={batch_size} is larger than the data ({len(data)} "
                             f"examples); lower it or pass drop_last=False")
        self.data, self.batch_size = data, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.data) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**64)
        self.epoch += 1
        n = len(self.data)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        order = order.to(self.data.device)
        dev_gen = None
        if self.data.binarize == "dynamic":
            pixel_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
            dev_gen = torch.Generator(device=self.data.device).manual_seed(pixel_seed)
        for k in range(len(self)):
            yield self.data._take(order[k * self.batch_size:(k + 1) * self.batch_size], dev_gen)


def batches(data: ImageData, batch_size: int = 128, *, shuffle: bool = True, seed: int = 0,
            drop_last: bool = True) -> Batches:
    """A re-iterable `Batches` over `data` (one pass per epoch); see `Batches`."""
    return Batches(data, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
