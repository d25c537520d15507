"""The embedding + MLP classifier: it learns (beats the majority class, reaches most of the best
performance on a small dataset), trains deterministically, predicts only allowed configurations and
round-trips through its files."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tessera.dse.airchitect import (
    MajorityClass,
    TrainConfig,
    generate,
    get_space,
    load_model,
    save_model,
    score,
    train,
)

# Small problems: 2,500 workloads with M, N, K up to 64, settings for small data
SMALL = TrainConfig(buckets_per_octave=8, coarse_buckets_per_octave=1, epochs=40, batch_size=64)


@pytest.fixture(scope="module")
def case1():
    return generate(1, 2500, seed=0, max_dim=64).split(0.2, seed=0)


@pytest.mark.parametrize("case", [1, 3])
def test_classifier_learns_a_small_problem(case, case1):
    train_set, test_set = case1 if case == 1 else generate(3, 2500, seed=0, max_dim=64).split(0.2, seed=0)
    mlp = score(test_set, train(train_set, SMALL).predict(test_set.inputs))
    majority = score(test_set, MajorityClass().fit(train_set).predict(test_set.inputs))
    assert mlp.accuracy > majority.accuracy + 0.1, f"MLP {mlp.accuracy:.3f}, majority {majority.accuracy:.3f}"
    assert mlp.performance_fraction > 0.95, f"performance fraction {mlp.performance_fraction:.4f}"


def test_training_is_deterministic(case1):
    config = TrainConfig(epochs=2, seed=3)
    a, b = train(case1[0], config), train(case1[0], config)
    for (name, x), (_, y) in zip(a.network.state_dict().items(), b.network.state_dict().items()):
        assert torch.equal(x, y), f"{name} differs between two runs with one seed"
    c = train(case1[0], TrainConfig(epochs=2, seed=4))
    assert not torch.equal(a.network.mlp[0].weight, c.network.mlp[0].weight)


def test_training_keeps_the_global_rng_and_threads(case1):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(case1[0], TrainConfig(epochs=1), threads=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_progress_once_per_epoch(case1):
    seen = []
    train(case1[0], TrainConfig(epochs=3), progress=lambda e, n, loss: seen.append((e, n, loss)))
    assert [(e, n) for e, n, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(np.isfinite(loss) for *_, loss in seen)


def test_predictions_stay_within_the_budget(case1):
    model = train(case1[0], TrainConfig(epochs=1))
    space = get_space(1)
    # large GEMMs on every budget: the unmasked argmax would often pick another budget's array
    x = space.check(
        {"m": [4096] * 8, "n": [1] * 8, "k": [4096] * 8, "mac_budget": list(space.features[3].choices)}
    )
    predicted = model.predict(x)
    assert np.array_equal(space.configs["mac_budget"][predicted], x["mac_budget"])
    ranked = model.ranked(x, 40)  # more than any budget allows: the best one fills the rest
    assert space.feasible(x)[np.arange(8)[:, None], ranked].all()
    assert np.array_equal(ranked[:, 0], predicted)


def test_inputs_beyond_the_range_share_the_last_bucket(case1):
    model = train(case1[0], TrainConfig(epochs=1))
    big = {"m": [4096, 100_000], "n": [7, 7], "k": [7, 7], "mac_budget": [64, 64]}
    assert np.allclose(model.scores(big)[0], model.scores(big)[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"hidden": ()}, "hidden must be positive layer widths"),
        ({"coarse_buckets_per_octave": -1}, "coarse_buckets_per_octave must be 0 or more"),
        ({"learning_rate": 0.0}, "learning_rate must be positive"),
    ],
)
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


@pytest.fixture(scope="module")
def small_model(case1):
    return train(case1[0], TrainConfig(epochs=2, coarse_buckets_per_octave=0, hidden=(32,)))


def test_save_load_round_trip(tmp_path, small_model, case1):
    save_model(small_model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config == small_model.config and loaded.case == 1
    assert loaded.record == small_model.record
    test = case1[1].inputs
    assert np.array_equal(loaded.scores(test), small_model.scores(test))
    with pytest.raises(FileExistsError, match="exists"):
        save_model(small_model, tmp_path / "m")
    save_model(small_model, tmp_path / "m", force=True)


@pytest.fixture
def saved(tmp_path, small_model):
    save_model(small_model, tmp_path)
    return tmp_path


def test_missing_files(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="is not a folder holding an AIRCHITECT model"):
        load_model(tmp_path / "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors is missing"):
        load_model(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["config"].update(depth=3), "field 'config': unknown key 'depth'"),
        (lambda m: m["config"].pop("seed"), "field 'config': missing key 'seed'"),
        (lambda m: m["config"].update(hidden=[64]), "tensor 'mlp.0.weight' has shape"),
        (lambda m: m.update(case=2), "field 'space'.*different definition of case 2"),
        (lambda m: m.pop("record"), "missing key 'record'"),
    ],
)
def test_malformed_metadata(saved, edit, message):
    meta = json.loads((saved / "model.json").read_text())
    edit(meta)
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        load_model(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("mlp.2.bias"), "missing tensor 'mlp.2.bias'"),
        (lambda s: s.update(extra=torch.zeros(1)), "unexpected tensor 'extra'"),
        (lambda s: s.update({"fine.0.weight": torch.zeros(2, 2)}), "tensor 'fine.0.weight' has shape"),
    ],
)
def test_malformed_weights(saved, edit, message):
    state = load_file(str(saved / "model.safetensors"))
    edit(state)
    save_file(state, str(saved / "model.safetensors"))
    with pytest.raises(ValueError, match=message) as info:
        load_model(saved)
    assert "model.safetensors" in str(info.value)


def test_unreadable_weights(saved):
    (saved / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file"):
        load_model(saved)
