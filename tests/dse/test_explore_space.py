"""The explore design space: shipped spaces load and round-trip through YAML; strict YAML errors name
the key and line; objectives and constraints are checked against the hardware kinds at load time."""

import re

import pytest

from tessera.dse.explore import (
    CIMSpace,
    Constraint,
    SearchSettings,
    SystolicSpace,
    loads_space,
    shipped_space,
    shipped_spaces,
)
from tessera.quant.config import LayerRule

# Line numbers below refer to this text: quantization on line 3, the hardware entry on line 5.
BASE = """model: digits-cnn
name: probe
quantization:
  weights: [int8_channel]
hardware:
  - kind: systolic
    rows: [16]
    cols: [16]
objectives: [accuracy, latency_us]
"""

CIM_BASE = BASE.replace("kind: systolic", "kind: cim")


def _fails(text: str, *patterns: str) -> str:
    """Load ``text`` expecting a ValueError whose message matches every pattern; the message."""
    with pytest.raises(ValueError) as info:
        loads_space(text)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    return message


def test_the_base_text_of_these_tests_loads():
    space = loads_space(BASE)
    assert space.model == "digits-cnn"
    assert space.hardware == (SystolicSpace(rows=(16,), cols=(16,)),)
    assert loads_space(CIM_BASE).hardware == (CIMSpace(rows=(16,), cols=(16,)),)


def test_shipped_spaces_are_listed():
    assert {"default", "minilm", "resnet20"} <= set(shipped_spaces())


@pytest.mark.parametrize("name", shipped_spaces())
def test_each_shipped_space_loads(name):
    space = shipped_space(name)
    assert space.designs()
    assert space.objectives


@pytest.mark.parametrize("name", shipped_spaces())
def test_each_shipped_space_round_trips_through_yaml(name):
    space = shipped_space(name)
    assert loads_space(space.to_yaml()) == space


def test_a_space_with_rules_constraints_and_random_search_round_trips():
    text = BASE.replace(
        "  weights: [int8_channel]\n",
        "  weights: [int8_channel, null]\n"
        "  activations: [null, int8_channel]\n"
        "  methods: [rtn, gptq]\n"
        "  rules:\n"
        "    - pattern: '0'\n"
        "      types: [conv2d]\n"
        "      weights: int8_channel\n"
        "    - pattern: '8'\n"
        "      skip: true\n",
    ) + ("constraints:\n  max_latency_us: 50\n  min_accuracy: 90\nsearch:\n  method: random\n  trials: 3\n")
    space = loads_space(text)
    assert space.quantization.rules == (
        LayerRule(pattern="0", types=("conv2d",), weights="int8_channel"),
        LayerRule(pattern="8", skip=True),
    )
    assert space.constraints == (Constraint("latency_us", "max", 50.0), Constraint("accuracy", "min", 90.0))
    assert space.search == SearchSettings(method="random", trials=3)
    assert loads_space(space.to_yaml()) == space


def test_an_unknown_shipped_space_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"no shipped space 'nope'; valid: .*default"):
        shipped_space("nope")


def test_an_unknown_top_level_key_is_named_with_a_line():
    _fails(BASE + "colour: red\n", r"unknown key 'colour'", r"line \d+")


def test_an_unknown_key_in_quantization_is_named_with_its_line():
    text = BASE.replace("  weights: [int8_channel]\n", "  weights: [int8_channel]\n  bogus: 1\n")
    _fails(text, r"'quantization' \(line 4\)", r"unknown key 'bogus'")


def test_an_unknown_key_in_a_hardware_entry_is_named_with_its_line():
    text = BASE.replace("    cols: [16]\n", "    cols: [16]\n    banks: 4\n")
    _fails(text, r"'hardware'\[0\] \(line 6\)", r"unknown key 'banks'")


def test_a_duplicate_key_names_the_key_and_its_line():
    text = BASE.replace("    cols: [16]\n", "    cols: [16]\n    rows: [8]\n")
    _fails(text, r"line 9: duplicate key 'rows'")


def test_an_unknown_hardware_kind_lists_the_valid_kinds():
    _fails(
        BASE.replace("kind: systolic", "kind: tpu"), r"unknown hardware kind 'tpu'", r"valid: systolic, cim"
    )


def test_an_unknown_weight_format_is_named():
    text = BASE.replace("[int8_channel]", "[int8_channel, int3_wat]")
    _fails(text, r"field 'weights'", r"unknown format 'int3_wat'")


def test_an_unknown_ptq_method_lists_the_valid_methods():
    text = BASE.replace("  weights: [int8_channel]\n", "  weights: [int8_channel]\n  methods: [rtn, awq]\n")
    _fails(text, r"field 'methods'", r"unknown method 'awq'; valid: rtn, gptq, ed")


def test_an_unknown_model_lists_the_valid_model_names():
    _fails(BASE.replace("model: digits-cnn", "model: nope"), r"unknown model 'nope'; valid: .*digits-cnn")


def test_a_value_of_the_wrong_type_in_a_list_is_named():
    _fails(BASE.replace("rows: [16]", 'rows: [16, "x"]'), r"field 'rows'", r"'x' is not an integer")


