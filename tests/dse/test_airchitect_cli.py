"""``tessera airchitect generate | train | predict`` in a temporary folder, and their errors."""

import json

import pytest
from click.testing import CliRunner

from tessera.dse.airchitect import load_dataset, load_model
from tessera.dse.airchitect.cli import airchitect


def run(*args):
    return CliRunner().invoke(airchitect, [str(a) for a in args])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("airchitect")
    data, model = root / "data", root / "model"
    result = run("generate", "--case", 3, "--samples", 800, "--seed", 1, "--out", data, "--quiet")
    assert result.exit_code == 0, result.output
    result = run("train", "--data", data, "--out", model, "--epochs", 3, "--batch-size", 64, "--json")
    assert result.exit_code == 0, result.output
    return data, model, json.loads(result.output)


def test_generate_writes_a_dataset(folders):
    data, _, _ = folders
    dataset = load_dataset(data)
    assert (dataset.case, dataset.seed, len(dataset)) == (3, 1, 800)


def test_train_reports_and_saves(folders):
    _, model, report = folders
    assert (report["case"], report["train_workloads"], report["test_workloads"]) == (3, 640, 160)
    assert 0 < report["mlp"]["performance_fraction"] <= 1
    assert load_model(model).config.epochs == 3


def test_predict_json(folders):
    _, model, _ = folders
    result = run("predict", "--model", model, "--gemm", "512,64,128", "--array", "32x16", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["inputs"] == {"m": 512, "n": 64, "k": 128, "rows": 32, "cols": 16}
    assert out["config"]["dataflow"] in ("os", "ws", "is")
    assert out["best_cycles"] <= out["total_cycles"]
    assert 0 < out["performance_fraction"] <= 1


def test_predict_text(folders):
    _, model, _ = folders
    result = run("predict", "--model", model, "--gemm", "512,64,128", "--array", "32x16")
    assert result.exit_code == 0, result.output
    assert "best by search" in result.output


def test_existing_output_needs_force(folders):
    data, model, _ = folders
    result = run("generate", "--case", 3, "--samples", 10, "--out", data, "--quiet")
    assert result.exit_code == 1 and "dataset.npz exists" in result.output
    result = run("train", "--data", data, "--out", model, "--epochs", 1)
    assert result.exit_code == 1 and "model.safetensors exists" in result.output


def test_force_overwrites(tmp_path):
    for samples in (30, 40):
        result = run("generate", "--case", 1, "--samples", samples, "--out", tmp_path, "--force", "--quiet")
        assert result.exit_code == 0, result.output
    assert len(load_dataset(tmp_path)) == 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "--case", 4, "--samples", 10), "unknown case 4"),
        (("generate", "--case", 1, "--samples", 0), "number of samples must be a positive integer"),
        (("generate", "--case", 1, "--samples", 10, "--max-dim", -1), "max_dim must be a positive integer"),
    ],
)
def test_generate_errors(tmp_path, args, message):
    result = run(*args, "--out", tmp_path / "d", "--quiet")
    assert result.exit_code == 1 and message in result.output


def test_train_on_a_missing_folder(tmp_path):
    result = run("train", "--data", tmp_path / "none", "--out", tmp_path / "m")
    assert result.exit_code == 1 and "is not a folder holding an AIRCHITECT dataset" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gemm", "0,4,4", "--array", "8x8"), "input m must be positive"),
        (("--gemm", "4,4", "--array", "8x8"), "expected three integers M,N,K"),
        (("--gemm", "4,4,4", "--array", "8by8"), "expected ROWSxCOLS"),
        (("--gemm", "4,4,4", "--array", "8x12"), "input cols 12 is not one of"),
        (("--gemm", "4,4,4"), "case 3 needs the array"),
        (("--gemm", "4,4,4", "--budget", 64), "case 3 has no budget"),
    ],
)
def test_predict_errors(folders, args, message):
    _, model, _ = folders
    result = run("predict", "--model", model, *args)
    assert result.exit_code != 0 and message in result.output


def test_predict_with_a_missing_model(tmp_path):
    result = run("predict", "--model", tmp_path, "--gemm", "4,4,4", "--budget", 64)
    assert result.exit_code == 1 and "model.json is missing" in result.output


def test_every_command_has_help():
    for name, command in airchitect.commands.items():
        assert command.help, f"'airchitect {name}' has no help text"
