"""The cache of verified tokens: bounded, least recently used out first, so a flood of new
tokens never wipes the ones in use; a token that fails its check is never cached; and its
expiry is judged by the authority's clock, which a test can move instead of sleeping."""

from __future__ import annotations

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
    document = claims("team/app", actions=(PULL,), **({"iss": ISSUER, "aud": SERVICE} | overrides))
    return es256(document, ring.signing_key, ring.signing_kid)


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("tagtrail.auth.tokens.jwt.decode", counting)
    return decoded


def test_a_flood_of_new_tokens_does_not_wipe_the_ones_in_use(
    ring: KeyRing, authority: TokenAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_use = [_token(ring) for _ in range(3)]
    for token in in_use:
        authority.verify(token)
    flood = [_token(ring) for _ in range(TokenAuthority.RECENT_TOKENS + 500)]
    decoded = _count_decodes(monkeypatch)
    for n, token in enumerate(flood):
        authority.verify(token)  # valid, and new: each one is cached
        if n % 500 == 0:
            for used in in_use:
                authority.verify(used)  # the clients of these keep pulling
    for used in in_use:
        authority.verify(used)
    assert not set(in_use) & set(decoded)  # never checked again: never dropped
    assert len(decoded) == len(flood)
    # The cache stays bounded: the oldest of the flood, unused since, went first.
    authority.verify(flood[0])
    assert decoded[-1] == flood[0]


def test_a_token_that_fails_its_check_is_never_cached(
    ring: KeyRing, authority: TokenAuthority, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = _count_decodes(monkeypatch)
    header, payload, signature = _token(ring).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    stranger = _token(ring, aud="elsewhere")
    for _ in range(3):
        for bad in (forged, stranger):
            with pytest.raises(Unauthorized):
                authority.verify(bad)
    assert decoded == [forged, stranger] * 3
    # Valid for the system's clock, expired for the authority's: refused, and not cached.
    clock.now += 3600
    late = _token(ring)
    for _ in range(2):
        with pytest.raises(Unauthorized, match="expired"):
            authority.verify(late)
    assert decoded[-2:] == [late, late]


def test_expiry_is_judged_by_the_authority_s_clock(
    ring: KeyRing, authority: TokenAuthority, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = _count_decodes(monkeypatch)
    now = int(clock.now)
    token = _token(ring, exp=now + 60, iat=now, nbf=now - 1)
    authority.verify(token)
    clock.now = now + 64.5  # within the 5 s leeway: still recognised, not checked again
    authority.verify(token)
    assert decoded == [token]
    clock.now = now + 65
    with pytest.raises(Unauthorized):
        authority.verify(token)
    # And what it issues, it issues by that clock.
    issued = authority.issue("user:admin", [])
    assert jwt.decode(issued.token, options={"verify_signature": False})["iat"] == now + 65
