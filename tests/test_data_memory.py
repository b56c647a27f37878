"""Each load hands out tensors the caller owns; the loader keeps only uint8 pixels."""
import torch

from drawjourney import data


def test_in_place_edits_never_reach_a_later_call(data_root):
    for kwargs in ({"size": 28}, {"size": 16}, {"size": 16, "binarize": "static"}):
        first = data.mnist("test", **kwargs)
        before = data.mnist("test", **kwargs).images.clone()
        first.images[first.images < 0.5] = 0
        first.images[:10] = 1
        first.labels[:] = 0
        again = data.mnist("test", **kwargs)
        assert torch.equal(again.images, before)
        assert again.labels.unique().numel() == 10


def test_two_calls_share_no_memory(data_root):
    a, b = data.mnist("test"), data.mnist("test")
    pixels, labels = data._pixels("mnist", "test", download=False)
    ptrs = {t.untyped_storage().data_ptr() for t in (a.images, a.labels, b.images, b.labels,
                                                      pixels, labels)}
    assert len(ptrs) == 6


def test_the_cache_holds_uint8_pixels_only(data_root):
    for split in data.SPLITS:
        for size in data.SIZES:
            data.mnist(split, size=size, binarize="static")
    pixels, labels = data._pixels("mnist", "train", download=False)
    assert pixels.dtype == labels.dtype == torch.uint8
    assert pixels.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    # One entry per (dataset, split): at most 2 x (47 + 8) MB of pixels, whatever was asked.
    assert data._read.cache_info().maxsize == 4
