"""The tag page's timeline: where each mark goes and which marks get a label.

Geometry in CSS pixels: the SVG is drawn at its natural size inside a scroll container (never
scaled to the viewport), so 12 px labels stay 12 px on a phone and the room a label takes is
known here. Marks sit at their time on a linear axis, except that marks closer than ``GAP`` are
pushed apart, as little as possible, keeping their order; a long history widens the axis
instead of crowding it. Labels (a short digest above the axis and the time below it, at one of
two heights) go where they fit without overlapping; every mark keeps its full description as
its accessible name whether labelled or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MIN_WIDTH = 960.0
MARGIN = 48.0  # room for half a label at either end
GAP = 18.0  # between mark centres: two 7 px marks and a little air
LANES = 2
CHAR_WIDTH = 7.4  # a 12 px monospace glyph's advance (DejaVu Sans Mono: 0.602 em), rounded up
LABEL_PADDING = 8.0

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Placed:
    x: float
    above: str  # the short digest (or "deleted"); "" when the mark is left unlabelled
    below: str  # the time, as precise as the span of the timeline needs
    lane: int  # 0 next to the axis, 1 further out


@dataclass(frozen=True, slots=True)
class Timeline:
    width: float
    marks: list[Placed]


def layout(times_ms: Sequence[int], names: Sequence[str]) -> Timeline:
    """The timeline of marks at ``times_ms`` (ascending) named ``names`` above the axis."""
    count = len(times_ms)
    width = max(MIN_WIDTH, 2 * MARGIN + (count - 1) * GAP)
    if count == 0:
        return Timeline(width, [])
    first, last = times_ms[0], times_ms[-1]
    lo, hi = MARGIN, width - MARGIN
    if last > first:
        ideal = [lo + (t - first) / (last - first) * (hi - lo) for t in times_ms]
    else:
        ideal = [(lo + hi) / 2] * count
    xs = spread(ideal, lo, hi, GAP)
    fmt = time_format(first, last)
    belows = [fmt(t) for t in times_ms]
    widths = [max(len(a), len(b)) * CHAR_WIDTH for a, b in zip(names, belows, strict=True)]
    marks = []
    for x, lane, above, below in zip(xs, assign_lanes(xs, widths), names, belows, strict=True):
        shown = lane is not None
        marks.append(Placed(round(x, 2), above if shown else "", below if shown else "", lane or 0))
    return Timeline(width, marks)


def spread(ideal: Sequence[float], lo: float, hi: float, gap: float) -> list[float]:
    """Positions within [lo, hi], neighbours at least ``gap`` apart (less only when they cannot
    all fit), as close to ``ideal`` (ascending) as possible in the least-squares sense.

    With x_i = z_i + i * gap the gap constraint is "z is non-decreasing": the closest such z to
    ideal_i - i * gap is their isotonic regression (pool adjacent violators), and clamping it
    to the bounds keeps it non-decreasing.
    """
    count = len(ideal)
    if count == 0:
        return []
    if count > 1:
        gap = min(gap, (hi - lo) / (count - 1))
    blocks: list[tuple[float, int]] = []  # (sum, size) of pooled runs
    for index, x in enumerate(ideal):
        total, size = x - index * gap, 1
        while blocks and blocks[-1][0] / blocks[-1][1] > total / size:
            previous_total, previous_size = blocks.pop()
            total, size = total + previous_total, size + previous_size
        blocks.append((total, size))
    top = hi - (count - 1) * gap
    fitted = [min(max(total / size, lo), top) for total, size in blocks for _ in range(size)]
    return [z + index * gap for index, z in enumerate(fitted)]


def assign_lanes(xs: Sequence[float], widths: Sequence[float]) -> list[int | None]:
    """A lane for each label centred at ``xs`` that fits beside those already placed, or None.

    The newest and the oldest mark are placed first, so both ends of the history are always
    labelled; the rest follow from newest to oldest, the part of a history one reads first.
    """
    count = len(xs)
    taken: list[list[tuple[float, float]]] = [[] for _ in range(LANES)]
    chosen: list[int | None] = [None] * count
    order = [count - 1, *([0] if count > 1 else []), *range(count - 2, 0, -1)]
    for index in order:
        left = xs[index] - widths[index] / 2 - LABEL_PADDING / 2
        right = xs[index] + widths[index] / 2 + LABEL_PADDING / 2
        for lane, spans in enumerate(taken):
            if all(right <= start or left >= end for start, end in spans):
                spans.append((left, right))
                chosen[index] = lane
                break
    return chosen


def time_format(first_ms: int, last_ms: int) -> _Format:
    """How precisely the labels say when: dates for long spans, times within a day."""
    span = last_ms - first_ms
    start, end = _utc(first_ms), _utc(last_ms)
    if span >= 3 * DAY_MS:
        return _Format("%Y-%m-%d", millis=False)
    if start.date() != end.date():
        return _Format("%m-%d %H:%M", millis=False)
    if span >= 3_600_000:
        return _Format("%H:%M", millis=False)
    if span >= 60_000:
        return _Format("%H:%M:%S", millis=False)
    return _Format("%H:%M:%S", millis=True)


@dataclass(frozen=True, slots=True)
class _Format:
    pattern: str
    millis: bool

    def __call__(self, ms: int) -> str:
        text = _utc(ms).strftime(self.pattern)
        return f"{text}.{ms % 1000:03d}" if self.millis else text


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
