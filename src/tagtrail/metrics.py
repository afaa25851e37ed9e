"""Every Prometheus metric the server exports, in one place (``/metrics``: api/metrics.py).

The server runs several worker processes, so the numbers live in prometheus_client's
multiprocess mode: ``tagtrail serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory
before any worker starts (cli/serve.py), each worker writes its values to memory-mapped files
there, and a scrape sums the files of every worker. prometheus_client picks the mode when it is
first imported, so nothing of the serving process may import this module before the variable
is set. Without the variable (the CLI, in-process tests) the values are this process's own.

Nothing here knows HTTP: the layers below the API count their own events with these objects.
"""

from __future__ import annotations

import glob
import os

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Request durations: a cached manifest GET takes well under a millisecond, a large blob PUT
# minutes; the buckets span both.
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)

# -- HTTP (counted by api/metrics.py's middleware) -------------------------------------------
REQUESTS = Counter(
    "tagtrail_http_requests",
    "HTTP requests answered, by route class, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "tagtrail_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route class and method",
    ["route", "method"],
    buckets=DURATION_BUCKETS,
)
RESPONSE_BYTES = Counter(
    "tagtrail_http_response_bytes", "Response body bytes sent, by route class", ["route"]
)
REQUEST_BYTES = Counter(
    "tagtrail_http_request_bytes", "Request body bytes received, by route class", ["route"]
)

# -- registry ----------------------------------------------------------------------------------
HISTORY_RECORDS = Counter(
    "tagtrail_history_records",
    "Tag history records written (event: created for a move, deleted for a deletion)",
    ["event"],
)
# livesum: only the files of workers still alive count (a dead worker's are removed when the
# next one starts, forget_dead_workers below), so a killed upload does not stay "in progress".
UPLOADS_IN_PROGRESS = Gauge(
    "tagtrail_uploads_in_progress",
    "Upload request bodies being received now",
    multiprocess_mode="livesum",
)
BLOB_CACHE_HITS = Counter("tagtrail_blob_cache_hits", "Small blobs served from memory")
BLOB_CACHE_MISSES = Counter(
    "tagtrail_blob_cache_misses", "Small blobs read from storage, then kept in memory"
)
REUSED_ANSWERS = Counter(
    "tagtrail_reused_answers",
    "Pulls answered from a worker's kept answers, nothing stored having changed since "
    "(api/pull_answers.py), by route class",
    ["route"],
)

# -- auth --------------------------------------------------------------------------------------
TOKENS_ISSUED = Counter(
    "tagtrail_tokens_issued",
    "Tokens issued by /token, by grant (basic, password, refresh_token, anonymous)",
    ["grant"],
)
TOKENS_REFUSED = Counter(
    "tagtrail_tokens_refused", "Token requests refused (bad credentials or request)"
)

# -- gc (runs in the process that runs it: `tagtrail gc` counts in its own) ----------------
GC_RUNS = Counter("tagtrail_gc_runs", "Garbage collection runs finished (dry runs included)")
GC_FREED_BYTES = Counter("tagtrail_gc_freed_bytes", "Bytes freed by garbage collection")

# -- mirrors -----------------------------------------------------------------------------------
MIRROR_CHECKS = Counter(
    "tagtrail_mirror_checks",
    "Tags checked with an upstream (pulls and watches), by mirror prefix",
    ["mirror"],
)
MIRROR_FETCHES = Counter("tagtrail_mirror_fetches", "Blobs fetched from an upstream")
MIRROR_FAILURES = Counter(
    "tagtrail_mirror_failures",
    "Upstream failures: tag checks that got no answer or a bad one (kind check), blob "
    "fetches broken off (kind fetch)",
    ["kind"],
)

# -- webhooks ----------------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "tagtrail_webhook_deliveries", "Webhook events delivered (a 2xx answer)"
)
WEBHOOK_FAILURES = Counter(
    "tagtrail_webhook_failures", "Webhook delivery attempts that failed (each retry counts)"
)


def forget_dead_workers(directory: str) -> None:
    """Remove the live-gauge files of processes that no longer run (a worker granian replaced
    after a crash): prometheus_client's own bookkeeping for a dead process. Counters stay, so
    the totals keep what dead workers counted."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        if not _alive(pid):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir() -> str | None:
    """The directory the workers' values are in, when this process writes there."""
    directory = os.environ.get(MULTIPROC_ENV)
    return directory if directory and os.path.isdir(directory) else None
