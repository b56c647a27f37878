"""drawjourney: the helper package of "Teaching Machines to Draw: a problem solver's journey".

The notebooks import data loading, one training loop, plotting, widgets, metrics and one
model file per chapter from here; the key idea of each chapter is written inline in its
notebook and checked against the package version.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("drawjourney")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

from drawjourney import runtime  # noqa: E402  (cheap; the rest is imported on use)
from drawjourney.zoo import pretrained  # noqa: E402

__all__ = ["__version__", "pretrained", "runtime"]
