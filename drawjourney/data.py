"""MNIST and Fashion-MNIST as one tensor on the device.

The real loader is torchvision's dataset class. Each split is read once, converted to a
float tensor (N, 1, H, W) in [0, 1], downsampled to 16x16 if asked (once, then cached),
and held whole on the device; minibatches are index slices of that tensor, so there is
no per-sample Python work while training.

Where the files live: `$DRAWJOURNEY_DATA` if set, else ``~/.cache/drawjourney/data``, in
torchvision's layout (``MNIST/raw/train-images-idx3-ubyte`` ...). Missing files are
downloaded when online; offline, one clear `DataNotFoundError` names the folder, the
variable and the files expected.
"""
from __future__ import annotations

import functools
import math
import os
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

_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataNotFoundError(FileNotFoundError):
    """The dataset files are not on disk and could not be downloaded."""


def data_root() -> Path:
    """The folder holding the datasets: `$DRAWJOURNEY_DATA`, else ``~/.cache/drawjourney/data``."""
    env = os.environ.get("DRAWJOURNEY_DATA", "").strip()
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "drawjourney" / "data"


@dataclass
class ImageData:
    """One split of a dataset, held whole on a device.

    images: float32 (N, 1, H, W) in [0, 1]; grey, or {0, 1} after static binarization.
    labels: int64 (N,).
    binarize: None, "static" (one fixed Bernoulli draw, the same at every call) or
        "dynamic" (`images` stay grey; `batches` draws fresh Bernoulli pixels per batch).

    On the CPU the tensors are shared with the loader's cache, so every call is cheap:
    change them out of place (``x = data.images * 2``), or `clone()` them first.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    binarize: str | None = None
    classes: tuple[str, ...] = field(default=MNIST_CLASSES, repr=False)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def take(self, index, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels at `index` (slice, int tensor or list), binarized as configured."""
        x = self.images[index]
        if self.binarize == "dynamic":
            x = torch.bernoulli(x, generator=_on(generator, x.device))
        return x, self.labels[index]

    def subset(self, n: int) -> "ImageData":
        """The first `n` examples (fast mode shrinks data with this)."""
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}")
        return ImageData(self.images[:n], self.labels[:n], self.name, self.split,
                         self.binarize, self.classes)

    def to(self, device) -> "ImageData":
        return ImageData(self.images.to(device), self.labels.to(device), self.name,
                         self.split, self.binarize, self.classes)


def _on(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """Generators are per device; use the given one only where it matches."""
    if generator is None or generator.device.type == device.type:
        return generator
    return None


def mnist(split: str = "train", size: int = 28, binarize: str | None = None,
          device=None, download: bool = True) -> ImageData:
    """MNIST digits: `split` "train" (60k) or "test" (10k), `size` 28 or 16.

    Returns an `ImageData` whose images are (N, 1, size, size) float32 in [0, 1] on
    `device` (default `runtime.device()`). 16x16 images are made by antialiased bilinear
    downsampling. See the module docstring for where files are found.
    """
    return load("mnist", split, size, binarize, device, download)


def fashion_mnist(split: str = "train", size: int = 28, binarize: str | None = None,
                  device=None, download: bool = True) -> ImageData:
    """Fashion-MNIST, with the same arguments and result as `mnist`."""
    return load("fashion", split, size, binarize, device, download)


def load(name: str, split: str = "train", size: int = 28, binarize: str | None = None,
         device=None, download: bool = True) -> ImageData:
    """`mnist` / `fashion_mnist` by dataset name ("mnist" or "fashion")."""
    _check("name", name, tuple(DATASETS))
    _check("split", split, SPLITS)
    _check("size", size, SIZES)
    _check("binarize", binarize, BINARIZE)
    device = runtime.device() if device is None else torch.device(device)
    images, labels = _grey(name, split, size, download)
    if binarize == "static":
        images = _static_binary(name, split, size, download)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return ImageData(images.to(device), labels.to(device), name, split, binarize, classes)


def _check(what: str, value, allowed: tuple) -> None:
    if value not in allowed or isinstance(value, bool):
        raise ValueError(f"{what}={value!r} is not supported; use one of {list(allowed)}")


@functools.lru_cache(maxsize=8)
def _grey(name: str, split: str, size: int, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N,1,size,size) float32 in [0,1], labels (N,) int64) on the CPU, cached."""
    if size == 28:
        raw, labels = _read(name, split, download)
        return raw.unsqueeze(1).float().div_(255.0), labels
    full, labels = _grey(name, split, 28, download)
    small = F.interpolate(full, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0.0, 1.0)
    return small, labels


@functools.lru_cache(maxsize=4)
def _static_binary(name: str, split: str, size: int, download: bool) -> torch.Tensor:
    grey, _ = _grey(name, split, size, download)
    return torch.bernoulli(grey, generator=torch.Generator().manual_seed(STATIC_SEED))


def _read(name: str, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 images (N, 28, 28) and int64 labels through torchvision's dataset class."""
    from torchvision import datasets  # imported here: it is slow to import

    root = data_root()
    folder = DATASETS[name]
    cls = getattr(datasets, folder)
    try:
        ds = cls(root=str(root), train=(split == "train"), download=False)
    except RuntimeError:
        if not download:
            raise DataNotFoundError(_missing_message(root, folder)) from None
        try:
            ds = cls(root=str(root), train=(split == "train"), download=True)
        except Exception as err:  # no network, a proxy, a full disk: one clear message
            raise DataNotFoundError(
                _missing_message(root, folder) + f"\nThe download failed: {err}") from None
    return ds.data.clone(), ds.targets.clone().long()


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
    """

    def __init__(self, data: ImageData, batch_size: int = 128, *, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
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
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        n = len(self.data)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        order = order.to(self.data.device)
        dev_gen = None
        if self.data.binarize == "dynamic":
            pixel_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
            dev_gen = torch.Generator(device=self.data.device).manual_seed(pixel_seed)
        for k in range(len(self)):
            yield self.data.take(order[k * self.batch_size:(k + 1) * self.batch_size], dev_gen)


def batches(data: ImageData, batch_size: int = 128, *, shuffle: bool = True, seed: int = 0,
            drop_last: bool = True) -> Batches:
    """A re-iterable `Batches` over `data` (one pass per epoch); see `Batches`."""
    return Batches(data, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
