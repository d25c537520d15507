"""The closed-form model on numpy arrays: many array configurations x many GEMMs in one call.

``cost_batch`` computes exactly what ``model.gemm_cost`` computes, element by element, for arguments
that broadcast together (numpy rules): pass configurations as ``(C, 1)`` arrays and GEMM shapes as
``(1, L)`` arrays to get a ``(C, L)`` grid. The reference is ``model.gemm_cost``; the tests hold this
file to it on random inputs. Work is done in chunks so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tessera.hw.systolic.arch import BANDWIDTH_MODES, DATAFLOWS, MIN_BUFFER_WORDS
from tessera.hw.systolic.energy import EnergyTable
from tessera.hw.systolic.results import SystolicCost

_CHUNK = 1 << 16
_OS, _WS, _IS = 0, 1, 2


@dataclass(frozen=True)
class BatchCost:
    """``SystolicCost``'s fields as arrays of one shape (one element per configuration and GEMM)."""

    pe_count: np.ndarray
    clock_mhz: np.ndarray
    layers: np.ndarray
    macs: np.ndarray
    folds: np.ndarray
    compute_cycles: np.ndarray
    stall_cycles: np.ndarray
    ifmap_sram_reads: np.ndarray
    filter_sram_reads: np.ndarray
    ofmap_sram_writes: np.ndarray
    dram_ifmap_reads_words: np.ndarray
    dram_filter_reads_words: np.ndarray
    dram_ofmap_writes_words: np.ndarray
    mapped_pe_folds: np.ndarray
    busy_fold_fraction: np.ndarray
    mac_energy_pj: np.ndarray
    sram_energy_pj: np.ndarray
    dram_energy_pj: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """The broadcast shape of the arguments (e.g. configurations x GEMMs)."""
        return self.macs.shape

    @property
    def total_cycles(self) -> np.ndarray:
        """Compute plus stall cycles."""
        return self.compute_cycles + self.stall_cycles

    @property
    def latency_us(self) -> np.ndarray:
        """``total_cycles`` at ``clock_mhz``, in microseconds."""
        return self.total_cycles / self.clock_mhz

    @property
    def utilization(self) -> np.ndarray:
        """MACs / (PEs x total cycles), a fraction."""
        return self.macs / (self.pe_count * self.total_cycles)

    @property
    def mapping_efficiency(self) -> np.ndarray:
        """Mean over folds of the fraction of PEs mapped."""
        return self.mapped_pe_folds / (self.pe_count * self.folds)

    @property
    def compute_utilization(self) -> np.ndarray:
        """Mean over folds of MACs / (PEs x fold cycles)."""
        return self.busy_fold_fraction / self.folds

    @property
    def energy_pj(self) -> np.ndarray:
        """MAC + SRAM + DRAM energy, in pJ (a model)."""
        return self.mac_energy_pj + self.sram_energy_pj + self.dram_energy_pj

    def item(self, index: int | tuple[int, ...]) -> SystolicCost:
        """One element as a ``SystolicCost``."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)[index].item()
            values[f.name] = value
        return SystolicCost(**values)

    def sum(self, axis: int | None = None) -> BatchCost:
        """Counts summed over ``axis`` (all axes if None): e.g. a network's layers on each
        configuration. The configuration fields must be equal along it."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("pe_count", "clock_mhz"):
                first = np.take(value, [0], axis=axis) if axis is not None else value.ravel()[:1]
                if not np.all(value == first):
                    raise ValueError(f"cannot sum over different arrays: {f.name} varies along the axis")
                out[f.name] = np.take(value, 0, axis=axis) if axis is not None else value.ravel()[0]
            else:
                out[f.name] = value.sum(axis=axis)
        return BatchCost(**{k: np.asarray(v) for k, v in out.items()})

    def to_dict(self) -> dict[str, np.ndarray]:
        """Every field and derived quantity, by name (columns of a table)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in (
            "total_cycles",
            "latency_us",
            "utilization",
            "mapping_efficiency",
            "compute_utilization",
            "energy_pj",
        ):
            out[name] = getattr(self, name)
        return out


def _codes(values: object, valid: tuple[str, ...], field: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= len(valid))
        if bad.any():
            raise ValueError(f"{field} codes must be 0..{len(valid) - 1} ({', '.join(valid)})")
        return arr.astype(np.int64)
    out = np.full(arr.shape, -1, dtype=np.int64)
    for code, name in enumerate(valid):
        out[arr == name] = code
    if (out < 0).any():
        first = arr[out < 0].ravel()[0]
        raise ValueError(f"{field} {first!r} is not one of {', '.join(valid)}")
    return out


def _positive_ints(field: str, value: object) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{field} must be integers")
    if (arr < 1).any():
        raise ValueError(f"{field} must be positive, got {arr[arr < 1].ravel()[0]}")
    return arr.astype(np.int64)


def _ceil(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -(-a // b)


def _buffer_words(kb: np.ndarray, bits: float) -> np.ndarray:
    return np.floor(kb * 8192 / bits).astype(np.int64)


def cost_batch(
    m: object,
    n: object,
    k: object,
    *,
    rows: object,
    cols: object,
    dataflow: object,
    ifmap_sram_kb: object,
    filter_sram_kb: object,
    ofmap_sram_kb: object,
    bandwidth_mode: object = "calc",
    dram_bandwidth_words_per_cycle: object = 1,
    element_bits: int = 8,
    bits_per_word: float | None = None,
    clock_mhz: object = 1000.0,
    count: object = 1,
    ifmap_words: object | None = None,
    tap_words: object | None = None,
    energy: EnergyTable | None = None,
) -> BatchCost:
    """Cost ``count`` copies of each ``m x k`` by ``k x n`` GEMM on each configuration.

    Array arguments broadcast together. ``dataflow`` is ``os``/``ws``/``is`` (or codes 0/1/2),
    ``bandwidth_mode`` ``calc``/``user``; ``dram_bandwidth_words_per_cycle`` is used where the mode
    is ``user``. ``element_bits`` sets the MAC energy, ``bits_per_word`` (default ``element_bits``)
    the buffer capacity in words and the access energy. ``ifmap_words``, ``tap_words``: a
    convolution's distinct input words and those of one filter tap (see ``model.gemm_cost``).
    Raises ValueError naming the first argument out of range.
    """
    energy = energy or EnergyTable()
    bits = float(bits_per_word if bits_per_word is not None else element_bits)
    named = {
        "m": _positive_ints("m", m),
        "n": _positive_ints("n", n),
        "k": _positive_ints("k", k),
        "rows": _positive_ints("rows", rows),
        "cols": _positive_ints("cols", cols),
        "dataflow": _codes(dataflow, DATAFLOWS, "dataflow"),
        "ifmap_kb": np.asarray(ifmap_sram_kb, dtype=float),
        "filter_kb": np.asarray(filter_sram_kb, dtype=float),
        "ofmap_kb": np.asarray(ofmap_sram_kb, dtype=float),
        "user": _codes(bandwidth_mode, BANDWIDTH_MODES, "bandwidth_mode"),
        "bw": _positive_ints("dram_bandwidth_words_per_cycle", dram_bandwidth_words_per_cycle),
        "clock": np.asarray(clock_mhz, dtype=float),
        "count": _positive_ints("count", count),
    }
    if ifmap_words is not None:
        named["ifmap_words"] = _positive_ints("ifmap_words", ifmap_words)
    if tap_words is not None:
        named["tap_words"] = _positive_ints("tap_words", tap_words)
    if (named["clock"] <= 0).any():
        raise ValueError("clock_mhz must be positive")
    flat = dict(zip(named, (a.ravel() for a in np.broadcast_arrays(*named.values()))))
    shape = np.broadcast_shapes(*(a.shape for a in named.values()))
    footprint = flat.get("ifmap_words", flat["m"] * flat["k"])
    if (footprint > flat["m"] * flat["k"]).any():
        raise ValueError("ifmap_words must not exceed m * k")
    if "tap_words" in flat and (flat["tap_words"] > footprint).any():
        raise ValueError("tap_words must not exceed ifmap_words")
    tile = flat["rows"] * flat["cols"]
    for name in ("ifmap_kb", "filter_kb", "ofmap_kb"):
        words = _buffer_words(flat[name], bits)
        small = words < np.maximum(tile, MIN_BUFFER_WORDS)
        if small.any():
            field = name.replace("_kb", "_sram_kb")
            raise ValueError(
                f"{field}={flat[name][small][0]} holds fewer words than one {flat['rows'][small][0]}x"
                f"{flat['cols'][small][0]} tile or {MIN_BUFFER_WORDS} words"
            )
    size = int(np.prod(shape, dtype=np.int64))
    parts = [
        _chunk({key: v[i : i + _CHUNK] for key, v in flat.items()}, bits, element_bits, energy)
        for i in range(0, max(size, 1), _CHUNK)
    ]
    return BatchCost(
        **{f.name: np.concatenate([p[f.name] for p in parts]).reshape(shape) for f in fields(BatchCost)}
    )


def _os_filter_calc(k, n, cols, row_folds, window):
    """Vectorized ``model._os_filter_calc``: blocks of ``k x cols`` repeat ``row_folds`` times in a
    row; the tumbling window's state follows a period of ``ceil(window / block) - 1`` blocks."""
    block, full, last = k * cols, n // cols, k * (n % cols)
    big = block >= window
    # full blocks larger than the window: fetched row_folds times each
    fetched_big = full * row_folds * block
    held_big = (full * row_folds * block) % window
    # smaller blocks: fetched once, plus a partial refetch at each reset (one every q - 1 blocks)
    q = _ceil(window, np.maximum(block, 1))
    resets = np.where(full < q, 0, 1 + (full - q) // np.maximum(q - 1, 1))
    fetched_small = full * block + resets * (window - (q - 1) * block)
    held_small = np.where(resets == 0, full * block, block * (1 + (full - q) % np.maximum(q - 1, 1)))
    fetched = np.where(big, fetched_big, fetched_small)
    held = np.where(big, held_big, held_small)
    # the narrow last block, from that state
    fetched_last = np.where(
        last >= window,
        row_folds * last,
        np.where(held + last < window, last, 2 * last - (held + last - window)),
    )
    fetched = fetched + np.where(last > 0, fetched_last, 0)
    return np.where(row_folds == 1, k * n, fetched)


def _ring(valid, entries, words, bw, passes, wraps, lines):
    """Vectorized ``model._ring_refills`` and ``Refills.stall``: (words read, stall cycles)."""
    set_words = _ceil(words, 100)
    active = _ceil(words, 2)
    refill = words - active
    sets = valid // set_words + 1
    active_sets = np.minimum(sets, _ceil(active, set_words))
    refill_sets = np.minimum(sets - active_sets, _ceil(refill, set_words))
    cycles = _ceil(refill, bw) + 1
    first_fill = np.minimum(_ceil(active, bw), _ceil(entries, bw)) * bw
    stream = (passes - 1 + wraps) * sets + (valid - 1) // set_words + 1
    n = np.where(refill_sets > 0, _ceil(stream - active_sets, np.maximum(refill_sets, 1)), 0)
    first = cycles - np.minimum(active_sets / stream, 1.0) * lines
    gap = cycles - refill_sets / stream * lines
    last = n * cycles - np.minimum((active_sets + (n - 1) * refill_sets) / stream, 1.0) * lines
    safe_gap = np.where(gap > 0, gap, 1.0)
    late_from = np.where(first > 0, 1, np.floor_divide(-first, safe_gap).astype(np.int64) + 2)
    first_late = first + (late_from - 1) * gap
    odd = (n - late_from) % 2 == 0
    growing = np.where(
        late_from > n, 0.0, last + np.where(odd, first_late, np.maximum(0.0, gap - first_late))
    )
    stall = np.where(gap <= 0, 2 * np.maximum(first, 0.0), growing)
    return first_fill + n * (cycles - 1) * bw, np.where(n > 0, stall, 0.0)


def _write_stall(writes, words, drain_bw, lines):
    """Vectorized ``model.write_stall``."""
    drain = words - _ceil(words, 2)
    more = _ceil(np.maximum(writes - drain - words, 0), np.maximum(drain, 1))
    drain_cycles = _ceil(drain, drain_bw) - 1
    first = (drain + 1) / writes * lines
    stall = first + more * drain_cycles - (words + more * drain) / writes * lines
    return np.where(writes <= drain + words, 0.0, stall)


def _chunk(a: dict[str, np.ndarray], bits: float, element_bits: int, energy: EnergyTable) -> dict:
    m, n, k, r, c, df = a["m"], a["n"], a["k"], a["rows"], a["cols"], a["dataflow"]
    os_, ws, is_ = df == _OS, df == _WS, df == _IS
    sr = np.where(os_, m, k)
    sc = np.where(is_, m, n)
    t = np.where(os_, k, np.where(ws, m, n))
    rf, cf = _ceil(sr, r), _ceil(sc, c)
    folds = rf * cf
    fold_cycles = np.where(os_, 0, r) + r + c + t - 2
    compute = folds * fold_cycles - 1
    mk, kn, mn = m * k, k * n, m * n
    ifmap_sram = np.where(is_, mk, cf * mk)
    filter_sram = np.where(os_, rf * kn, np.where(ws, kn, cf * kn))
    ofmap_sram = np.where(os_, mn + folds * (r + c), rf * mn)
    writes = np.where(os_, mn, rf * mn)
    s_i, s_f, s_o = (_buffer_words(a[name], bits) for name in ("ifmap_kb", "filter_kb", "ofmap_kb"))
    footprint = a.get("ifmap_words", mk)
    tap = a.get("tap_words", footprint)
    # CALC mode
    w_i, w_f = 50 * (s_i // 100), 50 * (s_f // 100)
    per_pass = np.where(os_ | (tap < w_i), footprint, mk)
    calc_i = np.where((footprint < w_i) | is_, footprint, cf * per_pass)
    calc_f = np.where(
        ws, kn, np.where(is_, np.where(kn < w_f, kn, cf * kn), _os_filter_calc(k, n, c, rf, w_f))
    )
    # USER mode
    bw = a["bw"]
    entries_i = np.where(ws, rf * m * r, np.where(os_, rf * k * r, cf * k * c))
    entries_f = np.where(is_, rf * n * r, cf * k * c)
    window_f = _ceil(_ceil(s_f, 2), _ceil(s_f, 100)) * _ceil(s_f, 100)
    wide = (n // c) * (k * c > window_f) + ((n % c) > 0) * (k * (n % c) > window_f)
    lines = compute + 1
    user_i, stall_i = _ring(mk, entries_i, s_i, bw, np.where(is_, 1, cf), 0, lines)
    user_f, stall_f = _ring(
        kn, entries_f, s_f, bw, np.where(is_, cf, 1), np.where(os_, wide * (rf - 1), 0), lines
    )
    stall_o = _write_stall(writes, s_o, bw, lines)
    user = a["user"] == 1
    worst = np.maximum(np.maximum(stall_i, stall_f), np.maximum(stall_o, 0.0))
    ifmap_dram = np.where(user, user_i, calc_i)
    filter_dram = np.where(user, user_f, calc_f)
    stall = np.where(user, np.floor(worst).astype(np.int64), 0)
    busy_cycles = fold_cycles + np.where(os_, 0, c - 1)
    pes = r * c
    sram_pj = bits * (
        (ifmap_sram + ifmap_dram) * energy.sram_pj_per_bit(a["ifmap_kb"])
        + (filter_sram + filter_dram) * energy.sram_pj_per_bit(a["filter_kb"])
        + (ofmap_sram + writes) * energy.sram_pj_per_bit(a["ofmap_kb"])
    )
    times = a["count"]
    return {
        "pe_count": pes,
        "clock_mhz": a["clock"],
        "layers": np.ones_like(times),
        "macs": m * n * k * times,
        "folds": folds * times,
        "compute_cycles": compute * times,
        "stall_cycles": stall * times,
        "ifmap_sram_reads": ifmap_sram * times,
        "filter_sram_reads": filter_sram * times,
        "ofmap_sram_writes": ofmap_sram * times,
        "dram_ifmap_reads_words": ifmap_dram * times,
        "dram_filter_reads_words": filter_dram * times,
        "dram_ofmap_writes_words": writes * times,
        "mapped_pe_folds": sr * sc * times,
        "busy_fold_fraction": sr * sc * t / (pes * busy_cycles) * times,
        "mac_energy_pj": m * n * k * energy.mac_pj(element_bits) * times,
        "sram_energy_pj": sram_pj * times,
        "dram_energy_pj": (ifmap_dram + filter_dram + writes) * bits * energy.dram_pj_per_bit * times,
    }
