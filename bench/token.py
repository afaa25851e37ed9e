"""``GET /token`` with a user's password against the same with a pull token, on a live server.

    .venv/bin/python -m bench.token                  # 300 requests of each, 3 rounds
    .venv/bin/python -m bench.token --requests 1000 --rounds 5 --max-ratio 5

Every crane, oras, cosign or docker run asks ``/token`` with the saved credentials. A user's
password is stored as argon2id, slow on purpose; a pull token's secret is checked by SHA-256.
The server remembers a verified password for minutes (auth/login_cache.py), so a repeated
login should cost about what a pull token's does: this measures how close it comes, one
keep-alive client sending one request at a time (latency, not throughput), the two kinds
alternating round by round so that drift hits both alike. The first login of each of a few
fresh users shows what argon2 itself costs. Exits 1 when the password p50 is over
``--max-ratio`` times the pull token's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt

from bench.servers import Server, start_tagtrail

ORG = "bench"
SCOPE = f"repository:{ORG}/app:pull"


def _admin(data: Path, *args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    done = subprocess.run(
        [sys.executable, "-m", "tagtrail", "admin", "--data-dir", str(data), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tagtrail admin {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def start_auth_server(data: Path, workers: int) -> Server:
    return start_tagtrail(
        data, workers, auth=True, env={"TAGTRAIL_ADMIN_PASSWORD": uuid.uuid4().hex}
    )


def add_user(data: Path) -> tuple[str, str]:
    name, password = f"user-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    _admin(data, "user", "add", name, "--password-stdin", stdin=password + "\n")
    _admin(data, "org", "member", "add", ORG, name, "--role", "pull")
    return name, password


def add_pull_token(data: Path) -> tuple[str, str]:
    out = _admin(data, "token", "create", "--org", ORG, "--pull")
    found = dict(re.findall(r"^(id|secret):\s+(\S+)$", out, re.MULTILINE))
    return found["id"], found["secret"]


def _get_token(http: httpx.Client, credentials: tuple[str, str]) -> float:
    began = time.perf_counter()
    answer = http.get("/token", params={"service": "tagtrail", "scope": SCOPE}, auth=credentials)
    elapsed = time.perf_counter() - began
    if answer.status_code != 200:
        raise RuntimeError(f"/token answered {answer.status_code}: {answer.text[:300]}")
    # Authenticated, not merely anonymous: the token grants the pull.
    claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
    if not claims.get("access"):
        raise RuntimeError(f"/token granted nothing to {credentials[0]}: {claims}")
    return elapsed


@dataclass
class Result:
    cold_ms: list[float]
    password_ms: list[float]
    pull_token_ms: list[float]

    @staticmethod
    def _p(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self, label: str, samples: list[float]) -> str:
        return (
            f"| {label} | {len(samples)} | {self._p(samples, 0.5):.2f} ms"
            f" | {self._p(samples, 0.99):.2f} ms |"
        )

    @property
    def ratio(self) -> float:
        return statistics.median(self.password_ms) / statistics.median(self.pull_token_ms)


def measure(url: str, data: Path, requests: int, rounds: int, fresh_users: int) -> Result:
    user, token = add_user(data), add_pull_token(data)
    result = Result([], [], [])
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(fresh_users):
            result.cold_ms.append(_get_token(http, add_user(data)) * 1000)
        for credentials in (user, token):  # warm up: connection, first verification
            for _ in range(20):
                _get_token(http, credentials)
        for n in range(rounds):
            kinds = [(user, result.password_ms), (token, result.pull_token_ms)]
            for credentials, samples in kinds if n % 2 == 0 else kinds[::-1]:
                samples += [_get_token(http, credentials) * 1000 for _ in range(requests)]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh-users", type=int, default=5, help="first logins to time")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--max-ratio", type=float, default=5.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tagtrail-bench-token-") as scratch:
        data = Path(scratch) / "data"
        server = start_auth_server(data, args.workers)
        try:
            _admin(data, "org", "create", ORG)
            result = measure(server.url, data, args.requests, args.rounds, args.fresh_users)
        finally:
            server.stop()
    print(f"GET /token, one keep-alive client, {args.workers} worker(s), scope {SCOPE}")
    print("| credentials | requests | p50 | p99 |")
    print("| --- | ---: | ---: | ---: |")
    print(result.row("user password, first login (argon2)", result.cold_ms))
    print(result.row("user password, repeated", result.password_ms))
    print(result.row("pull token", result.pull_token_ms))
    verdict = "within" if result.ratio <= args.max_ratio else "OVER"
    print(f"password p50 / pull token p50: {result.ratio:.2f}x ({verdict} {args.max_ratio:g}x)")
    return 0 if result.ratio <= args.max_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
