import gzip
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from drawjourney import data


@pytest.fixture(scope="module")
def test28(data_root):
    return data.mnist("test", size=28)


def test_mnist_shapes_dtypes_ranges(test28):
    assert test28.images.shape == (10_000, 1, 28, 28)
    assert test28.images.dtype == torch.float32
    assert test28.labels.shape == (10_000,) and test28.labels.dtype == torch.int64
    assert test28.images.min() >= 0.0 and test28.images.max() <= 1.0
    assert set(test28.labels.unique().tolist()) == set(range(10))
    assert test28.device == torch.device("cpu")


def test_train_split_size(data_root):
    assert len(data.mnist("train", size=16)) == 60_000


def test_fashion_mnist_loads(data_root):
    fashion = data.fashion_mnist("test", size=16)
    assert fashion.images.shape == (10_000, 1, 16, 16)
    assert fashion.classes[9] == "Ankle boot"


def test_16x16_is_a_downsampled_28x28(test28):
    small = data.mnist("test", size=16)
    assert small.images.shape == (10_000, 1, 16, 16)
    assert torch.equal(small.labels, test28.labels)
    # Downsampling keeps the overall ink: mean intensity per image agrees closely.
    diff = (small.images.mean((1, 2, 3)) - test28.images.mean((1, 2, 3))).abs()
    assert diff.mean() < 0.01
    # And it is a real resize, not a crop: the centre of mass stays central.
    assert small.images.mean(0)[0, 6:10, 6:10].mean() > small.images.mean(0)[0, :2, :].mean()


def test_static_binarization_is_fixed_across_calls(data_root):
    a = data.mnist("test", size=16, binarize="static")
    b = data.mnist("test", size=16, binarize="static")
    assert set(a.images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a.images, b.images)
    # Bernoulli, not a threshold: some grey pixels of 0.3 became 1.
    grey = data.mnist("test", size=16).images
    mid = (grey > 0.2) & (grey < 0.4)
    assert 0.1 < a.images[mid].mean() < 0.5


