"""A token is verified once per process and recognised after: what that check proved must
still be checked where it can change (expiry, the key), and nothing else is taken on trust."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from tagtrail.auth.keys import KeyRing
from tagtrail.auth.model import PULL
from tagtrail.auth.tokens import TokenAuthority
from tagtrail.errors import Unauthorized
from tests.auth.helpers import Clock
from tests.auth.jwts import claims, es256

ISSUER, SERVICE = "tagtrail", "registry.test"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing.load(tmp_path / "keys")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authority(ring: KeyRing, clock: Clock) -> TokenAuthority:
    return TokenAuthority(
        ring, issuer=ISSUER, service=SERVICE, ttl=300, refresh_ttl=3600, clock=clock
    )


def _token(ring: KeyRing, **overrides: object) -> str:
    document = claims("team/app", actions=(PULL,), iss=ISSUER, aud=SERVICE, **overrides)
    return es256(document, ring.signing_key, ring.signing_kid)


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("tagtrail.auth.tokens.jwt.decode", counting)
    return decoded


def test_a_token_is_checked_once_then_recognised(
    ring: KeyRing, authority: TokenAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = _count_decodes(monkeypatch)
    token = _token(ring)
    first = authority.verify(token)
    assert authority.verify(token) == first
    assert decoded == [token]
    assert first.grant("repository", "team/app") is not None
    assert first.grant("repository", "team/other") is None  # scopes stay the token's own


def test_an_expired_token_is_refused_though_it_was_verified(
    ring: KeyRing, authority: TokenAuthority, clock: Clock
) -> None:
    now = int(clock.now)
    # Expired 2 s ago: still within the 5 s leeway, so accepted now, refused 3 s later. (jwt
    # judges the first verification by the system's clock: 2 s of room for a busy machine.)
    token = _token(ring, exp=now - 2, iat=now - 300, nbf=now - 300)
    authority.verify(token)
    clock.now = now + 3
    with pytest.raises(Unauthorized):
        authority.verify(token)


def test_a_token_whose_key_left_the_ring_is_refused(
    ring: KeyRing, authority: TokenAuthority
) -> None:
    token = _token(ring)
    authority.verify(token)
    ring.verifying = {k: v for k, v in ring.verifying.items() if k != ring.signing_kid}
    ring._scanned = time.monotonic()  # as just re-read: no second look at the key files
    with pytest.raises(Unauthorized):
        authority.verify(token)


def test_a_forged_token_is_never_recognised(ring: KeyRing, authority: TokenAuthority) -> None:
    token = _token(ring)
    authority.verify(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(Unauthorized):
        authority.verify(forged)
