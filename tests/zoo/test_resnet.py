"""CIFAR-10 binary batches and the pretrained CIFAR ResNets."""

import pickle

import pytest
import torch
from tests.zoo.metric_checks import assert_metric_near

from tessera.zoo import FileFormatError, cifar, get_model, resnet
from tessera.zoo.checkpoint import load_state_dict

pytestmark = pytest.mark.data

RESNET20_FIRST_1000_TOP1_PCT = 80.4  # measured: 100 images of each class (full test set: 81.03)


def test_test_batch_is_sorted_by_class_and_balanced(data_dir):
    images, labels = cifar.load_cifar10(data_dir, "test")
    assert images.shape == (10000, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.bincount().tolist() == [1000] * 10
    assert torch.equal(labels, labels.sort().values)


def test_training_batches_mix_classes(data_dir):
    images, labels = cifar.load_cifar10(data_dir, "train")
    assert images.shape == (20000, 3, 32, 32)
    assert int(labels.min()) == 0 and int(labels.max()) == 9
    assert len(labels[:20].unique()) > 5
    first, _ = cifar.load_cifar10(data_dir, "train", limit=5)
    assert torch.equal(first, images[:5])


def test_round_robin_order_visits_classes_in_turn():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    assert labels[cifar.round_robin_order(labels)].tolist() == [0, 1, 2, 0, 1, 0]
    assert cifar.round_robin_order(labels).tolist() == [0, 3, 5, 1, 4, 2]


def test_cifar_file_of_wrong_size_is_named(tmp_path):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(bytes(3073 * 2 + 17))
    with pytest.raises(FileFormatError, match=r"test_batch\.bin: size 6163 bytes is not a positive multiple"):
        cifar.read_cifar_batch(path)


@pytest.mark.parametrize(("depth", "parameters"), [(20, 269722), (32, 464154), (44, 658586), (56, 853018)])
def test_architecture_matches_the_paper(depth, parameters):
    model = resnet.CifarResNet(depth)
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).reshape(2, 16, 4, 4)
    out = resnet.PadShortcut(16, 32, 2)(x)
    assert out.shape == (2, 32, 2, 2)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()


def test_resnet20_accuracy_on_a_balanced_subset(data_dir):
    spec = get_model("resnet20")
    model = spec.build(data_dir)
    assert not model.training
    value = spec.evaluate(model, data_dir, limit=1000)
    assert_metric_near("resnet20 top1_pct (first 1000)", value, RESNET20_FIRST_1000_TOP1_PCT, 0.2)


def test_calibration_batches_are_normalised_training_images(data_dir):
    batches = get_model("resnet56").calibration(data_dir, n_samples=128, batch_size=32)
    assert [tuple(b.shape) for b in batches] == [(32, 3, 32, 32)] * 4
    images, _ = cifar.load_cifar10(data_dir, "train", limit=128)
    assert torch.allclose(torch.cat(batches), cifar.normalise(images))


def _copy(data_dir, tmp_path, name, keep_bytes=None):
    raw = next((data_dir / "resnet-cifar10").glob("resnet20-*.th")).read_bytes()
    path = tmp_path / name
    path.write_bytes(raw[:keep_bytes])
    return path


def test_checkpoint_with_wrong_hash_is_named(data_dir, tmp_path):
    path = _copy(data_dir, tmp_path, "resnet20-12fca82f.th", keep_bytes=-10)
    with pytest.raises(FileFormatError, match=r"resnet20-12fca82f\.th: corrupted or modified: its SHA-256"):
        load_state_dict(path)


def test_truncated_checkpoint_is_named(data_dir, tmp_path):
    path = _copy(data_dir, tmp_path, "resnet20.th", keep_bytes=50000)
    with pytest.raises(FileFormatError, match=r"resnet20\.th: corrupted or truncated checkpoint"):
        load_state_dict(path)


class _Payload:
    """Unpickling this would create a file: the loader must refuse it, not run it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (self.target.touch, ())


def test_pickled_objects_are_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.th"
    path.write_bytes(pickle.dumps({"state_dict": {"conv1.weight": _Payload(marker)}}, protocol=2))
    with pytest.raises(FileFormatError, match=r"evil\.th: not a plain tensor checkpoint"):
        load_state_dict(path)
    assert not marker.exists()


def test_checkpoint_for_another_architecture_is_named(data_dir, tmp_path):
    folder = tmp_path / "resnet-cifar10"
    folder.mkdir()
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(16, 3, 3, 3)}}, folder / "resnet20-x.th")
    with pytest.raises(FileFormatError, match=r"resnet20-x\.th: weights do not fit ResNet-20"):
        resnet.pretrained_resnet(20, tmp_path)
