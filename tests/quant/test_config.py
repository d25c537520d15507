"""QuantConfig: typed, strict, round-trips through JSON and YAML."""

import pytest

from tessera.quant import LayerRule, QuantConfig


def test_json_round_trip():
    config = QuantConfig(
        weights="mxfp4",
        activations="mxfp8_e4m3",
        method="gptq",
        rules=(
            LayerRule(pattern="classifier*", skip=True),
            LayerRule(pattern="*", types=("conv2d",), weights="mxint8"),
        ),
        smoothquant=0.5,
        attention="mxfp8_e4m3",
    )
    assert QuantConfig.from_json(config.to_json()) == config


def test_yaml_file(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(
        "weights: nvfp4\nmethod: ed\ned:\n  variant: inter\nrules:\n  - pattern: 'fc*'\n    weights: mxint8\n"
    )
    config = QuantConfig.from_file(path)
    assert (config.weights, config.method, config.ed.variant, config.rules[0].weights) == (
        "nvfp4",
        "ed",
        "inter",
        "mxint8",
    )


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="unknown key 'weight' in config"):
        QuantConfig.from_dict({"weight": "mxfp4"})
    with pytest.raises(ValueError, match=r"unknown key 'blocksize' in gptq"):
        QuantConfig.from_dict({"gptq": {"blocksize": 64}})
    with pytest.raises(ValueError, match=r"unknown key 'fmt' in rules\[0\]"):
        QuantConfig.from_dict({"rules": [{"fmt": "mxfp4"}]})


def test_duplicate_keys_are_errors(tmp_path):
    with pytest.raises(ValueError, match="duplicate key 'method'"):
        QuantConfig.from_json('{"method": "rtn", "method": "gptq"}')
    path = tmp_path / "dup.yaml"
    path.write_text("weights: mxfp4\nweights: mxint8\n")
    with pytest.raises(ValueError, match="duplicate key 'weights'"):
        QuantConfig.from_file(path)


def test_bad_values_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'awq'; valid: rtn, gptq, ed"):
        QuantConfig(method="awq")
    with pytest.raises(ValueError, match="weights: unknown format 'mxfp5'"):
        QuantConfig(weights="mxfp5")
    with pytest.raises(ValueError, match="unknown layer type 'lstm'"):
        LayerRule(types=("lstm",))


def test_rules_first_match_wins():
    config = QuantConfig(
        weights="mxfp4",
        rules=(LayerRule(pattern="head", skip=True), LayerRule(pattern="h*", weights="mxint8")),
    )
    assert config.formats_for("head", "linear") is None
    assert config.formats_for("hidden", "linear") == ("mxint8", None)
    assert config.formats_for("body", "conv2d") == ("mxfp4", None)
