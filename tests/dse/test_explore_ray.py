"""Evaluations fanned out through a local Ray runtime give the same study as the process pool."""

from __future__ import annotations

import pytest

from tessera.dse.explore import explore, loads_space

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

SPACE = """
name: ray
model: digits-cnn
eval_limit: 200
quantization:
  weights: [int8_channel, mxfp4]
  activations: [int8_channel]
  methods: [rtn, gptq]
hardware:
  - kind: systolic
    rows: [8, 16]
  - kind: cim
objectives: [accuracy, latency_us, area_mm2]
"""


@pytest.mark.slow
def test_local_ray_runtime_matches_the_process_pool(tmp_path) -> None:
    space = loads_space(SPACE)
    by_ray = explore(space, out_dir=tmp_path / "ray", backend="ray", workers=2)
    assert not ray.is_initialized()  # the runtime Tessera started is shut down again
    by_processes = explore(space, out_dir=tmp_path / "process", backend="process", workers=2)

    def outcome(result):
        return {p.point.key: p.metrics for p in result.points}

    assert len(by_ray.points) == 2 * 2 * 2 + 2  # mxfp4 cannot run on the crossbar
    assert by_ray.evaluations == 4
    assert outcome(by_ray) == outcome(by_processes)
