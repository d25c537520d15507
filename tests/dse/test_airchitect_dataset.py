"""Labels equal a brute-force search with the scalar cost model; datasets are seeded and round-trip
through their files; malformed files give errors that name the file and key."""

import json

import numpy as np
import pytest

from tessera.dse.airchitect import (
    SPACES,
    Dataset,
    generate,
    get_space,
    label,
    label_reference,
    load_dataset,
    save_dataset,
)

# A few hundred random workloads per case (fewer for case 2: up to 512 configurations each), plus tiny
# GEMMs, where many configurations reach the same cycles and the tie-breaking rule decides.
WORKLOADS = {1: 300, 2: 150, 3: 300}


def _with_ties(case: int, x: dict) -> dict:
    space = get_space(case)
    tiny = space.sample(30, seed=99, max_dim=2)
    return {name: np.concatenate([x[name], tiny[name]]) for name in x}


@pytest.mark.parametrize("case", sorted(SPACES))
def test_labels_equal_brute_force_over_the_scalar_model(case):
    space = get_space(case)
    x = _with_ties(case, space.sample(WORKLOADS[case], seed=case))
    labels, best = label(space, x)
    ref_labels, ref_best = label_reference(space, x)
    assert np.array_equal(best, ref_best), "best total cycles differ"
    assert np.array_equal(labels, ref_labels), "labels (tie-breaking) differ"


def test_tie_breaking_rules():
    # case 2, a GEMM that never stalls: every buffer split reaches the same cycles; the least SRAM wins
    space = get_space(2)
    x = {"m": [1], "n": [1], "k": [1], "sram_budget_kb": [512]}
    assert space.describe(int(label(space, x)[0][0])) == {"ifmap_kb": 1, "filter_kb": 1, "ofmap_kb": 1}
    # case 3, a square array and M = N: os and os transposed tie in everything; the lower id wins
    space = get_space(3)
    x = space.check({"m": [40], "n": [40], "k": [40], "rows": [16], "cols": [16]})
    both = space.cost_pairs({name: np.repeat(v, 2) for name, v in x.items()}, np.array([0, 1]))
    assert both.total_cycles[0] == both.total_cycles[1]
    assert label(space, x)[0][0] != 1


def test_progress_reports_every_workload():
    calls = []
    label(
        get_space(2), get_space(2).sample(3000, 0), progress=lambda done, total: calls.append((done, total))
    )
    assert len(calls) > 1 and calls[-1] == (3000, 3000)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("case", sorted(SPACES))
def test_generation_is_deterministic_by_seed(case):
    a, b, c = generate(case, 400, seed=5), generate(case, 400, seed=5), generate(case, 400, seed=6)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.best_cycles, b.best_cycles)
    assert all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    assert not all(np.array_equal(a.inputs[k], c.inputs[k]) for k in a.inputs)


def test_generate_rejects_bad_sizes():
    with pytest.raises(ValueError, match="number of samples must be a positive integer"):
        generate(1, 0)
    with pytest.raises(ValueError, match="max_dim must be a positive integer"):
        generate(1, 10, max_dim=0)
    with pytest.raises(ValueError, match="unknown case 7"):
        generate(7, 10)


def test_split_is_seeded_and_disjoint():
    data = generate(3, 1000, seed=0)
    train, test = data.split(0.25, seed=1)
    again, _ = data.split(0.25, seed=1)
    assert len(train) == 750 and len(test) == 250
    assert np.array_equal(train.labels, again.labels)
    rows = lambda d: sorted(zip(*(d.inputs[n].tolist() for n in d.inputs), d.labels.tolist()))  # noqa: E731
    assert sorted(rows(train) + rows(test)) == rows(data)
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.split(1.0)


def _equal(a: Dataset, b: Dataset) -> bool:
    return (
        (a.case, a.seed, a.max_dim) == (b.case, b.seed, b.max_dim)
        and np.array_equal(a.labels, b.labels)
        and np.array_equal(a.best_cycles, b.best_cycles)
        and a.inputs.keys() == b.inputs.keys()
        and all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    )


@pytest.mark.parametrize("case", sorted(SPACES))
def test_save_load_round_trip(tmp_path, case):
    data = generate(case, 300, seed=2, max_dim=512)
    save_dataset(data, tmp_path / "d")
    assert _equal(load_dataset(tmp_path / "d"), data)


def test_existing_dataset_is_kept_unless_forced(tmp_path):
    data = generate(1, 50, seed=0)
    save_dataset(data, tmp_path)
    other = generate(1, 60, seed=1)
    with pytest.raises(FileExistsError, match=r"dataset\.npz exists"):
        save_dataset(other, tmp_path)
    assert len(load_dataset(tmp_path)) == 50
    save_dataset(other, tmp_path, force=True)
    assert len(load_dataset(tmp_path)) == 60


@pytest.fixture
def saved(tmp_path):
    save_dataset(generate(1, 50, seed=0), tmp_path)
    return tmp_path


def _edit_meta(folder, edit):
    meta = json.loads((folder / "dataset.json").read_text())
    edit(meta)
    (folder / "dataset.json").write_text(json.dumps(meta))


def _rewrite_npz(folder, edit):
    with np.load(folder / "dataset.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    edit(arrays)
    np.savez(folder / "dataset.npz", **arrays)


def test_missing_folder_and_files(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_dataset(tmp_path / "nowhere")
    (saved / "dataset.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"dataset\.npz is missing"):
        load_dataset(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(extra=1), "unknown key 'extra'"),
        (lambda m: m.pop("seed"), "missing key 'seed'"),
        (lambda m: m.update(case=9), "field 'case'.*unknown case 9"),
        (lambda m: m.update(schema_version=99), "field 'schema_version'"),
        (lambda m: m.update(kind="something else"), "field 'kind'"),
        (lambda m: m["space"]["settings"].update(buffer_kb=32.0), "field 'space'.*different definition"),
        (lambda m: m.update(samples=49), "array 'm' must hold 49 integers"),
    ],
)
def test_malformed_metadata_names_the_key(saved, edit, message):
    _edit_meta(saved, edit)
    with pytest.raises(ValueError, match=message) as info:
        load_dataset(saved)
    assert "dataset.json" in str(info.value) or "dataset.npz" in str(info.value)


def test_duplicate_key_and_bad_json(saved):
    text = (saved / "dataset.json").read_text()
    (saved / "dataset.json").write_text(text.replace('"seed": 0', '"seed": 0, "seed": 1'))
    with pytest.raises(ValueError, match=r"dataset\.json: duplicate key 'seed'"):
        load_dataset(saved)
    (saved / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"dataset\.json: not valid JSON"):
        load_dataset(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("best_cycles"), "missing array 'best_cycles'"),
        (lambda a: a.update(bonus=np.zeros(50, dtype=np.int64)), "unexpected array 'bonus'"),
        (lambda a: a.update(label=np.full(50, 999)), "array 'label' holds ids outside 0..179"),
        (lambda a: a.update(k=np.zeros(50, dtype=np.int64)), "dataset.npz: input k must be positive"),
        (lambda a: a.update(m=np.ones(50) / 2), "array 'm' must hold 50 integers"),
    ],
)
def test_malformed_arrays_name_the_array(saved, edit, message):
    _rewrite_npz(saved, edit)
    with pytest.raises(ValueError, match=message):
        load_dataset(saved)


def test_unreadable_npz(saved):
    (saved / "dataset.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"dataset\.npz: not a readable \.npz"):
        load_dataset(saved)
