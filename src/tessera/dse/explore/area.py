"""Silicon area proxies (mm², 45 nm) for comparing designs, not for sign-off.

Systolic arrays, from M. Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm): an 8-bit integer multiplier is
282 µm² and grows with the square of its width; a 16-bit float multiplier 1,640 µm² and a 32-bit
one 7,700 µm², about 13.5 µm² x (mantissa bits + 1)²; a 32-bit integer adder 137 µm² and a
32-bit float adder 4,184 µm². A PE is one multiplier for its element format plus an accumulator
(integer adder for integer, binary and ternary elements, fp32 adder for float elements). SRAM
takes a 0.346 µm² 6T cell at 50 % array efficiency: 0.69 µm² per bit.

CIM crossbars, from ISAAC (Shafiee et al., ISCA 2016, 32 nm), scaled to 45 nm by (45/32)²: a
128 x 128 array of eight is 25 µm² (1.53e-3 µm² per cell), one 8-bit ADC per crossbar 1,200 µm²
(doubling per extra bit), a 1-bit DAC per row 0.166 µm² (doubling per extra input bit), a
sample-and-hold per column 0.039 µm², a shift-and-add unit 60 µm² per crossbar.
"""

from __future__ import annotations

from tessera.formats import get_format
from tessera.hw.cim.latency import CIMArch
from tessera.hw.systolic import SystolicArray

UM2_PER_MM2 = 1e6
INT_MULT_8BIT_UM2 = 282.0
FLOAT_MULT_UM2_PER_MANTISSA2 = 13.5
INT_ADD_32BIT_UM2 = 137.0
FLOAT_ADD_32BIT_UM2 = 4184.0
SRAM_UM2_PER_BIT = 0.346 / 0.5

ISAAC_TO_45NM = (45 / 32) ** 2
CELL_UM2 = 25.0 / 128**2
ADC_8BIT_UM2 = 1200.0
DAC_1BIT_UM2 = 0.166
SAMPLE_HOLD_UM2 = 0.039
SHIFT_ADD_UM2 = 60.0


def pe_area_um2(element_format: str) -> float:
    """One multiply-accumulate unit for ``element_format``'s elements (block scales ignored)."""
    fmt = get_format(element_format)
    element = getattr(fmt, "element", fmt)
    if element.kind == "float":
        mantissa = element.mbits + 1
        return FLOAT_MULT_UM2_PER_MANTISSA2 * mantissa**2 + FLOAT_ADD_32BIT_UM2
    return INT_MULT_8BIT_UM2 * (element.bits / 8) ** 2 + INT_ADD_32BIT_UM2


def systolic_area_mm2(array: SystolicArray) -> float:
    """PEs sized for the array's element format plus its three SRAM buffers."""
    sram_bits = 8192 * (array.ifmap_sram_kb + array.filter_sram_kb + array.ofmap_sram_kb)
    return (array.pe_count * pe_area_um2(array.element_format) + sram_bits * SRAM_UM2_PER_BIT) / UM2_PER_MM2


def crossbar_area_mm2(arch: CIMArch) -> float:
    """One crossbar with its ADC, row DACs, column sample-and-holds and shift-and-add unit."""
    um2 = (
        arch.rows * arch.cols * CELL_UM2
        + ADC_8BIT_UM2 * 2.0 ** (arch.adc_bits - 8)
        + arch.rows * DAC_1BIT_UM2 * 2.0 ** (arch.input_bits - 1)
        + arch.cols * SAMPLE_HOLD_UM2
        + SHIFT_ADD_UM2
    )
    return um2 * ISAAC_TO_45NM / UM2_PER_MM2
