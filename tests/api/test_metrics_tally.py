"""The request tallies of api/metrics.py: added to the Prometheus values in one go, they come
to what one ``observe`` and ``inc`` per request would have; a stopping worker adds what it
still holds."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import Message, Receive, Scope, Send

from tagtrail import metrics
from tagtrail.api.metrics import Observed, _Tally

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _buckets(histogram: Histogram) -> list[float]:
    return [bucket.get() for bucket in histogram._buckets]


def test_a_tally_flushed_equals_one_observe_a_request() -> None:
    # Bounds exactly, just above them, and beyond the last: a bucket holds values <= its bound.
    durations = [0.0005, 0.00051, 0.001, 0.3, 30.0, 31.0, 0.0]
    alone = Histogram("alone", "", buckets=metrics.DURATION_BUCKETS, registry=CollectorRegistry())
    for seconds in durations:
        alone.observe(seconds)
    tally = _Tally()
    for seconds in durations:
        tally.add(seconds, bytes_out=10, bytes_in=1)
    observed = Observed(_nothing, [])
    route = "tally-test"
    observed._tallies[(route, "GET", 200)] = tally
    histogram = metrics.REQUEST_SECONDS.labels(route, "GET")
    requests = metrics.REQUESTS.labels(route, "GET", "200")
    before = (_buckets(histogram), histogram._sum.get(), requests._value.get())

    observed.flush()

    assert [a - b for a, b in zip(_buckets(histogram), before[0], strict=True)] == _buckets(alone)
    assert histogram._sum.get() - before[1] == pytest.approx(alone._sum.get())
    assert requests._value.get() - before[2] == len(durations)
    assert observed._tallies == {}


async def test_a_stopping_worker_flushes_what_it_holds() -> None:
    observed = Observed(_app, [])
    counter = metrics.REQUESTS.labels("other", "GET", "204")
    before = counter._value.get()
    lifespan: asyncio.Queue[Message] = asyncio.Queue()
    answers: asyncio.Queue[Message] = asyncio.Queue()
    await lifespan.put({"type": "lifespan.startup"})
    running = asyncio.create_task(
        observed({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, answers.put)
    )
    assert (await answers.get())["type"] == "lifespan.startup.complete"
    for _ in range(3):
        await observed(_request(), _no_body, _ignore)
    assert counter._value.get() == before  # held until the timer or the stop

    await lifespan.put({"type": "lifespan.shutdown"})
    assert (await answers.get())["type"] == "lifespan.shutdown.complete"
    await running
    assert counter._value.get() == before + 3


def _request() -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": "/tally-test",
        "headers": [],
        "client": ("127.0.0.1", 1),
    }


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore(message: Message) -> None:
    return None
