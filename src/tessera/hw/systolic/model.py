"""The closed-form cost of one GEMM on a systolic array, written plainly: the reference for ``batch``.

The behaviour is SCALE-Sim v3's, re-derived from how its compute and memory models work:

Mapping (M x K times K x N; a convolution is its im2col GEMM). Each dataflow puts two GEMM dimensions
on the array and streams the third in time: OS rows<-M, cols<-N, time<-K; WS rows<-K, cols<-N,
time<-M; IS rows<-K, cols<-M, time<-N. ``row_folds = ceil(Sr / rows)``, ``col_folds = ceil(Sc /
cols)``; col folds are the outer loop. A fold takes ``rows + cols + T - 2`` cycles in OS and
``2 rows + cols + T - 2`` in WS and IS (the stationary operand is loaded first); the layer takes
``folds x fold cycles - 1`` cycles without stalls.

SRAM accesses count what the array requests: WS reads the ifmap once per col fold, each weight once
and writes every output once per row fold (partial sums); IS reads each input once, the weights once
per col fold and writes outputs once per row fold; OS reads the ifmap once per col fold and the
weights once per row fold, and writes each output once, plus ``rows + cols`` per fold that SCALE-Sim
adds to its write count (its padded output block's height plus width). DRAM output writes are the
outputs actually written: SCALE-Sim drains every SRAM write, partial sums included.

DRAM reads, CALC mode. SCALE-Sim remembers the words it fetched since its last reset, in sets of
``floor(words / 100)``; after 50 full sets (``window = 50 floor(words / 100)`` words, about half the
buffer) it forgets them all. An operand with ``D < window`` distinct words is fetched once however
often it is read; a GEMM operand with ``D >= window`` is fetched every time it is read (exact). The OS
filter repeats each col-fold block of ``K x cols`` weights ``row_folds`` times in a row, so what stays
from one block to the next is tracked block by block (``_os_filter_calc``, exact). A convolution's
im2col repeats input words. With its input footprint under the window it is fetched once (exact).
Above, an estimate: OS and IS stream every output pixel's whole window before the next pixel, so
neighbouring pixels share their inputs within a pass and each pass fetches about the footprint. That
holds while one output row's input band (filter height x input width x channels) sits well inside
the window (within 16 % of SCALE-Sim on random layers whose band is under 30 % of it, within 10 % on
the golden rows); with larger bands SCALE-Sim refetches rows and this undercounts (down to 0.03x).
WS streams one filter tap's input slab (``M x channels`` words) at a time and the next tap reuses it
only if the slab fits the window: then each pass fetches about the footprint, else every im2col word
(0.5x to 7x of SCALE-Sim). Use ``fidelity="trace"`` for exact counts of such convolutions.

DRAM reads, USER mode. The first half of the buffer is filled before the layer starts (whole
bandwidth lines); after that the buffer refills its other half, ``ceil(half / bw) x bw`` words a
time, each time the array asks for a word beyond the window. SCALE-Sim keeps the operand on a ring
in prefetch order and only moves the window forward: a demand order that steps back past the window
start goes all the way round the ring and re-reads the whole operand. Where that wrap is forced by
the dataflow (an OS weight block larger than the window, read again for each row fold) this model
counts it; the wraps that depend on where fold boundaries fall against the window (see
``tessera.hw.systolic.trace``) it does not, and there it reads less than SCALE-Sim.

Stalls, USER mode. Refills run back to back, each its lines plus one cycle of latency, and SCALE-Sim
stalls a line that waits for one twice its wait; the output buffer drains half of itself at a time
and only waits for a drain to end once it has taken half a buffer more. Assuming the array asks at
an even pace, each buffer's wait has a closed form (``Refills.stall``, ``write_stall``); the layer
stalls by the largest. Where SCALE-Sim's ring does not wrap, total cycles are within 10 % of its on
the golden rows and on random GEMMs on 4-32 PE arrays (3 % at the 95th percentile), within 16 % on
tiny arrays and buffers whose bursts of outputs the even pace smooths over. CALC mode has no
stalls: reads are sized not to stall and outputs drain ``cols`` words per cycle, as fast as the
array writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tessera.hw.systolic.arch import SystolicArray
from tessera.hw.systolic.results import SystolicCost


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Mapping:
    """How a GEMM folds onto the array: spatial sizes ``sr x sc``, time ``t``, fold counts."""

    sr: int
    sc: int
    t: int
    row_folds: int
    col_folds: int
    fold_cycles: int

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds


@lru_cache(maxsize=4096)
def map_gemm(arch: SystolicArray, m: int, n: int, k: int) -> Mapping:
    """The dataflow's mapping of an ``m x k`` by ``k x n`` GEMM."""
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[arch.dataflow]
    fill = 0 if arch.dataflow == "os" else arch.rows
    return Mapping(
        sr=sr,
        sc=sc,
        t=t,
        row_folds=_ceil(sr, arch.rows),
        col_folds=_ceil(sc, arch.cols),
        fold_cycles=fill + arch.rows + arch.cols + t - 2,
    )