def test_a_boolean_is_not_an_integer_hardware_value():
    _fails(BASE.replace("rows: [16]", "rows: [true]"), r"field 'rows'", r"True is not an integer")


def test_an_empty_list_is_an_error():
    _fails(BASE.replace("rows: [16]", "rows: []"), r"field 'rows'", r"give at least one value")


def test_a_repeated_value_in_a_list_is_an_error():
    _fails(BASE.replace("rows: [16]", "rows: [16, 8, 16]"), r"field 'rows'", r"repeated values")


@pytest.mark.parametrize("key", ["avg_latency_us", "latency_us", "max_"])
def test_a_constraint_key_must_be_max_or_min_of_an_objective(key):
    _fails(BASE + f"constraints:\n  {key}: 3\n", rf"key '{key}' must be max_<objective> or min_<objective>")


def test_a_constraint_on_an_unknown_objective_is_an_error():
    _fails(BASE + "constraints:\n  max_speed: 3\n", r"constraints.max_speed: unknown objective 'speed'")


@pytest.mark.parametrize("limit", [0, -2])
def test_eval_limit_must_be_positive(limit):
    _fails(BASE + f"eval_limit: {limit}\n", rf"eval_limit must be a positive number of examples, got {limit}")


def test_an_unknown_search_method_lists_the_valid_methods():
    _fails(
        BASE + "search:\n  method: anneal\n", r"unknown search method 'anneal'; valid: grid, random, nsga2"
    )


def test_random_search_needs_trials():
    _fails(BASE + "search:\n  method: random\n", r"search.trials is required for method 'random'")


def test_utilization_is_not_an_objective_of_cim_hardware():
    text = CIM_BASE.replace("latency_us]", "latency_us, utilization]")
    _fails(text, r"objective 'utilization' is not defined for hardware kind 'cim'")


def test_crossbars_is_not_an_objective_of_systolic_hardware():
    text = BASE.replace("latency_us]", "latency_us, crossbars]")
    _fails(text, r"objective 'crossbars' is not defined for hardware kind 'systolic'")


def test_an_objective_must_hold_for_every_hardware_family_of_the_space():
    text = BASE.replace("objectives: [accuracy, latency_us]\n", "  - kind: cim\n")
    text += "objectives: [accuracy, latency_us, utilization]\n"
    _fails(text, r"objective 'utilization' is not defined for hardware kind 'cim'")


def test_a_constraint_on_utilization_is_an_error_with_cim_hardware():
    _fails(
        CIM_BASE + "constraints:\n  min_utilization: 0.5\n",
        r"constraints.min_utilization: objective 'utilization' is not defined for hardware kind 'cim'",
    )


def test_a_systolic_design_whose_sram_cannot_hold_a_tile_is_named():
    text = BASE.replace("rows: [16]\n    cols: [16]", "rows: [128]\n    cols: [128]\n    sram_kb: [64, 1]")
    _fails(text, r"systolic rows=128 cols=128 dataflow=ws sram_kb=1: ", r"fewer than one 128x128 tile")


def test_an_invalid_cim_design_is_named():
    _fails(
        CIM_BASE.replace("    cols: [16]\n", "    cols: [16]\n    cell_bits: [0]\n"),
        r"cim rows=16 cols=16 cell_bits=0 ",
        r"cell_bits",
    )


def test_a_scalar_is_a_list_of_one():
    text = BASE.replace("rows: [16]", "rows: 16").replace("[int8_channel]", "int4_g32")
    text = text.replace("    cols: [16]\n", "    cols: [16]\n    dataflow: os\n    sram_kb: 32\n")
    space = loads_space(text)
    assert space.hardware == (SystolicSpace(rows=(16,), cols=(16,), dataflow=("os",), sram_kb=(32.0,)),)
    assert space.quantization.weights == ("int4_g32",)


def test_a_null_format_means_float_not_the_default():
    space = loads_space(BASE.replace("weights: [int8_channel]", "weights: null\n  activations: null"))
    assert space.quantization.weights == (None,)
    assert space.quantization.activations == (None,)


def test_a_null_hardware_value_is_an_error():
    _fails(BASE.replace("rows: [16]", "rows: null"), r"field 'rows'", r"None is not an integer")


def test_sram_is_checked_for_the_widest_operand_the_space_can_give():
    # 1 kB holds a 32x32 tile of int8 words but not of fp32 words (float activations)
    text = BASE.replace("rows: [16]\n    cols: [16]", "rows: [32]\n    cols: [32]\n    sram_kb: [1]")
    int8_inputs = text.replace(
        "weights: [int8_channel]", "weights: [int8_channel]\n  activations: [int8_channel]"
    )
    assert loads_space(int8_inputs).quantization.widest_word_format() == "int8_channel"
    float_inputs = int8_inputs.replace("activations: [int8_channel]", "activations: [int8_channel, null]")
    _fails(float_inputs, r"hardware: systolic rows=32 cols=32 dataflow=ws sram_kb=1: ", r"32 bits")
