"""The binary and ternary MNIST MLPs: exact activations, straight-through gradients, and the
evaluated models' contract (layer sequence, weight and input codes), accuracy and cache."""

import pytest
import torch
from torch import nn

from tessera.zoo import binary, get_model, mnist

CONTRACT = {
    "mnist-bnn": [
        "Flatten",
        *("Sign", "Linear 784x512", "BatchNorm1d 512"),
        *("Sign", "Linear 512x512", "BatchNorm1d 512"),
        *("Sign", "Linear 512x10", "BatchNorm1d 10"),
    ],
    "mnist-bnn-small": [
        "Flatten",
        *("Sign", "Linear 784x100", "BatchNorm1d 100"),
        *("Sign", "Linear 100x10", "BatchNorm1d 10"),
    ],
    "mnist-tnn": [
        "Flatten",
        *("Ternarize 0.5", "Linear 784x512", "BatchNorm1d 512"),
        *("Ternarize 0.5", "Linear 512x512", "BatchNorm1d 512"),
        *("Ternarize 0.5", "Linear 512x10", "BatchNorm1d 10"),
    ],
}
CODES = {"mnist-bnn": [-1.0, 1.0], "mnist-bnn-small": [-1.0, 1.0], "mnist-tnn": [-1.0, 0.0, 1.0]}
TRAIN_IMAGES = 20000  # the models under test train one epoch on the first 20k training images


def describe(module: nn.Module) -> str:
    """A layer as the contract names it; anything else (a Linear subclass, a bias) is spelled out."""
    kind = type(module)
    if kind is nn.Linear:
        bias = " with bias" if module.bias is not None else ""
        return f"Linear {module.in_features}x{module.out_features}{bias}"
    if kind is nn.BatchNorm1d:
        stats = "" if module.running_mean is not None else " without running statistics"
        return f"BatchNorm1d {module.num_features}{stats}"
    if kind is binary.Ternarize:
        return f"Ternarize {module.threshold}"
    return kind.__name__


def test_sign_is_exact_in_eval():
    x = torch.tensor([-3.0, -1e-7, -0.0, 0.0, 1e-7, 2.5])  # -0.0 >= 0, so it maps to +1
    out = binary.Sign().eval()(x)
    assert out.dtype == torch.float32
    assert out.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


def test_ternarize_is_exact_in_eval_with_the_threshold_itself_mapped_to_zero():
    x = torch.tensor([-2.0, -0.5001, -0.5, -0.1, 0.0, 0.5, 0.5001, 7.0])
    out = binary.Ternarize(0.5).eval()(x)
    assert out.dtype == torch.float32
    assert out.tolist() == [-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("activation", "window"),
    [(binary.Sign(), 1.0), (binary.Ternarize(0.5), 1.0), (binary.Ternarize(0.25), 0.5)],
)
def test_training_mode_passes_gradients_straight_through_a_window(activation, window):
    x = torch.tensor([-3.0, -1.5, -1.0, -0.6, -0.3, 0.0, 0.2, 0.5, 0.9, 1.0, 1.2, 4.0], requires_grad=True)
    activation.train()
    out = activation(x)
    assert torch.equal(out, activation.eval()(x.detach()))  # the same codes as in eval
    (out * torch.arange(1.0, 13.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(1.0, 13.0) * (x.detach().abs() <= window))


def test_ternarize_refuses_a_threshold_that_is_not_positive():
    with pytest.raises(ValueError, match=r"threshold must be positive, got 0"):
        binary.Ternarize(0.0)


@pytest.fixture(scope="module", params=list(CONTRACT))
def trained(request, data_dir, tmp_path_factory):
    """(name, cache folder, model): one model per parameter, trained once for one epoch on the
    first ``TRAIN_IMAGES`` training images (seconds) in a fresh cache."""
    name = request.param
    folder = tmp_path_factory.mktemp("cache")
    load_mnist = mnist.load_mnist

    def first_train_images(data_dir, split):
        images, labels = load_mnist(data_dir, split)
        return (images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]) if split == "train" else (images, labels)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_CACHE_DIR", str(folder))
        patch.setitem(binary.EPOCHS, name, 1)
        patch.setattr(mnist, "load_mnist", first_train_images)
        model = get_model(name).build(data_dir)
    return name, folder, model


@pytest.fixture(scope="module")
def first_test_images(data_dir):
    """The first 256 test images, normalised as every MNIST model is fed."""
    images, _ = mnist.load_mnist(data_dir, "test")
    return mnist.normalise(images[:256])


@pytest.mark.data
def test_layers_follow_the_contract(trained):
    name, _, model = trained
    assert type(model) is nn.Sequential and not model.training
    assert [describe(module) for module in model] == CONTRACT[name]


@pytest.mark.data
def test_linear_weights_are_exactly_the_codes(trained):
    name, _, model = trained
    for index, module in enumerate(model):
        if isinstance(module, nn.Linear):
            values = module.weight.unique().tolist()
            assert values == CODES[name], f"layer {index} of {name} has weights {values[:5]}..."


@pytest.mark.data
def test_every_linear_layer_is_fed_codes(trained, first_test_images):
    name, _, model = trained
    inputs = {}
    hooks = [
        module.register_forward_pre_hook(lambda _, args, index=index: inputs.update({index: args[0]}))
        for index, module in enumerate(model)
        if isinstance(module, nn.Linear)
    ]
    try:
        model(first_test_images)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(inputs) == sum(layer.startswith("Linear") for layer in CONTRACT[name])
    for index, x in inputs.items():
        values = set(x.unique().tolist())
        assert values <= set(CODES[name]), f"layer {index} of {name} is fed {sorted(values)[:5]}..."


@pytest.mark.data
def test_one_epoch_on_a_third_of_the_images_learns_mnist(trained, data_dir):
    """Full training reaches 95-98 %; one epoch on 20k images clearly beats chance (10 %)."""
    name, _, model = trained
    assert get_model(name).evaluate(model, data_dir, limit=1000) > 80.0


@pytest.mark.data
def test_the_cached_model_gives_identical_outputs(trained, first_test_images, data_dir, monkeypatch):
    name, folder, model = trained
    assert len(list(folder.glob(f"{name}-*.safetensors"))) == 1
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(folder))
    monkeypatch.setitem(binary.EPOCHS, name, 1)
    monkeypatch.setattr(binary, "train_mlp", lambda *args, **kwargs: pytest.fail("retrained"))
    cached = get_model(name).build(data_dir)
    assert not cached.training
    with torch.no_grad():
        assert torch.equal(cached(first_test_images), model(first_test_images))


@pytest.mark.data
@pytest.mark.parametrize("name", list(CONTRACT))
def test_calibration_is_that_of_mnist_lenet(name, data_dir):
    batches = get_model(name).calibration(data_dir, n_samples=40, batch_size=32)
    expected = get_model("mnist-lenet").calibration(data_dir, n_samples=40, batch_size=32)
    assert len(batches) == 2 and all(torch.equal(a, b) for a, b in zip(batches, expected))
