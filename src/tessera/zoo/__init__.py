"""Models and datasets: a registry of real models with their data, metrics and calibration inputs.

``get_model(name)`` returns a ``ModelSpec`` that builds the fp32 model, gives calibration batches
from a training split and evaluates the model on a test split. Models that need the data folder
find it through ``resolve_data_dir`` (an explicit path, else ``$TESSERA_DATA_DIR``).
"""

# Importing the model modules registers their models, in this order.
from tessera.zoo import binary, binary_cifar, digits, minilm, mnist, resnet, stories  # noqa: F401
from tessera.zoo.cache import cache_dir
from tessera.zoo.digits import DigitsSplit, load_digits_split, train_digits_cnn
from tessera.zoo.files import FileFormatError, resolve_data_dir
from tessera.zoo.llama import Llama, LlamaConfig, generate
from tessera.zoo.registry import ModelSpec, get_model, model_names
from tessera.zoo.stories import load_tokenizer
from tessera.zoo.tokenizer import Tokenizer

__all__ = [
    "DigitsSplit",
    "FileFormatError",
    "Llama",
    "LlamaConfig",
    "ModelSpec",
    "Tokenizer",
    "cache_dir",
    "generate",
    "get_model",
    "load_digits_split",
    "load_tokenizer",
    "model_names",
    "resolve_data_dir",
    "train_digits_cnn",
]
