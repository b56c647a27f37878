import pytest
import torch

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


def test_offline_without_files_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAWJOURNEY_DATA", str(tmp_path))
    data._grey.cache_clear()
    try:
        with pytest.raises(data.DataNotFoundError) as err:
            data.mnist("test", download=False)
    finally:
        data._grey.cache_clear()
    message = str(err.value)
    assert "DRAWJOURNEY_DATA" in message
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path) in message


def test_bad_batch_size(test28):
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(test28.subset(10), 64)
