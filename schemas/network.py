"""The network file: agencies, their accounts, and the networks whose members amplify each other."""

from __future__ import annotations

from typing import Any, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from schemas.items import Slug


class PlatformSettings(BaseModel):
    """Per-platform settings; `api_base` points a platform at a proxy, a test fake or the sandbox."""

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = None
    web_base: str | None = Field(
        default=None, description="The platform's public web pages (channel pages, previews), for reach."
    )
    timeout_seconds: float = Field(default=20.0, gt=0)
    rate_limit: str | None = Field(
        default=None,
        description='Each account\'s write budget, e.g. "100/15 minutes"; "none" disables; unset: the platform\'s.',
    )


class WebhookSecret(BaseModel):
    """The shared secret of one CMS webhook; the path `/v1/webhooks/<kind>/<agency>` selects it."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=16, description="Standard Webhooks: `whsec_<base64>`; others: any string.")


class WebhookSecrets(BaseModel):
    """Which signed webhooks an agency accepts, one secret per kind (never shared across agencies)."""

    model_config = ConfigDict(extra="forbid")

    standard: WebhookSecret | None = None
    github: WebhookSecret | None = None
    ghost: WebhookSecret | None = None
    wordpress: WebhookSecret | None = None


class FeedSettings(BaseModel):
    """An RSS/Atom feed whose new entries the agency publishes."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    interval_seconds: float = Field(default=300.0, gt=0)


class IngestConfig(BaseModel):
    """How an agency may publish over HTTP: a bearer token (only its SHA-256 is stored), webhooks, a feed."""

    model_config = ConfigDict(extra="forbid")

    api_token_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the agency's API token; `hamafza token new AGENCY` makes one.",
    )
    webhooks: WebhookSecrets = Field(default_factory=WebhookSecrets)
    feed: FeedSettings | None = None


class AgencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    accounts: dict[Slug, dict[str, Any]] = Field(
        default_factory=dict,
        description="Platform → credentials; each adapter validates its own shape.",
    )
    ingest: IngestConfig | None = None


class NetworkConfig(BaseModel):
    """Agencies that amplify each other's items, with the action used on each platform."""

    model_config = ConfigDict(extra="forbid")

    members: list[Slug] = Field(min_length=2)
    amplify: dict[Slug, str] = Field(default_factory=dict)
    delay_seconds: tuple[float, float] = (60.0, 900.0)

    @model_validator(mode="after")
    def _delay_is_a_range(self) -> Self:
        low, high = self.delay_seconds
        if low < 0 or high < low:
            raise ValueError("delay_seconds must be [low, high] with 0 <= low <= high")
        return self


class MediaSettings(BaseModel):
    """How Hamafza fetches an item's media before uploading it to the platforms."""

    model_config = ConfigDict(extra="forbid")

    allow_hosts: list[str] = Field(
        default_factory=list,
        description="host or host:port exempt from the refusal of private, loopback and link-local "
        "addresses; an entry with a port exempts that port only.",
    )


class NetworkFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platforms: dict[Slug, PlatformSettings] = Field(default_factory=dict)
    media: MediaSettings = Field(default_factory=MediaSettings)
    agencies: dict[Slug, AgencyConfig]
    networks: dict[Slug, NetworkConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _members_are_agencies(self) -> Self:
        for name, network in self.networks.items():
            for index, member in enumerate(network.members):
                if member not in self.agencies:
                    raise ValueError(f"networks.{name}.members.{index}: unknown agency {member!r}")
        return self
