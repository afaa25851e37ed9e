"""The e2e and slow markers follow where a test lives (tests/conftest.py), and every place
named there exists: a renamed file would otherwise drop out of its marker unnoticed."""

from __future__ import annotations

import pytest

from tests.conftest import MARKED, TESTS, expected_markers


def test_every_marked_place_exists() -> None:
    for places in MARKED.values():
        for place in places:
            path = TESTS / place
            assert path.is_dir() if place.endswith("/") else path.is_file(), place


def test_the_tests_of_this_run_carry_the_markers_of_their_place(
    request: pytest.FixtureRequest,
) -> None:
    items = request.session.items
    assert request.node in items
    for item in items:
        expected = expected_markers(item)
        for marker in MARKED:
            carries = item.get_closest_marker(marker) is not None
            assert carries == (marker in expected), (item.nodeid, marker)
