"""Per-agency API tokens: only their SHA-256 is stored in the network file; the token is the tenant.

`hamafza token new AGENCY` prints a fresh token once, and the `api_token_sha256` line to paste into
the agency's `ingest` section. A request's agency comes from the token that authenticated it, never
from its body.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from schemas import AgencyConfig, CouncilConfig
from services.logs import redactor

TOKEN_PREFIX = "hmz_"


def new_token() -> str:
    """A random token: 32 bytes (256 bits) of entropy, URL-safe, with a prefix that says what it is."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenBook:
    """Maps a presented token to its agency by comparing hashes in constant time; the council's token
    (`council.api_token_sha256`) is apart: it reads the report and publishes nothing."""

    def __init__(self, agencies: dict[str, AgencyConfig], council: CouncilConfig | None = None) -> None:
        self._hashes: list[tuple[str, bytes]] = [
            (name, agency.ingest.api_token_sha256.encode())
            for name, agency in sorted(agencies.items())
            if agency.ingest is not None and agency.ingest.api_token_sha256
        ]
        self._council = council.api_token_sha256.encode() if council is not None else None

    def is_council(self, token: str) -> bool:
        if self._council is None:
            return False
        if hmac.compare_digest(token_sha256(token).encode(), self._council):
            redactor.register([token])
            return True
        return False

    def agency_of(self, token: str) -> str | None:
        """The agency whose token this is, or None; every stored hash is compared, whatever matches."""
        presented = token_sha256(token).encode()
        found: str | None = None
        for name, stored in self._hashes:
            if hmac.compare_digest(presented, stored):
                found = name
        if found is not None:
            # From now on this exact value is masked wherever it might surface (a traceback's locals).
            redactor.register([token])
        return found


def ingest_secrets(agencies: dict[str, AgencyConfig]) -> set[str]:
    """Every webhook secret and token hash of the network file, for the log redactor."""
    values: set[str] = set()
    for agency in agencies.values():
        if agency.ingest is None:
            continue
        if agency.ingest.api_token_sha256:
            values.add(agency.ingest.api_token_sha256)
        for hook in (
            agency.ingest.webhooks.standard,
            agency.ingest.webhooks.github,
            agency.ingest.webhooks.ghost,
            agency.ingest.webhooks.wordpress,
        ):
            if hook is not None:
                values.update(_secret_forms(hook.secret))
    return values


def _secret_forms(secret: str) -> Iterable[str]:
    yield secret
    if secret.startswith("whsec_"):
        yield secret.removeprefix("whsec_")


def register_ingest_secrets(agencies: dict[str, AgencyConfig]) -> None:
    redactor.register(ingest_secrets(agencies))
