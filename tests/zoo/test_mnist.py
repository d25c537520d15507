"""MNIST's IDX files read by Tessera's own reader, and the LeNet trained on them."""

import gzip
import struct

import pytest
import torch

from tessera.zoo import FileFormatError, get_model, mnist
from tessera.zoo.idx import read_idx

pytestmark = pytest.mark.data


def test_official_files_have_the_official_shapes(data_dir):
    train_images, train_labels = mnist.load_mnist(data_dir, "train")
    test_images, test_labels = mnist.load_mnist(data_dir, "test")
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert train_images.dtype == torch.uint8 and train_labels.dtype == torch.int64
    assert torch.equal(train_labels.unique(), torch.arange(10))
    assert test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test digits
    normalised = mnist.normalise(train_images)
    assert abs(float(normalised.mean())) < 1e-3 and abs(float(normalised.std()) - 1) < 1e-3


def test_idx_round_trip_plain_and_gzip(tmp_path):
    values = torch.arange(24, dtype=torch.int32).reshape(2, 3, 4) - 5
    raw = bytes([0, 0, 0x0C, 3]) + struct.pack(">3I", 2, 3, 4) + values.numpy().astype(">i4").tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    for name in ("a.idx", "a.idx.gz"):
        assert torch.equal(read_idx(tmp_path / name), values)


def test_wrong_size_idx_file_is_named(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + bytes(100)))
    with pytest.raises(FileFormatError, match=r"images-idx3-ubyte\.gz: wrong size.*\(10, 28, 28\)"):
        read_idx(path)


def test_truncated_gzip_and_bad_magic_are_named(tmp_path, data_dir):
    truncated = tmp_path / "t10k-labels-idx1-ubyte.gz"
    truncated.write_bytes((data_dir / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes()[:2000])
    with pytest.raises(FileFormatError, match=r"t10k-labels-idx1-ubyte\.gz: corrupted or truncated gzip"):
        read_idx(truncated)
    text = tmp_path / "notes.idx"
    text.write_bytes(b"hello world")
    with pytest.raises(FileFormatError, match=r"notes\.idx: not an IDX file"):
        read_idx(text)


def test_lenet_learns_mnist_in_one_epoch(data_dir, cache_dir, monkeypatch):
    """The registered model end to end, with one epoch instead of three (~99.1 % after three)."""
    monkeypatch.setattr(mnist, "EPOCHS", 1)
    spec = get_model("mnist-lenet")
    model = spec.build(data_dir)
    assert len(list(cache_dir.glob("mnist-lenet-*.safetensors"))) == 1
    assert sum(p.numel() for p in model.parameters()) == 61706
    cached = spec.build(data_dir)
    assert torch.equal(cached[0].weight, model[0].weight)
    assert spec.evaluate(cached, data_dir, limit=2000) > 96.0


def test_calibration_comes_from_the_training_images(data_dir):
    batches = get_model("mnist-lenet").calibration(data_dir, n_samples=100, batch_size=64)
    assert [tuple(b.shape) for b in batches] == [(64, 1, 28, 28), (36, 1, 28, 28)]
    train_images, _ = mnist.load_mnist(data_dir, "train")
    assert torch.equal(batches[1][-1], mnist.normalise(train_images[99:100])[0])
