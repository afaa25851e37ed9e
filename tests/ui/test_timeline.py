"""The timeline's geometry, directly: marks apart but near their time, labels that never
overlap, both ends always labelled, and labels as precise as the span needs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagtrail.ui import timeline
from tagtrail.ui.timeline import GAP, MARGIN, MIN_WIDTH, assign_lanes, layout, spread

BASE_MS = int(datetime(2025, 1, 1, 8, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000


def test_marks_far_apart_stay_at_their_time() -> None:
    assert spread([100.0, 400.0, 900.0], 48, 912, GAP) == [100.0, 400.0, 900.0]


def test_marks_at_one_instant_spread_around_it() -> None:
    # Pushed apart symmetrically (least squares), not all to one side of their time.
    assert spread([500.0, 500.0, 500.0], 48, 912, 18) == pytest.approx([482.0, 500.0, 518.0])


def test_marks_crowding_an_end_stay_inside() -> None:
    assert spread([48.0, 48.0, 48.0], 48, 912, 18) == pytest.approx([48.0, 66.0, 84.0])
    assert spread([912.0, 912.0], 48, 912, 18) == pytest.approx([894.0, 912.0])


def test_too_many_marks_for_the_room_share_it_evenly() -> None:
    assert spread([50.0] * 5, 0, 40, 18) == pytest.approx([0.0, 10.0, 20.0, 30.0, 40.0])


@given(st.lists(st.floats(min_value=48, max_value=912), min_size=1, max_size=49))
def test_spread_keeps_order_gap_and_bounds(ideal: list[float]) -> None:
    placed = spread(sorted(ideal), 48, 912, GAP)
    assert len(placed) == len(ideal)
    assert all(48 - 1e-6 <= x <= 912 + 1e-6 for x in placed)
    assert all(b - a >= GAP - 1e-6 for a, b in itertools.pairwise(placed))


def test_long_histories_widen_the_axis_instead_of_crowding_it() -> None:
    few = layout([BASE_MS, BASE_MS + 1], ["a", "b"])
    assert few.width == MIN_WIDTH
    many = layout([BASE_MS + n for n in range(100)], ["abcdefg"] * 100)
    assert many.width == 2 * MARGIN + 99 * GAP
    xs = [mark.x for mark in many.marks]
    assert all(b - a >= GAP - 0.02 for a, b in itertools.pairwise(xs))


def test_labels_do_not_overlap_and_both_ends_are_labelled() -> None:
    xs = [48.0, 66.0, 84.0, 102.0, 400.0, 912.0]
    lanes = assign_lanes(xs, [52.0] * len(xs))
    assert lanes[0] is not None and lanes[-1] is not None
    assert lanes[4] is not None  # a mark between the ends with room gets its label
    assert None in lanes  # the crowded ones cannot all have one
    for lane in (0, 1):
        spans = sorted((xs[i] - 26, xs[i] + 26) for i, found in enumerate(lanes) if found == lane)
        assert all(a[1] + timeline.LABEL_PADDING <= b[0] for a, b in itertools.pairwise(spans))


def test_every_mark_is_labelled_where_there_is_room() -> None:
    times = [BASE_MS + n * HOUR_MS for n in range(6)]
    laid = layout(times, [f"d{n}" for n in range(6)])
    assert [(m.above, m.below) for m in laid.marks] == [
        (f"d{n}", f"{8 + n:02d}:00") for n in range(6)
    ]


@pytest.mark.parametrize(
    ("span_ms", "first", "last"),
    [
        (30_000, "08:00:00.000", "08:00:30.000"),
        (10 * 60_000, "08:00:00", "08:10:00"),
        (5 * HOUR_MS, "08:00", "13:00"),
        (20 * HOUR_MS, "01-01 08:00", "01-02 04:00"),
        (40 * 24 * HOUR_MS, "2025-01-01", "2025-02-10"),
    ],
)
def test_labels_are_as_precise_as_the_span_needs(span_ms: int, first: str, last: str) -> None:
    laid = layout([BASE_MS, BASE_MS + span_ms], ["a", "b"])
    assert [m.below for m in laid.marks] == [first, last]


def test_one_mark_sits_in_the_middle() -> None:
    laid = layout([BASE_MS], ["abcdefg"])
    assert [(m.x, m.above) for m in laid.marks] == [(MIN_WIDTH / 2, "abcdefg")]