def test_dynamic_binarization_resamples(data_root):
    dyn = data.mnist("test", size=16, binarize="dynamic")
    x1, _ = dyn.take(slice(0, 256))
    x2, _ = dyn.take(slice(0, 256))
    assert set(x1.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(x1, x2)
    grey = data.mnist("test", size=16).images[:256]
    assert torch.allclose(x1.mean(), grey.mean(), atol=0.01)


def test_spread_takes_every_kth_example_with_its_label(test28):
    part = test28.spread(1000)
    assert len(part) == 1000 and torch.equal(part.images, test28.images[::10])
    assert torch.equal(part.labels, test28.labels[::10])
    assert part.images.data_ptr() == test28.images.data_ptr()     # a view, no copy
    assert len(test28.spread(3)) == 3 and torch.equal(test28.spread(3).labels, test28.labels[[0, 3333, 6666]])
    for bad in (0, 10_001):
        with pytest.raises(ValueError, match="spread size n"):
            test28.spread(bad)


def test_batches_are_seeded_and_cover_an_epoch(test28):
    sub = test28.subset(1000)
    first = [y for _, y in data.batches(sub, 100, seed=3)]
    again = [y for _, y in data.batches(sub, 100, seed=3)]
    other = [y for _, y in data.batches(sub, 100, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert torch.equal(torch.cat(first).sort().values, sub.labels.sort().values)


def test_batches_reshuffle_each_epoch_and_keep_pairs(test28):
    sub = test28.subset(500)
    loader = data.batches(sub, 50, seed=0)
    epoch1 = torch.cat([y for _, y in loader])
    epoch2 = torch.cat([y for _, y in loader])
    assert not torch.equal(epoch1, epoch2)
    x, y = next(iter(data.batches(sub, 50, seed=1)))
    # Each image stays with its own label: find it in the data and compare.
    idx = (sub.images.flatten(1) == x[0].flatten()).all(1).nonzero()[0, 0]
    assert sub.labels[idx] == y[0]


def test_batch_count_and_drop_last(test28):
    sub = test28.subset(1050)
    assert len(data.batches(sub, 100)) == 10
    assert len(data.batches(sub, 100, drop_last=False)) == 11
    sizes = [len(y) for _, y in data.batches(sub, 100, drop_last=False, shuffle=False)]
    assert sizes[-1] == 50


@pytest.mark.parametrize("kwargs,match", [
    ({"size": 32}, "size"), ({"split": "valid"}, "split"), ({"binarize": "otsu"}, "binarize"),
])
def test_bad_arguments_list_allowed_values(data_root, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        data.mnist(**kwargs)
    assert "use one of" in str(err.value)


def test_bad_batch_size(test28):
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(test28.subset(10), 64)


def test_16x16_and_static_draw_are_the_old_algorithm(data_root):
    """The values every FID/NLL number of the course was computed on: torchvision's pixels
    / 255, antialiased bilinear to 16x16, one Bernoulli draw over the whole split seeded
    with STATIC_SEED."""
    from torchvision import datasets

    grey28 = datasets.MNIST(str(data_root), train=False).data.unsqueeze(1).float().div_(255.0)
    grey16 = F.interpolate(grey28, size=(16, 16), mode="bilinear", antialias=True,
                           align_corners=False).clamp_(0.0, 1.0)
    assert 10_000 % data.RESIZE_CHUNK != 0   # the loader resizes the test split in chunks, the last one short
    assert torch.equal(data.mnist("test", size=16).images, grey16)
    for size, grey in ((16, grey16), (28, grey28)):
        old = torch.bernoulli(grey, generator=torch.Generator().manual_seed(data.STATIC_SEED))
        assert torch.equal(data.mnist("test", size=size, binarize="static").images[:2000], old[:2000])
    # Counts of ones taken from the loader before the uint8 cache (commit 0384e47).
    assert data.mnist("test", size=28, binarize="static").images.sum() == 1038137
    assert data.mnist("train", size=16, binarize="static").images.sum() == 2009898


def test_default_root_is_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DRAWJOURNEY_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.data_root() == tmp_path / "drawjourney" / "data"
    monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path / "elsewhere"))
    assert data.data_root() == (tmp_path / "elsewhere").resolve()


def test_data_root_that_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "data").write_text("not a folder")
    monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="DRAWJOURNEY_DATA=.* is a file, not a folder"):
        data.mnist("test")


def test_offline_without_files_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataNotFoundError) as err:
        data.mnist("test", download=False)
    message = str(err.value)
    assert "was not found" in message and "DRAWJOURNEY_DATA" in message
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path / "nowhere") in message