def sram_accesses(arch: SystolicArray, m: int, n: int, k: int) -> tuple[int, int, int]:
    """SCALE-Sim's (ifmap reads, filter reads, ofmap writes), in words."""
    mp = map_gemm(arch, m, n, k)
    if arch.dataflow == "os":
        return mp.col_folds * m * k, mp.row_folds * k * n, m * n + mp.folds * (arch.rows + arch.cols)
    if arch.dataflow == "ws":
        return mp.col_folds * m * k, k * n, mp.row_folds * m * n
    return m * k, mp.col_folds * k * n, mp.row_folds * m * n


def ofmap_dram_writes(arch: SystolicArray, m: int, n: int, k: int) -> int:
    """Output words written to DRAM: every SRAM write, partial sums included (none extra in OS)."""
    if arch.dataflow == "os":
        return m * n
    return map_gemm(arch, m, n, k).row_folds * m * n


def calc_window(buffer_words: int) -> int:
    """Words SCALE-Sim's CALC mode remembers before it forgets them all: 50 sets of 1/100 buffer."""
    return 50 * (buffer_words // 100)


def _os_filter_calc(arch: SystolicArray, n: int, k: int, row_folds: int, window: int) -> int:
    """Filter words fetched in OS, CALC mode: each col-fold block repeats ``row_folds`` times."""
    fetched, remembered = 0, 0  # remembered: words fetched since the last reset
    for start in range(0, n, arch.cols):
        block = k * min(arch.cols, n - start)
        if row_folds == 1:
            fetched += block
            remembered = (remembered + block) % window
        elif block >= window:  # forgotten before it comes round again: fetched every time
            fetched += row_folds * block
            remembered = (remembered + row_folds * block) % window
        elif remembered + block < window:  # stays whole: fetched once
            fetched += block
            remembered += block
        else:  # a reset inside the first pass keeps only its tail; the second pass refetches the rest
            tail = remembered + block - window
            fetched += 2 * block - tail
            remembered = block
    return fetched


def calc_dram_reads(
    arch: SystolicArray, m: int, n: int, k: int, ifmap_words: int, tap_words: int
) -> tuple[int, int]:
    """(ifmap, filter) words read from DRAM in CALC mode. ``ifmap_words``: distinct ifmap words
    (``m * k`` for a GEMM, the input footprint for a convolution); ``tap_words``: distinct words one
    filter tap reads (``m * k`` for a GEMM, ``m x channels`` for a convolution)."""
    mp = map_gemm(arch, m, n, k)
    w_i, w_f = calc_window(arch.ifmap_sram_words), calc_window(arch.filter_sram_words)
    if ifmap_words < w_i or arch.dataflow == "is":  # fetched once, or read once (IS)
        ifmap = ifmap_words
    elif arch.dataflow == "os" or tap_words < w_i:
        ifmap = mp.col_folds * ifmap_words
    else:
        ifmap = mp.col_folds * m * k
    if arch.dataflow == "ws":
        filt = k * n
    elif arch.dataflow == "is":
        filt = k * n if k * n < w_f else mp.col_folds * k * n
    else:
        filt = _os_filter_calc(arch, n, k, mp.row_folds, w_f)
    return ifmap, filt


@dataclass(frozen=True)
class Refills:
    """One read buffer in USER mode: words read from DRAM and the refills that read them.

    The operand streams through ``stream_sets`` sets of the ring (passes and forced wraps
    included); the first ``active_sets`` arrive before the layer starts, then each refill brings
    ``refill_sets`` more and keeps DRAM busy ``cycles_per_refill`` cycles."""

    words: int
    refills: int
    cycles_per_refill: int
    stream_sets: int = 1
    active_sets: int = 1
    refill_sets: int = 0

    def stall(self, lines: int) -> float:
        """Cycles this buffer makes the array wait, if the array asks for refills at an even pace
        over ``lines`` cycles.

        Refill ``k`` is ready at ``k x cycles_per_refill`` and asked for once the array has
        consumed ``active_sets + (k - 1) refill_sets`` of the stream: it comes ``p_k`` cycles late,
        ``p_k`` growing by ``g`` (a refill's time minus the lines between two asks) each refill.
        SCALE-Sim stalls a waiting line twice its wait, so from the first late refill ``j`` on the
        stalls alternate: ``2 p_j``, then ``2 (g - p_j)``, ... The total is the last refill's
        lateness ``p_n`` plus ``p_j`` (an odd number of late refills) or ``g - p_j`` (even)."""
        if self.refills == 0:
            return 0.0
        n, cycles = self.refills, self.cycles_per_refill
        first = cycles - min(self.active_sets / self.stream_sets, 1.0) * lines
        gap = cycles - self.refill_sets / self.stream_sets * lines
        asked_last = (self.active_sets + (n - 1) * self.refill_sets) / self.stream_sets
        last = n * cycles - min(asked_last, 1.0) * lines
        if gap <= 0:  # the array catches up: only the first refill can be late
            return 2 * max(first, 0.0)
        late_from = 1 if first > 0 else int(-first // gap) + 2
        if late_from > n:
            return 0.0
        first_late = first + (late_from - 1) * gap
        odd = (n - late_from) % 2 == 0
        return last + (first_late if odd else max(0.0, gap - first_late))


def window_words(buffer_words: int) -> int:
    """Words in the USER-mode active window: the sets (of ``ceil(words / 100)``) that hold half."""
    set_words = _ceil(buffer_words, 100)
    return _ceil(_ceil(buffer_words, 2), set_words) * set_words


def _ring_refills(valid: int, entries: int, buffer_words: int, bw: int, passes: int, wraps: int) -> Refills:
    """USER-mode reads of one operand of ``valid`` words laid out in ``entries`` prefetch slots
    (padding included), read in prefetch order ``passes`` times, plus ``wraps`` forced trips round
    the ring."""
    set_words = _ceil(buffer_words, 100)
    active = _ceil(buffer_words, 2)
    refill = buffer_words - active
    sets = valid // set_words + 1
    active_sets = min(sets, _ceil(active, set_words))
    refill_sets = min(sets - active_sets, _ceil(refill, set_words))
    cycles = _ceil(refill, bw)
    first = min(_ceil(active, bw), _ceil(entries, bw)) * bw
    if refill_sets == 0:
        return Refills(first, 0, cycles + 1)
    last_set = (passes - 1 + wraps) * sets + (valid - 1) // set_words
    refills = _ceil(last_set - active_sets + 1, refill_sets)
    return Refills(first + refills * cycles * bw, refills, cycles + 1, last_set + 1, active_sets, refill_sets)


def user_refills(arch: SystolicArray, m: int, n: int, k: int) -> tuple[Refills, Refills]:
    """(ifmap, filter) USER-mode reads."""
    mp = map_gemm(arch, m, n, k)
    r, c, df = arch.rows, arch.cols, arch.dataflow
    bw = arch.dram_bandwidth_words_per_cycle
    assert bw is not None
    s_i, s_f = arch.ifmap_sram_words, arch.filter_sram_words
    if df == "ws":
        ifmap = _ring_refills(m * k, mp.row_folds * m * r, s_i, bw, mp.col_folds, 0)
        filt = _ring_refills(k * n, mp.col_folds * k * c, s_f, bw, 1, 0)
    elif df == "os":
        ifmap = _ring_refills(m * k, mp.row_folds * k * r, s_i, bw, mp.col_folds, 0)
        # each weight block (K x cols) is read once per row fold; one larger than the window is
        # gone when it comes round again, and the window reaches it only by going round the ring
        widths = [min(c, n - start) for start in range(0, n, c)]
        wide = sum(1 for width in widths if k * width > window_words(s_f))
        filt = _ring_refills(k * n, mp.col_folds * k * c, s_f, bw, 1, wide * (mp.row_folds - 1))
    else:
        ifmap = _ring_refills(m * k, mp.col_folds * k * c, s_i, bw, 1, 0)
        filt = _ring_refills(k * n, mp.row_folds * n * r, s_f, bw, mp.col_folds, 0)
    return ifmap, filt


def write_stall(arch: SystolicArray, lines: int, writes: int) -> float:
    """Cycles the output buffer makes the array wait, if outputs arrive at an even pace.

    Once more than half the buffer is used it drains that half (``drain`` words, one line of the
    drain bandwidth per cycle) and counts the space free at once; a second drain must wait for the
    first to end. So the first ``drain + words`` outputs never wait; after that, drain ``k`` can
    start no sooner than ``k - 1`` drain times after the first, and the array waits for the last
    one it needs."""
    words = arch.ofmap_sram_words
    drain = words - _ceil(words, 2)
    if writes <= drain + words:
        return 0.0
    more = _ceil(writes - drain - words, drain)  # drains after the first the array must see start
    drain_cycles = _ceil(drain, arch.ofmap_drain_words_per_cycle) - 1
    first = (drain + 1) / writes * lines
    return first + more * drain_cycles - (words + more * drain) / writes * lines


def user_stall_cycles(
    arch: SystolicArray, compute_cycles: int, reads: tuple[Refills, Refills], writes: int
) -> int:
    """Cycles the array waits for DRAM in USER mode: the largest wait any buffer causes
    (``Refills.stall``, ``write_stall``), with the array working at an even pace."""
    lines = compute_cycles + 1
    return int(max(0.0, reads[0].stall(lines), reads[1].stall(lines), write_stall(arch, lines, writes)))


def gemm_cost(
    arch: SystolicArray,
    m: int,
    n: int,
    k: int,
    ifmap_words: int | None = None,
    tap_words: int | None = None,
) -> SystolicCost:
    """The cost of one ``m x k`` by ``k x n`` GEMM. For a convolution's im2col, which repeats its
    inputs, ``ifmap_words`` is its distinct input words and ``tap_words`` those one filter tap reads
    (both default to ``m * k``)."""
    check_gemm(m, n, k)
    ifmap_words = m * k if ifmap_words is None else ifmap_words
    tap_words = ifmap_words if tap_words is None else tap_words
    if not isinstance(ifmap_words, int) or not 1 <= ifmap_words <= m * k:
        raise ValueError(f"ifmap_words must be an integer in 1..m*k={m * k}, got {ifmap_words!r}")
    if not isinstance(tap_words, int) or not 1 <= tap_words <= ifmap_words:
        raise ValueError(f"tap_words must be an integer in 1..ifmap_words={ifmap_words}, got {tap_words!r}")
    mp = map_gemm(arch, m, n, k)
    compute = mp.folds * mp.fold_cycles - 1
    writes = ofmap_dram_writes(arch, m, n, k)
    if arch.bandwidth_mode == "calc":
        ifmap_dram, filter_dram = calc_dram_reads(arch, m, n, k, ifmap_words, tap_words)
        stall = 0
    else:
        reads = user_refills(arch, m, n, k)
        ifmap_dram, filter_dram = reads[0].words, reads[1].words
        stall = user_stall_cycles(arch, compute, reads, writes)
    return assemble(arch, m, n, k, compute, stall, (ifmap_dram, filter_dram, writes))


def check_gemm(m: int, n: int, k: int) -> None:
    """ValueError naming the first GEMM dimension that is not a positive integer."""
    for name, value in (("m", m), ("n", n), ("k", k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"GEMM dimension {name} must be a positive integer, got {value!r}")


def assemble(
    arch: SystolicArray, m: int, n: int, k: int, compute: int, stall: int, dram: tuple[int, int, int]
) -> SystolicCost:
    """A ``SystolicCost`` from the cycle and DRAM counts; SRAM counts, ratios and energy follow."""
    mp = map_gemm(arch, m, n, k)
    ifmap_sram, filter_sram, ofmap_sram = sram_accesses(arch, m, n, k)
    ifmap_dram, filter_dram, writes = dram
    # SCALE-Sim's compute utilization divides by the fold's demand rows plus columns minus one
    busy_cycles = mp.fold_cycles + (arch.cols - 1 if arch.dataflow != "os" else 0)
    e, bits = arch.energy, arch.bits_per_word
    # every DRAM word read is also written into its SRAM, every output drained is read from it
    sram_pj = bits * (
        (ifmap_sram + ifmap_dram) * e.sram_pj_per_bit(arch.ifmap_sram_kb)
        + (filter_sram + filter_dram) * e.sram_pj_per_bit(arch.filter_sram_kb)
        + (ofmap_sram + writes) * e.sram_pj_per_bit(arch.ofmap_sram_kb)
    )
    return SystolicCost(
        pe_count=arch.pe_count,
        clock_mhz=arch.clock_mhz,
        layers=1,
        macs=m * n * k,
        folds=mp.folds,
        compute_cycles=compute,
        stall_cycles=stall,
        ifmap_sram_reads=ifmap_sram,
        filter_sram_reads=filter_sram,
        ofmap_sram_writes=ofmap_sram,
        dram_ifmap_reads_words=ifmap_dram,
        dram_filter_reads_words=filter_dram,
        dram_ofmap_writes_words=writes,
        mapped_pe_folds=mp.sr * mp.sc,
        busy_fold_fraction=mp.sr * mp.sc * mp.t / (arch.pe_count * busy_cycles),
        mac_energy_pj=m * n * k * e.mac_pj(arch.element_bits),
        sram_energy_pj=float(sram_pj),
        dram_energy_pj=(ifmap_dram + filter_dram + writes) * bits * e.dram_pj_per_bit,
    )
