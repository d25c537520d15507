"""Workloads: the ops of a model with their shapes, as hardware models cost them.

``capture(model, example_input)`` runs a PyTorch model once and returns its ``Workload``: ops
(GEMMs, convolutions, attention matmuls, pooling, norms, elementwise ops) in topological order,
each with shapes, element formats and producer edges, and ``.gemm()`` for the ops a systolic
array runs. Workloads are saved as YAML or JSON and exchanged with SCALE-Sim's topology files.
"""

from tessera.workload.capture import CaptureError, capture
from tessera.workload.graph import KINDS, SYSTOLIC_KINDS, Op, OpFormats, Param, Workload
from tessera.workload.lowering import dtype_format
from tessera.workload.models import capture_model
from tessera.workload.serialize import from_json, from_yaml, load_workload, save_workload, to_json, to_yaml
from tessera.workload.shapes import ConvShape, GemmShape
from tessera.workload.topology import (
    format_conv_topology,
    format_gemm_topology,
    parse_conv_topology,
    parse_gemm_topology,
    read_conv_topology,
    read_gemm_topology,
    write_conv_topology,
    write_gemm_topology,
)

__all__ = [
    "KINDS",
    "SYSTOLIC_KINDS",
    "CaptureError",
    "ConvShape",
    "GemmShape",
    "Op",
    "OpFormats",
    "Param",
    "Workload",
    "capture",
    "capture_model",
    "dtype_format",
    "format_conv_topology",
    "format_gemm_topology",
    "from_json",
    "from_yaml",
    "load_workload",
    "parse_conv_topology",
    "parse_gemm_topology",
    "read_conv_topology",
    "read_gemm_topology",
    "save_workload",
    "to_json",
    "to_yaml",
    "write_conv_topology",
    "write_gemm_topology",
]