@pytest.fixture
def copied_test_split(data_root, tmp_path, monkeypatch):
    """A DRAWJOURNEY_DATA holding a copy of MNIST's test files, to break one of them.

    The loader caches by file path, so a fresh tmp_path never meets cached pixels."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(data_root / "MNIST" / "raw" / name, raw / name)
    monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path))
    return raw


def _broken(raw, name, content: bytes):
    (raw / name).unlink()
    (raw / name).write_bytes(content)
    with pytest.raises(data.DataFileError) as err:
        data.mnist("test")  # download=True: files that are there are never re-downloaded
    message = str(err.value)
    assert str(raw / name) in message and "Delete it" in message and "DRAWJOURNEY_DATA" in message
    assert "not found" not in message
    return message


def test_truncated_images_file_names_it_and_the_sizes(copied_test_split):
    good = (copied_test_split / "t10k-images-idx3-ubyte").read_bytes()
    message = _broken(copied_test_split, "t10k-images-idx3-ubyte", good[:5000])
    assert "truncated: expected 7840016 bytes, got 5000" in message


def test_truncated_labels_file(copied_test_split):
    good = (copied_test_split / "t10k-labels-idx1-ubyte").read_bytes()
    message = _broken(copied_test_split, "t10k-labels-idx1-ubyte", good[:-1])
    assert "truncated: expected 10008 bytes, got 10007" in message


def test_file_with_wrong_magic_number(copied_test_split):
    message = _broken(copied_test_split, "t10k-images-idx3-ubyte", b"<html>proxy login</html>")
    assert "wrong magic number" in message and "0x00000803" in message


def test_file_with_wrong_header_shape(copied_test_split):
    good = (copied_test_split / "t10k-images-idx3-ubyte").read_bytes()
    bad = good[:4] + (5000).to_bytes(4, "big") + good[8:]
    assert "header says shape (5000, 28, 28), expected (10000, 28, 28)" in _broken(
        copied_test_split, "t10k-images-idx3-ubyte", bad)


def test_unreadable_file(copied_test_split):
    (copied_test_split / "t10k-labels-idx1-ubyte").unlink()
    (copied_test_split / "t10k-labels-idx1-ubyte").mkdir()
    with pytest.raises(data.DataFileError, match="t10k-labels-idx1-ubyte is broken: it cannot be read"):
        data.mnist("test")


def test_gzipped_files_load_and_truncated_gz_is_reported(copied_test_split, test28):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = copied_test_split / name
        path.with_name(name + ".gz").write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
        path.unlink()
    assert torch.equal(data.mnist("test", download=False).images, test28.images)
    gz = copied_test_split / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:100])
    data._read.cache_clear()  # the same paths were read, intact, above
    with pytest.raises(data.DataFileError, match="labels-idx1-ubyte.gz is broken: it cannot be read"):
        data.mnist("test", download=False)


@pytest.fixture(scope="module")
def small(test28):
    return test28.subset(100)


def _by_hand(**changes):
    fields = {"images": torch.rand(4, 1, 16, 16), "labels": torch.tensor([0, 1, 2, 9]),
              "name": "mine", "split": "train"}
    fields.update(changes)
    return data.ImageData(**fields)


BAD_INPUTS = {
    # load / mnist / fashion_mnist
    "split val": (lambda s: data.mnist(split="val"), ValueError, r"split='val'.*use one of"),
    "split int": (lambda s: data.mnist(split=0), ValueError, r"split=0.*use one of"),
    "size 32": (lambda s: data.mnist(size=32), ValueError, r"size=32.*\[16, 28\]"),
    "size float": (lambda s: data.mnist(size=28.0), ValueError, r"size=28.0.*use one of"),
    "size str": (lambda s: data.mnist(size="28"), ValueError, r"size='28'"),
    "size bool": (lambda s: data.mnist(size=True), ValueError, r"size=True"),
    "binarize yes": (lambda s: data.mnist(binarize="yes"), ValueError, r"binarize='yes'.*static"),
    "binarize bool": (lambda s: data.mnist(binarize=True), ValueError, r"binarize=True"),
    "name": (lambda s: data.load("kmnist"), ValueError, r"name='kmnist'.*fashion"),
    "device gpu": (lambda s: data.mnist(device="gpu"), ValueError, r"device='gpu'"),
    "device int": (lambda s: data.fashion_mnist(device=3), ValueError, r"device=3"),
    "download str": (lambda s: data.mnist(download="no"), TypeError, r"download must be True or False"),
    # batches
    "batch_size float": (lambda s: data.batches(s, 2.5), TypeError, r"batch_size must be an int, got 2.5"),
    "batch_size str": (lambda s: data.batches(s, "64"), TypeError, r"batch_size must be an int, got '64'"),
    "batch_size bool": (lambda s: data.batches(s, True), TypeError, r"batch_size must be an int"),
    "batch_size 0": (lambda s: data.batches(s, 0), ValueError, r"batch_size must be positive"),
    "batch_size negative": (lambda s: data.batches(s, -3), ValueError, r"batch_size must be positive"),
    "batch_size too big": (lambda s: data.batches(s, 101), ValueError, r"batch_size=101 is larger"),
    "seed float": (lambda s: data.batches(s, 10, seed=1.5), TypeError, r"seed must be an int"),
    "seed bool": (lambda s: data.batches(s, 10, seed=True), TypeError, r"seed must be an int"),
    "seed negative": (lambda s: data.batches(s, 10, seed=-1), ValueError, r"seed must be a non-negative"),
    "shuffle str": (lambda s: data.batches(s, 10, shuffle="no"), TypeError, r"shuffle must be True or False"),
    "drop_last int": (lambda s: data.batches(s, 10, drop_last=1), TypeError, r"drop_last must be True or False"),
    "data tensor": (lambda s: data.batches(s.images, 10), TypeError, r"data must be an ImageData"),
    "data None": (lambda s: data.Batches(None), TypeError, r"data must be an ImageData"),
    # subset
    "subset float": (lambda s: s.subset(2.5), TypeError, r"subset size n must be an int"),
    "subset str": (lambda s: s.subset("3"), TypeError, r"subset size n must be an int"),
    "subset bool": (lambda s: s.subset(True), TypeError, r"subset size n must be an int"),
    "subset 0": (lambda s: s.subset(0), ValueError, r"n=0 must be between 1 and 100"),
    "subset too big": (lambda s: s.subset(101), ValueError, r"n=101 must be between 1 and 100"),
    # take
    "take float": (lambda s: s.take(2.5), TypeError, r"index must be a slice, an int"),
    "take str": (lambda s: s.take("3"), TypeError, r"index must be a slice.*'3'"),
    "take None": (lambda s: s.take(None), TypeError, r"index must be a slice.*None"),
    "take past the end": (lambda s: s.take(100), IndexError, r"index 100 is out of range for 100"),
    "take before the start": (lambda s: s.take(-101), IndexError, r"index -101 is out of range"),
    "take list out of range": (lambda s: s.take([0, 100]), IndexError, r"index 100 is out of range"),
    "take float tensor": (lambda s: s.take(torch.tensor([0.0, 1.0])), TypeError, r"index must be"),
    "take NaN": (lambda s: s.take(float("nan")), TypeError, r"index must be.*nan"),
    "take 2-D": (lambda s: s.take(torch.zeros(2, 2, dtype=torch.long)), ValueError, r"1-D"),
    "take short mask": (lambda s: s.take(torch.ones(5, dtype=torch.bool)), ValueError, r"mask of shape \(100,\)"),
    "take bool": (lambda s: s.take(True), ValueError, r"mask of shape"),
    "take slice float": (lambda s: s.take(slice(0, 2.5)), TypeError, r"slice stop must be an int"),
    "take slice step": (lambda s: s.take(slice(None, None, -1)), ValueError, r"step must be positive"),
    "take slice outside": (lambda s: s.take(slice(0, 500)), IndexError, r"reaches outside the 100"),
    "take generator": (lambda s: s.take(slice(0, 2), "seed"), TypeError, r"generator must be"),
    # to
    "to tpu": (lambda s: s.to("tpu"), ValueError, r"device='tpu'"),
    "to gpu": (lambda s: s.to("gpu"), ValueError, r"device='gpu'"),
    # ImageData built by hand
    "images numpy": (lambda s: _by_hand(images=np.zeros((4, 1, 16, 16), np.float32)), TypeError,
                     r"images must be a torch.Tensor"),
    "images uint8": (lambda s: _by_hand(images=torch.zeros(4, 1, 16, 16, dtype=torch.uint8)),
                     TypeError, r"images must be torch.float32, got torch.uint8"),
    "images 3-D": (lambda s: _by_hand(images=torch.rand(4, 16, 16)), ValueError, r"\(N, 1, H, H\)"),
    "images RGB": (lambda s: _by_hand(images=torch.rand(4, 3, 16, 16)), ValueError, r"\(N, 1, H, H\)"),
    "images not square": (lambda s: _by_hand(images=torch.rand(4, 1, 16, 8)), ValueError, r"\(N, 1, H, H\)"),
    "images empty": (lambda s: _by_hand(images=torch.rand(0, 1, 16, 16), labels=torch.zeros(0, dtype=torch.long)),
                     ValueError, r"N >= 1"),
    "images NaN": (lambda s: _by_hand(images=torch.full((4, 1, 16, 16), float("nan"))), ValueError, r"no NaN"),
    "images 0-255": (lambda s: _by_hand(images=torch.rand(4, 1, 16, 16) * 255), ValueError, r"\[0, 1\]"),
    "labels float": (lambda s: _by_hand(labels=torch.zeros(4)), TypeError, r"labels must be torch.int64"),
    "labels list": (lambda s: _by_hand(labels=[0, 1, 2, 3]), TypeError, r"labels must be a torch.Tensor"),
    "labels short": (lambda s: _by_hand(labels=torch.zeros(3, dtype=torch.long)), ValueError, r"labels must have shape \(4,\)"),
    "labels device": (lambda s: _by_hand(labels=torch.zeros(4, dtype=torch.long, device="meta")),
                      ValueError, r"labels are on meta but images on cpu"),
    "labels 10 of 10 classes": (lambda s: _by_hand(labels=torch.tensor([0, 1, 2, 10])), ValueError,
                                r"labels must lie in \[0, 10\)"),
    "labels negative": (lambda s: _by_hand(labels=torch.tensor([0, 1, 2, -1])), ValueError, r"labels must lie"),
    "binarize by hand": (lambda s: _by_hand(binarize="yes"), ValueError, r"binarize='yes'"),
    "name int": (lambda s: _by_hand(name=3), TypeError, r"name must be a str"),
    "classes str": (lambda s: _by_hand(classes="0123456789"), TypeError, r"classes must be a non-empty tuple"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_clear_error(small, case):
    call, error, match = BAD_INPUTS[case]
    with pytest.raises(error, match=match):
        call(small)


def test_good_indices_and_hand_built_data(small):
    assert small.take([])[0].shape == (0, 1, 28, 28)
    assert torch.equal(small.take(np.array([3, 1]))[1], small.labels[[3, 1]])
    assert torch.equal(small.take(-1)[0], small.images[99])
    mask = small.labels == small.labels[0]
    assert torch.equal(small.take(mask)[1], small.labels[mask])
    assert small.take(slice(90, 100))[0].shape == (10, 1, 28, 28)
    mine = _by_hand(classes=list("0123456789"))
    assert mine.classes == tuple("0123456789") and mine.size == 16
    assert len(mine.to("cpu")) == 4 and len(list(data.batches(mine, 2, seed=2**70))) == 2


def test_a_missing_split_downloads_through_torchvision_from_a_mirror(tmp_path, monkeypatch, data_root, test28):
    # What a learner on Colab or Binder gets on first use: an empty data folder, filled by
    # torchvision's MNIST download. The mirror is a local HTTP server serving gzipped copies
    # of the real files (this machine has no internet), with torchvision's checksums
    # replaced by theirs; everything after the URL is torchvision's own code path.
    import functools
    import hashlib
    import http.server
    import threading

    from torchvision import datasets

    served = tmp_path / "mirror"
    served.mkdir()
    resources = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        gz = served / f"{name}.gz"
        gz.write_bytes(gzip.compress((data_root / "MNIST" / "raw" / name).read_bytes(), compresslevel=1, mtime=0))
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
        monkeypatch.setattr(datasets.MNIST, "resources", resources)
        monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path / "empty"))
        with pytest.raises(data.DataNotFoundError):
            data.mnist("test", download=False)         # nothing there yet
        downloaded = data.mnist("test")                 # download=True, the default
    finally:
        server.shutdown()
        server.server_close()
    assert torch.equal(downloaded.images, test28.images) and torch.equal(downloaded.labels, test28.labels)
    assert (tmp_path / "empty" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
