"""The command line, run as a user would."""

import json
import subprocess
import sys

from click.testing import CliRunner

from tessera.cli import main
from tessera.formats import format_names


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_formats_table_lists_every_named_format():
    result = run("formats")
    assert result.exit_code == 0
    for name in format_names():
        assert name in result.output
    assert "2^-9" in result.output  # e4m3's min subnormal


def test_formats_one_name_as_json():
    result = run("formats", "mxfp4", "--json")
    props = json.loads(result.output)
    assert (props["element"], props["scale"], props["block_size"], props["bits_per_element"]) == (
        "e2m1",
        "e8m0",
        32,
        4.25,
    )


def test_formats_accepts_generic_names():
    assert "e3m4" in run("formats", "e3m4").output


def test_unknown_format_is_a_usage_error_listing_valid_names():
    result = run("formats", "mxfp5")
    assert result.exit_code == 2
    assert "unknown format 'mxfp5'" in result.output and "nvfp4" in result.output


def test_demo_reports_accuracy_per_format():
    result = run("demo", "--formats", "mxint8,mxfp4", "--json")
    report = json.loads(result.output)
    assert report["test_images"] == 450 and report["fp32_accuracy_pct"] > 95
    rows = {r["format"]: r for r in report["results"]}
    assert rows["mxint8"]["weight_sqnr_db"] > rows["mxfp4"]["weight_sqnr_db"] > 10
    assert abs(rows["mxint8"]["accuracy_weights_pct"] - report["fp32_accuracy_pct"]) < 1.0


def test_demo_rejects_unknown_formats_before_training():
    result = run("demo", "--formats", "mxfp4,bogus")
    assert result.exit_code == 2 and "unknown format 'bogus'" in result.output


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "formats", "nvfp4"], capture_output=True, text=True, check=True
    )
    assert "nvfp4" in out.stdout


def test_quantize_saves_and_eval_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "q"
    result = run("quantize", "--model", "digits-cnn", "--weights", "mxfp6_e2m3", "--out", str(out), "--json")
    run_info = json.loads(result.output)
    assert {"model", "metric", "fp32", "quantized", "method", "seconds"} <= set(run_info)
    assert run_info["fp32"] > 95 and abs(run_info["quantized"] - run_info["fp32"]) < 1.5
    evaluated = json.loads(run("eval", "--saved", str(out), "--json").output)
    assert evaluated["value"] == run_info["quantized"]
    again = run("quantize", "--model", "digits-cnn", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output


def test_quantize_unknown_model_lists_models():
    result = run("quantize", "--model", "resnet18", "--weights", "mxfp4")
    assert (
        result.exit_code == 2 and "unknown model 'resnet18'" in result.output and "resnet20" in result.output
    )


def test_workload_prints_ops_and_writes_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path / "cache"))
    table = run("workload", "digits-cnn")
    assert table.exit_code == 0 and "conv2d" in table.output and "MACs" in table.output
    out, topology = tmp_path / "w.yaml", tmp_path / "convs.csv"
    saved = run("workload", "digits-cnn", "--out", str(out), "--scalesim-conv", str(topology))
    assert saved.exit_code == 0 and out.exists()
    assert topology.read_text().startswith("Layer name, IFMAP Height")
    as_json = json.loads(run("workload", "digits-cnn", "--json").output)
    assert {op["kind"] for op in as_json["ops"]} >= {"conv2d", "gemm"}


def test_workload_unknown_model_lists_models():
    result = run("workload", "resnet18")
    assert result.exit_code == 2 and "resnet20" in result.output


def test_simulate_model_prints_layers_and_totals_as_json(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path / "cache"))
    result = run("simulate", "--model", "digits-cnn", "--rows", "8", "--cols", "8", "--json")
    report = json.loads(result.output)
    assert {"compute_cycles", "total_cycles", "stall_cycles", "utilization", "layers"} <= set(report)
    assert len(report["layers"]) == report["layer_count"] == 4
    assert report["compute_cycles"] == sum(layer["compute_cycles"] for layer in report["layers"])


def test_simulate_one_gemm_matches_the_published_formula():
    """32x32 weight stationary, M=49 K=1728 N=384: folds ceil(1728/32) * ceil(384/32) = 648,
    each 2*32 + 32 + 49 - 2 cycles, minus 1 (REFERENCES §4 formula)."""
    report = json.loads(run("simulate", "--gemm", "49,384,1728", "--json").output)
    assert report["compute_cycles"] == 648 * (2 * 32 + 32 + 49 - 2) - 1


def test_simulate_bad_input_names_the_field():
    assert "dataflow" in run("simulate", "--gemm", "4,4,4", "--dataflow", "xx").output
    assert "M,N,K" in run("simulate", "--gemm", "4,4").output
    assert "either --model" in run("simulate").output
