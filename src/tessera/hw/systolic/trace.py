"""SCALE-Sim v3's memory system replayed request by request: the exact, slow reference.

``trace_cost`` walks the same fold and cycle schedule as SCALE-Sim's compute model, sends every
operand address to a model of its read and write buffers, and returns the same numbers its reports
do, including what its USER-mode prefetch ring does when the demand order steps backwards (see
``tessera.hw.systolic.model``). It is written from a reading of how SCALE-Sim behaves, not from its
code; the tests hold it to SCALE-Sim's own reports, cycle for cycle.

The buffers, as SCALE-Sim models them (``words`` is a buffer's capacity):

- CALC read buffer: remembers the distinct words fetched since its last reset and resets after
  ``50 * floor(words / 100)`` of them; a word not remembered is read from DRAM. It never stalls.
- USER read buffer: the operand sits on a ring in prefetch order, cut into sets of
  ``ceil(words / 100)`` words; the active window is the sets that hold half the buffer. The first
  half is fetched before the layer starts. A request outside the window slides it forward, one
  refill (``ceil(half / bw)`` lines of ``bw`` words, plus one cycle of latency) at a time, until the
  word is inside; refills run back to back from when the last one finished. A line that waits
  ``p > 0`` cycles for a refill stalls ``2p`` (SCALE-Sim adds the wait to its offset twice).
- Write buffer (both modes): collects output words in lines of ``bw`` words (``cols`` in CALC
  mode); once more than half is full, it drains the oldest half to DRAM, one line per cycle, and the
  array stalls only if the buffer fills before that drain ends. Draining pushes out a half-filled
  current line; its empty slots are counted as written unless it is the last line drained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessera.hw.systolic.arch import SystolicArray
from tessera.hw.systolic.model import assemble, calc_window, check_gemm, map_gemm
from tessera.hw.systolic.results import SystolicCost
from tessera.workload.shapes import ConvShape, GemmShape


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class TraceStats:
    """Refills the USER-mode read buffers made (zeros in CALC mode), to set against
    ``model.user_refills``: where they differ, SCALE-Sim's ring wrapped where the model does not."""

    ifmap_refills: int
    filter_refills: int


def operand_addresses(layer: GemmShape | ConvShape) -> tuple[np.ndarray, np.ndarray]:
    """(ifmap ``M x K``, filter ``K x N``) word addresses of one group, laid out as SCALE-Sim does:
    inputs channel-fastest (an im2col input word appears once per filter tap that reads it),
    weights filter by filter."""
    g = layer if isinstance(layer, GemmShape) else layer.gemm()
    m, n, k = g.m, g.n, g.k
    filt = np.arange(n, dtype=np.int64)[None, :] * k + np.arange(k, dtype=np.int64)[:, None]
    if isinstance(layer, GemmShape):
        return np.arange(m * k, dtype=np.int64).reshape(m, k), filt
    cg = layer.channels // layer.groups
    b, pix = np.divmod(np.arange(m, dtype=np.int64), layer.ofmap_h * layer.ofmap_w)
    oy, ox = np.divmod(pix, layer.ofmap_w)
    row = ((b * layer.ifmap_h + oy * layer.stride_h) * layer.ifmap_w + ox * layer.stride_w) * cg
    tap, c = np.divmod(np.arange(k, dtype=np.int64), cg)
    fy, fx = np.divmod(tap, layer.filter_w)
    col = (fy * layer.ifmap_w + fx) * cg + c
    return row[:, None] + col[None, :], filt


