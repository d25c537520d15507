"""AIRCHITECT (Samajdar et al. 2021): design-space exploration as classification.

A workload (a GEMM and a budget, or a GEMM and an array) goes in; the id of the best configuration
comes out, predicted by a small network (bucketed inputs, embeddings, dense ReLU layers, softmax)
trained on labels from exhaustive search with the systolic cost model. Three case studies
(``spaces``): array shape and dataflow under a MAC budget, SRAM buffer sizes under an SRAM budget,
mapping on a given array. ``dataset`` generates and stores labelled workloads, ``model`` trains and
stores the classifier, ``baselines`` and ``evaluate`` score it, ``workflow`` runs each step on folders.
"""

from tessera.dse.airchitect.baselines import GradientBoostedTrees, MajorityClass, NearestNeighbours
from tessera.dse.airchitect.dataset import (
    Dataset,
    generate,
    label,
    label_reference,
    load_dataset,
    save_dataset,
)
from tessera.dse.airchitect.evaluate import MethodResult, Scores, compare, refine, score
from tessera.dse.airchitect.model import AirchitectModel, TrainConfig, load_model, save_model, train
from tessera.dse.airchitect.spaces import (
    DIM_HIGH,
    SPACES,
    ArrayShapeSpace,
    BufferSpace,
    DesignSpace,
    Feature,
    MappingSpace,
    get_space,
)
from tessera.dse.airchitect.workflow import (
    Prediction,
    TrainReport,
    generate_dataset,
    predict_configuration,
    train_model,
    workload_inputs,
)

__all__ = [
    "DIM_HIGH",
    "SPACES",
    "AirchitectModel",
    "ArrayShapeSpace",
    "BufferSpace",
    "Dataset",
    "DesignSpace",
    "Feature",
    "GradientBoostedTrees",
    "MajorityClass",
    "MappingSpace",
    "MethodResult",
    "NearestNeighbours",
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
    "refine",
    "save_dataset",
    "save_model",
    "score",
    "train",
    "train_model",
    "workload_inputs",
]
