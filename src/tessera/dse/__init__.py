"""Design-space exploration: learned predictors of good hardware configurations.

``tessera.dse.airchitect``: AIRCHITECT-style classifiers that map a GEMM workload (and a budget or an
array) to a systolic-array configuration, trained on labels from exhaustive search with
``tessera.hw.systolic``.
"""

from tessera.dse.airchitect import (
    AirchitectModel,
    Dataset,
    DesignSpace,
    Prediction,
    Scores,
    TrainConfig,
    TrainReport,
    compare,
    generate,
    generate_dataset,
    get_space,
    label,
    label_reference,
    load_dataset,
    load_model,
    predict_configuration,
    save_dataset,
    save_model,
    score,
    train,
    train_model,
)

__all__ = [
    "AirchitectModel",
    "Dataset",
    "DesignSpace",
    "Prediction",
    "Scores",
    "TrainConfig",
    "TrainReport",
    "compare",
    "generate",
    "generate_dataset",
    "get_space",
    "label",
    "label_reference",
    "load_dataset",
    "load_model",
    "predict_configuration",
    "save_dataset",
    "save_model",
    "score",
    "train",
    "train_model",
]