def _diagonal_order(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a ``rows x cols`` matrix by anti-diagonal, then column: the order the array's skew
    consumes it (and SCALE-Sim lays out some prefetch sequences)."""
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    order = np.lexsort((j.ravel(), (i + j).ravel()))
    return i.ravel()[order], j.ravel()[order]


def _stack(blocks: list[np.ndarray], width: int) -> np.ndarray:
    """Blocks stacked vertically, each padded with -1 on the right to ``width`` columns."""
    out = np.full((sum(b.shape[0] for b in blocks), width), -1, dtype=np.int64)
    row = 0
    for b in blocks:
        out[row : row + b.shape[0], : b.shape[1]] = b
        row += b.shape[0]
    return out


class _Folds:
    """The per-fold request streams of one dataflow: requests in issue order with their line."""

    def __init__(self, arch: SystolicArray, ifmap: np.ndarray, filt: np.ndarray) -> None:
        self.arch, self.ifmap, self.filt = arch, ifmap, filt
        m, k = ifmap.shape
        n = filt.shape[1]
        self.map = map_gemm(arch, m, n, k)
        r, c = arch.rows, arch.cols
        mp = self.map
        self.fold_lines = mp.fold_cycles
        if arch.dataflow == "ws":
            self.ifmap_fetch = self._diag(_stack([ifmap[:, i : i + r] for i in range(0, k, r)], r))
            self.filter_fetch = self._flat(_stack([filt[:, j : j + c] for j in range(0, n, c)], c))
        elif arch.dataflow == "os":
            self.ifmap_fetch = self._diag(_stack([ifmap[i : i + r, :].T for i in range(0, m, r)], r))
            self.filter_fetch = self._diag(_stack([filt[:, j : j + c] for j in range(0, n, c)], c))
        else:
            self.ifmap_fetch = self._flat(_stack([ifmap[j : j + c, :].T for j in range(0, m, c)], c))
            self.filter_fetch = self._diag(_stack([filt[i : i + r, :].T for i in range(0, k, r)], r))

    @staticmethod
    def _diag(stacked: np.ndarray) -> tuple[np.ndarray, int]:
        i, j = _diagonal_order(*stacked.shape)
        seq = stacked[i, j]
        return seq[seq >= 0], seq.size

    @staticmethod
    def _flat(stacked: np.ndarray) -> tuple[np.ndarray, int]:
        seq = stacked.ravel()
        return seq[seq >= 0], seq.size

    def __iter__(self):
        """Per fold: ((ifmap lines, addresses), (filter lines, addresses), writes per line)."""
        arch, a, b = self.arch, self.ifmap, self.filt
        r, c, df, mp = arch.rows, arch.cols, arch.dataflow, self.map
        lines = self.fold_lines
        for fc in range(mp.col_folds):
            for fr in range(mp.row_folds):
                rs = slice(fr * r, (fr + 1) * r)
                cs = slice(fc * c, (fc + 1) * c)
                if df == "ws":
                    ifm = self._skewed(a[:, rs], r)
                    fil = self._preload(b[rs, cs], r)
                    writes = self._skew_counts(a.shape[0], b[rs, cs].shape[1], 2 * r - 1, lines)
                elif df == "os":
                    ifm = self._skewed(a[rs, :].T, 0)
                    fil = self._skewed(b[:, cs], 0)
                    rows_used, cols_used = a[rs, :].shape[0], b[:, cs].shape[1]
                    i, j = np.meshgrid(np.arange(rows_used), np.arange(cols_used), indexing="ij")
                    at = (mp.t - 1 + (r - 1 - i) + j).ravel()
                    writes = np.bincount(at, minlength=lines)
                else:
                    ifm = self._preload(a[cs, :].T[rs, :], r)
                    fil = self._skewed(b[rs, :].T, r)
                    writes = self._skew_counts(b.shape[1], a[cs, :].shape[0], 2 * r - 1, lines)
                yield ifm, fil, writes

    @staticmethod
    def _skewed(block: np.ndarray, first_line: int) -> tuple[np.ndarray, np.ndarray]:
        """A block streamed row by row, column ``j`` one cycle behind column ``j - 1``."""
        i, j = _diagonal_order(*block.shape)
        return i + j + first_line, block[i, j]

    @staticmethod
    def _preload(block: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """A stationary block loaded bottom row first, one row per cycle (padding rows first)."""
        i = np.repeat(np.arange(block.shape[0] - 1, -1, -1), block.shape[1])
        j = np.tile(np.arange(block.shape[1]), block.shape[0])
        return rows - 1 - i, block[i, j]

    @staticmethod
    def _skew_counts(t: int, cols_used: int, first_line: int, lines: int) -> np.ndarray:
        i, j = np.meshgrid(np.arange(t), np.arange(cols_used), indexing="ij")
        return np.bincount((i + j).ravel() + first_line, minlength=lines)


class _CalcReads:
    """CALC-mode read buffer: counts the DRAM words; never stalls."""

    def __init__(self, addresses: int, buffer_words: int) -> None:
        self.window = calc_window(buffer_words)
        self.stamp = np.full(addresses, -1, dtype=np.int64)
        self.epoch, self.held, self.words, self.refills = 0, 0, 0, 0

    def events(self, lines: np.ndarray, addrs: np.ndarray) -> list[tuple[int, int]]:
        """Counts the words fetched; CALC mode has no refill events."""
        self._fetch(addrs)
        return []

    def _fetch(self, addrs: np.ndarray) -> None:
        while addrs.size:
            new = np.nonzero(self.stamp[addrs] != self.epoch)[0]
            _, first = np.unique(addrs[new], return_index=True)
            misses = new[np.sort(first)]  # first request of each word not remembered, in order
            if self.held + misses.size < self.window:
                self.stamp[addrs[misses]] = self.epoch
                self.held += misses.size
                self.words += misses.size
                return
            kept = misses[: self.window - self.held]
            self.stamp[addrs[kept]] = self.epoch
            self.words += kept.size
            self.epoch, self.held = self.epoch + 1, 0
            addrs = addrs[kept[-1] + 1 :]


class _UserReads:
    """USER-mode read buffer: the ring of sets, the sliding window and its refill events."""

    def __init__(self, fetch: tuple[np.ndarray, int], addresses: int, buffer_words: int, bw: int) -> None:
        seq, entries = fetch
        set_words = _ceil(buffer_words, 100)
        active, refill = _ceil(buffer_words, 2), buffer_words - _ceil(buffer_words, 2)
        self.sets = seq.size // set_words + 1
        self.active = min(self.sets, _ceil(active, set_words))
        self.step = min(self.sets - self.active, _ceil(refill, set_words))
        self.refill_lines = _ceil(refill, bw)
        self.words = min(_ceil(active, bw), _ceil(entries, bw)) * bw
        self.bw = bw
        # the sets holding each address (an im2col input word sits in several), -1 padded
        set_of = np.arange(seq.size, dtype=np.int64) // set_words
        order = np.argsort(seq, kind="stable")
        counts = np.bincount(seq, minlength=addresses)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(seq.size) - np.repeat(starts, counts)
        self.table = np.full((addresses, max(1, int(counts.max(initial=1)))), -1, dtype=np.int64)
        self.table[seq[order], rank] = set_of[order]
        self.start, self.refills = 0, 0
        self.ready = -1  # cycle the last refill completes (the first half arrives before cycle 0)

    def events(self, lines: np.ndarray, addrs: np.ndarray) -> list[tuple[int, int]]:
        """(line, refills) for each request that misses, in order; moves the window."""
        out: list[tuple[int, int]] = []
        if self.step == 0:
            return out
        sets = self.table[addrs]
        done = 0
        while done < addrs.size:
            ahead = (sets[done:] - self.start) % self.sets
            hit = ((sets[done:] >= 0) & (ahead < self.active)).any(axis=1)
            misses = np.nonzero(~hit)[0]
            if misses.size == 0:
                break
            i = done + int(misses[0])
            dist = ahead[misses[0]][sets[i] >= 0]
            slides = int(((dist - self.active + 1 + self.step - 1) // self.step).min())
            self.start = (self.start + slides * self.step) % self.sets
            self.refills += slides
            self.words += slides * self.refill_lines * self.bw
            out.append((int(lines[i]), slides))
            done = i + 1
        return out

    def line_stall(self, refills: list[int], cycle: int) -> int:
        """Stall of a line issued at ``cycle`` whose missed requests start ``refills`` refills each."""
        offset = 1  # the hit latency
        for count in refills:
            for _ in range(count):
                self.ready += self.refill_lines + 1  # back to back, plus one cycle of latency
                wait = self.ready - (cycle + offset)
                offset += 2 * wait if wait > 0 else wait
        return offset - 1


class _WriteBuffer:
    """The output buffer and its drains; ``write`` returns the cycles a line waits."""

    def __init__(self, buffer_words: int, bw: int) -> None:
        self.size, self.bw = buffer_words, bw
        self.active = _ceil(buffer_words, 2)
        self.drain_lines = _ceil(buffer_words - self.active, bw)
        self.free, self.fill, self.closed, self.drained = buffer_words, 0, 0, 0
        self.partial: dict[int, int] = {}  # closed line -> words, for lines pushed out half-filled
        self.drain_end, self.words = 0, 0

    def _store(self, count: int) -> None:
        self.free -= count
        self.closed += (self.fill + count) // self.bw
        self.fill = (self.fill + count) % self.bw

    def _drain(self, cycle: int) -> int:
        last = min(self.drained + self.drain_lines, self.closed)
        lines = last - self.drained
        words = lines * self.bw - (self.bw - self.partial.pop(last - 1, self.bw))
        self.words += words
        self.free += words
        self.drained = last
        return cycle + lines - 1

    def _push_out(self) -> None:
        if self.fill:
            self.partial[self.closed] = self.fill
            self.closed, self.fill = self.closed + 1, 0

    def write(self, count: int, cycle: int) -> int:
        now = cycle
        while count:
            if now < self.drain_end:
                if self.free - count > 0:
                    self._store(count)
                    return now - cycle
                stored = max(self.free, 1)
                self._store(stored)
                now = self.drain_end
            else:
                if self.free - count >= self.active:
                    self._store(count)
                    return now - cycle
                stored = max(self.free - self.active + 1, 1)
                self._store(stored)
                self._push_out()
                self.drain_end = self._drain(now)
            count -= stored
        return now - cycle

    def finish(self) -> None:
        self._push_out()
        while self.drained < self.closed:
            self._drain(0)


def trace_cost(arch: SystolicArray, layer: GemmShape | ConvShape) -> tuple[SystolicCost, TraceStats]:
    """The cost of ``layer`` replayed request by request (all its groups), and read-buffer counts."""
    if not isinstance(layer, (GemmShape, ConvShape)):
        raise TypeError(f"trace_cost costs a GemmShape or ConvShape, not {type(layer).__name__}")
    g = layer if isinstance(layer, GemmShape) else layer.gemm()
    check_gemm(g.m, g.n, g.k)
    ifmap, filt = operand_addresses(layer)
    folds = _Folds(arch, ifmap, filt)
    n_ifmap, n_filter = int(ifmap.max()) + 1, int(filt.max()) + 1
    reads: tuple[_UserReads, _UserReads] | tuple[_CalcReads, _CalcReads]
    if arch.bandwidth_mode == "user":
        bw = arch.dram_bandwidth_words_per_cycle
        assert bw is not None
        reads = (
            _UserReads(folds.ifmap_fetch, n_ifmap, arch.ifmap_sram_words, bw),
            _UserReads(folds.filter_fetch, n_filter, arch.filter_sram_words, bw),
        )
    else:
        reads = (_CalcReads(n_ifmap, arch.ifmap_sram_words), _CalcReads(n_filter, arch.filter_sram_words))
    out = _WriteBuffer(arch.ofmap_sram_words, arch.ofmap_drain_words_per_cycle)
    stall, base = 0, 0
    for requests_i, requests_f, writes in folds:
        events: dict[int, tuple[list[int], list[int]]] = {}
        for which, (lines, addrs) in enumerate((requests_i, requests_f)):
            for line, count in reads[which].events(lines, addrs):
                events.setdefault(line, ([], []))[which].append(count)
        for line in sorted(set(np.nonzero(writes)[0].tolist()) | set(events)):
            cycle = base + line + stall
            wait = out.write(int(writes[line]), cycle) if writes[line] else 0
            for buffer, refills in zip(reads, events.get(line, ([], []))):
                if refills:
                    wait = max(wait, buffer.line_stall(refills, cycle))
            stall += wait
        base += folds.fold_lines
    out.finish()
    dram = (reads[0].words, reads[1].words, out.words)
    cost = assemble(arch, g.m, g.n, g.k, base - 1, stall, dram).scaled(g.count)
    stats = TraceStats(reads[0].refills, reads[1].refills)
    return cost, stats
