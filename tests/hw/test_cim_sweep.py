"""The CIM-Explorer flow on a real binary network and MNIST: rows, CSV, plots, CLI, errors."""

import csv
import json
import math

import pytest
from click.testing import CliRunner

from tessera.cli import main
from tessera.hw.cim import mappings_of_kind
from tessera.hw.cim.sweep import COLUMNS, SweepSpec, network_kind, plot, sweep, write_csv
from tessera.zoo import binary, get_model
from tessera.zoo.mnist import lenet

LIMIT = 300


@pytest.fixture(scope="module")
def small_bnn_cache(data_dir, tmp_path_factory):
    """mnist-bnn-small trained for one epoch in a fresh cache, kept for the module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setitem(binary.EPOCHS, "mnist-bnn-small", 1)
        get_model("mnist-bnn-small").build(data_dir)
        yield


@pytest.fixture(scope="module")
def rows(small_bnn_cache, data_dir):
    spec = SweepSpec(
        "mnist-bnn-small", sigmas_ua=(0.0, 16.0), adc_bits=(None, 2), rows=(128,), seeds=2, limit=LIMIT
    )
    return list(sweep(spec, data_dir))


def test_network_kinds():
    assert network_kind(binary.mlp((784, 100, 10), False)) == "integer"  # untrained: real weights
    assert network_kind(lenet()) == "integer"


def test_sweep_covers_the_grid_with_seeds_only_where_noise_is(rows):
    mappings = mappings_of_kind("binary")
    # per mapping: sigma 0 -> 2 ADC settings x 1 seed; sigma 16 -> 2 x 2 seeds
    assert len(rows) == len(mappings) * (2 + 4)
    assert {row["mapping"] for row in rows} == set(mappings)
    assert all(set(row) == set(COLUMNS) for row in rows)
    assert {(row["sigma_ua"], row["seed"]) for row in rows} == {(0.0, 0), (16.0, 0), (16.0, 1)}


def test_noise_free_ideal_readout_reproduces_the_digital_accuracy(rows):
    ideal = [row for row in rows if row["sigma_ua"] == 0 and row["adc_bits"] == "ideal"]
    assert len(ideal) == 4
    assert all(row["value"] == row["digital"] and row["delta"] == 0 for row in ideal)
    assert ideal[0]["digital"] > 80  # a trained network on real data


def test_crossbar_counts_follow_the_mapping(rows):
    """784-100-10 on 128 x 128 crossbars: 7 row tiles for 784 inputs (13 for the two-row mappings),
    1 for 100; columns 100 or 200, 10 or 20."""
    counts = {row["mapping"]: row["crossbars"] for row in rows}
    tiles = math.ceil
    assert counts["bnn-single-cell"] == tiles(784 / 128) * 1 + 1 * 1
    assert counts["bnn-differential"] == tiles(784 / 128) * 2 + 1 * 1
    assert counts["bnn-xnor"] == tiles(2 * 784 / 128) * 1 + tiles(200 / 128) * 1
    assert counts["bnn-4cell"] == tiles(2 * 784 / 128) * 2 + tiles(200 / 128) * 1


def test_heavy_noise_and_a_two_bit_adc_cost_accuracy(rows):
    worst = [row for row in rows if row["sigma_ua"] == 16.0 and row["adc_bits"] == 2]
    assert all(row["delta"] < 0 for row in worst)
    seeds = {(row["mapping"], row["adc_bits"]): set() for row in rows if row["sigma_ua"] == 16}
    for row in rows:
        if row["sigma_ua"] == 16:
            seeds[(row["mapping"], row["adc_bits"])].add(row["value"])
    assert any(len(values) > 1 for values in seeds.values())  # programmings differ


def test_csv_and_plots(rows, tmp_path):
    path = tmp_path / "sweep.csv"
    write_csv(rows, path)
    with path.open() as handle:
        read = list(csv.DictReader(handle))
    assert tuple(read[0]) == COLUMNS and len(read) == len(rows)
    written = plot(rows, tmp_path)
    assert {p.name for p in written} == {
        "accuracy_vs_sigma.png",
        "accuracy_vs_adc_bits_sigma0.png",
        "accuracy_vs_adc_bits_sigma16.png",
    }
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_cli_prints_json_rows_and_keeps_results(small_bnn_cache, data_dir, tmp_path):
    args = ["cim", "sweep", "--model", "mnist-bnn-small", "--mapping", "bnn-4cell", "--sigma", "0"]
    args += ["--adc-bits", "4", "--adc-mode", "calibrated", "--rows", "256", "--limit", "100"]
    args += ["--data-dir", str(data_dir)]
    result = CliRunner().invoke(main, [*args, "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["mapping"] == "bnn-4cell" and row["adc_mode"] == "calibrated"
    assert (tmp_path / "sweep.csv").exists()
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
    assert again.exit_code != 0 and "--force" in again.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--mapping", "bnn-magic", "valid: bnn-differential"),
        ("--sigma", "-1", "Crossbar.sigma_d2d_ua must be >= 0"),
        ("--adc-bits", "0", "Crossbar.adc_bits"),
        ("--rows", "0", "Crossbar.rows"),
        ("--adc-mode", "log", "not one of symmetric, positive, calibrated"),
        ("--sigma", "x", "expected comma-separated numbers"),
    ],
)
def test_cli_errors_name_the_problem(option, value, message):
    result = CliRunner().invoke(main, ["cim", "sweep", "--model", "mnist-bnn", option, value])
    assert result.exit_code != 0
    assert message in result.output


def test_a_real_valued_network_is_refused_by_binary_mappings(data_dir):
    result = CliRunner().invoke(
        main,
        ["cim", "sweep", "--model", "digits-cnn", "--mapping", "bnn-xnor", "--sigma", "0", "--limit", "10"],
    )
    assert result.exit_code != 0
    assert "needs weights in" in result.output
