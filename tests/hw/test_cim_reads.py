"""Folded analog reads: the structures they rely on hold, and they equal a plain per-tile product."""

import pytest
import torch

from tessera.hw.cim import Crossbar, CrossbarLayer, get_mapping, mappings_of_kind
from tessera.hw.cim.analog import adc_
from tessera.hw.cim.mapping import Mapping
from tessera.hw.cim.reads import TileReads

FIXED = (*mappings_of_kind("binary"), *mappings_of_kind("ternary"))


def codes(kind: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":
        return torch.randint(0, 2, shape, generator=g) * 2.0 - 1
    return torch.randint(-1, 2, shape, generator=g).float()


@pytest.mark.parametrize("name", FIXED)
def test_declared_drive_structures_hold(name):
    mapping = get_mapping(name)
    planes = mapping.input_planes(codes(mapping.kind, (40, 33), seed=1))
    drives = [plane.drive for plane in planes]
    assert all(bool(((d == 0) | (d == 1)).all()) for d in drives)
    if mapping.one_hot_row_pairs:
        assert all(torch.equal(d[:, 0::2] + d[:, 1::2], torch.ones(40, 33)) for d in drives)
    if mapping.complementary_phases:
        assert len(drives) == 2 and torch.equal(drives[0] + drives[1], torch.ones_like(drives[0]))


@pytest.mark.parametrize("name", (*FIXED, "int-offset"))
def test_read_drives_and_driven_rows_follow_from_the_input_planes(name):
    """A mapping's own ``read_drive`` equals the one derived from its input planes, and the driven
    rows the reads count equal the physical drives' sums."""
    mapping = get_mapping(name)
    x = (
        codes(mapping.kind, (20, 33), seed=7).abs()
        if mapping.kind == "integer"
        else codes(mapping.kind, (20, 33), 7)
    )
    assert torch.equal(mapping.read_drive(x), Mapping.read_drive(mapping, x))
    physical = torch.stack([plane.drive for plane in mapping.input_planes(x)])
    reads = TileReads([torch.ones(physical.shape[2], 1)], 16, mapping)
    assert torch.equal(reads.driven_rows(mapping.read_drive(x), len(physical)), physical.sum(dim=2))


def plain_tile_products(drive: torch.Tensor, moments: torch.Tensor, tile_rows: int) -> torch.Tensor:
    """Reference: every phase's drive times each tile's rows of ``moments``, (T, P, B, C)."""
    rows = moments.shape[0]
    return torch.stack(
        [
            drive[..., start : start + tile_rows] @ moments[start : start + tile_rows]
            for start in range(0, rows, tile_rows)
        ]
    )


@pytest.mark.parametrize("name", FIXED)
@pytest.mark.parametrize("inputs", [37, 64])  # a short last tile, and whole tiles
def test_folded_reads_equal_plain_tile_products(name, inputs):
    mapping = get_mapping(name)
    x = codes(mapping.kind, (25, inputs), seed=2)
    drive = torch.stack([p.drive for p in mapping.input_planes(x)])
    rows = drive.shape[-1]
    g = torch.Generator().manual_seed(3)
    moments = [torch.rand(rows, 6, generator=g) * 50, torch.rand(rows, 6, generator=g) * 4]
    folded = TileReads(moments, 16, mapping)(mapping.read_drive(x), len(drive))
    for got, matrix in zip(folded, moments, strict=True):
        assert torch.allclose(got, plain_tile_products(drive, matrix, 16), rtol=1e-5, atol=1e-3)


def test_a_read_drive_of_the_wrong_shape_is_refused():
    mapping = get_mapping("bnn-single-cell")
    reads = TileReads([torch.ones(10, 3)], 4, mapping)
    with pytest.raises(ValueError, match="come in twos"):
        reads(torch.ones(1, 2, 10), 3)
    with pytest.raises(ValueError, match=r"read drive must be \(1, batch, 10\)"):
        reads(torch.ones(2, 2, 10), 2)


@pytest.mark.parametrize("name", FIXED)
def test_analog_path_with_device_variability_and_adc_matches_a_plain_rederivation(name):
    """Device-to-device variability and a 5-bit ADC, no read noise: the layer equals reading each
    physical tile's column currents, digitizing them, adding the tiles and recombining the planes."""
    mapping = get_mapping(name)
    weight = codes(mapping.kind, (12, 45), seed=4)
    x = codes(mapping.kind, (30, 45), seed=5)
    xbar = Crossbar(rows=32, cols=64, sigma_d2d_ua=3.0, adc_bits=5, adc_mode="symmetric")
    layer = CrossbarLayer(weight, mapping, xbar, torch.Generator().manual_seed(6))
    planes = mapping.input_planes(x)
    to_levels = 1 / xbar.delta_ua
    signals = []
    for plane in planes:
        drive = plane.drive
        tiles = []
        for tile, start in enumerate(range(0, drive.shape[1], xbar.rows)):
            part = drive[:, start : start + xbar.rows]
            current = sum(
                sign * (part @ mu[tile, : part.shape[1]].clamp(min=0))
                for sign, mu in zip((1, -1), layer.cell_mu, strict=False)
            )
            tiles.append(adc_(current, *layer.adc_range, xbar.adc_bits))
        signal = sum(tiles) * to_levels
        if not mapping.differential:
            signal = signal - drive.sum(dim=1, keepdim=True) * xbar.i_hrs_ua * to_levels
        signals.append(signal)
    weight_coefs = layer.weight_coefs.tolist()
    out = weight.shape[0]
    expected = sum(
        plane.coef * coef * signal[:, q * out : (q + 1) * out]
        for plane, signal in zip(planes, signals, strict=True)
        for q, coef in enumerate(weight_coefs)
    ) + mapping.correction(x, weight)
    assert torch.allclose(layer.forward(x, digital=False).double(), expected.double(), atol=1e-3)
