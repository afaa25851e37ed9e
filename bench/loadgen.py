"""Load generators (wrk for GET; ab for HEAD: Debian's wrk 4.1.0 never completes HEAD requests)
and what their reports say, parsed.

ab rather than hey for HEAD: on this 2-core machine hey (Go) needed twice the CPU per request,
so it measured itself (hey 5.8k against ab 12.5k req/s on the same tagtrail HEAD, same run).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    bytes_per_second: float
    errors: int


def _duration(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a duration: {text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str, *, threads: int, connections: int, seconds: int, headers: dict[str, str]
) -> LoadResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    transfer = re.search(r"Transfer/sec:\s+([0-9.]+)([KMGT]?B)", output)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors:.*?timeout (\d+)"):
        found = re.search(pattern, output)
        errors += int(found.group(1)) if found else 0
    return LoadResult(
        rps,
        _duration(latency["50"]) * 1000 if "50" in latency else float("nan"),
        _duration(latency["99"]) * 1000 if "99" in latency else float("nan"),
        float(transfer.group(1)) * _SIZES[transfer.group(2)] if transfer else 0.0,
        errors,
    )


def hey(
    url: str, *, method: str, connections: int, seconds: int, headers: dict[str, str]
) -> LoadResult:
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", method]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 120
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%+ in ([0-9.]+) secs", output, re.MULTILINE))
    statuses = re.findall(r"\[(\d+)\]\s+(\d+) responses", output)
    errors = sum(int(n) for code, n in statuses if not code.startswith("2"))
    errors += sum(int(n) for n in re.findall(r"\[\d+\]\s+Get .*?(\d+)$", output, re.MULTILINE))
    return LoadResult(
        rps,
        float(latency.get("50", "nan")) * 1000,
        float(latency.get("99", "nan")) * 1000,
        0.0,
        errors,
    )


def ab(
    url: str, *, method: str, connections: int, seconds: int, headers: dict[str, str]
) -> LoadResult:
    """ApacheBench with keep-alive; ``method`` HEAD only (ab's -i), the one wrk cannot do."""
    if method != "HEAD":
        raise ValueError("ab measures HEAD here; GETs go through wrk")
    with tempfile.TemporaryDirectory() as scratch:
        percentiles = Path(scratch) / "percentiles.csv"
        command = ["ab", "-i", "-k", "-q", "-c", str(connections), "-t", str(seconds)]
        # -t alone caps at 50,000 requests; ab keeps 32 bytes a request, so 2M (64 MB) is a
        # bound -t reaches first at any rate this machine serves.
        command += ["-n", "2000000", "-e", str(percentiles)]
        for key, value in headers.items():
            command += ["-H", f"{key}: {value}"]
        output = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 120
        ).stdout
        served = dict(
            line.split(",", 1) for line in percentiles.read_text().splitlines()[1:] if line
        )
    rps = float(re.search(r"Requests per second:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Failed requests:\s+(\d+)", r"Non-2xx responses:\s+(\d+)"):
        found = re.search(pattern, output)
        errors += int(found.group(1)) if found else 0
    keep_alive = re.search(r"Keep-Alive requests:\s+(\d+)", output)
    if keep_alive is None or int(keep_alive.group(1)) == 0:
        raise RuntimeError(f"ab got no keep-alive answers from {url}: it measured connects")
    return LoadResult(rps, float(served["50"]), float(served["99"]), 0.0, errors)
