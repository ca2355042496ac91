"""The network file: agencies, their accounts, and the networks whose members amplify each other."""

from __future__ import annotations

import re
from enum import StrEnum
from string import Formatter
from typing import Annotated, Any, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from schemas.items import Slug

# `cms.agency.ir`, `cms.agency.ir:8443`, `10.0.0.5`, `[fd00::5]:8080`, `fd00::5`: a host, optionally a port.
ALLOW_HOST = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+")


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
    channels: list[Slug] = Field(
        default_factory=list,
        description="Platforms whose own channel posts of this agency are published everywhere else.",
    )


class AgencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    accounts: dict[Slug, dict[str, Any]] = Field(
        default_factory=dict,
        description="Platform → credentials; each adapter validates its own shape.",
    )
    ingest: IngestConfig | None = None


# What a `copy` amplification's wording may use: the item's text, the two agencies' names, and the
# original post's URL on the same platform.
COPY_FIELDS = frozenset({"text", "origin", "partner", "origin_url"})
DEFAULT_COPY_TEMPLATE = "{text}\n\nبه نقل از {origin}: {origin_url}"


def template_fields(template: str) -> list[str]:
    """The `{field}`s of a str.format template; ValueError if it is not one (a lone brace)."""
    return [name for _, name, _, _ in Formatter().parse(template) if name is not None]


def checked_copy_template(template: str | None) -> str | None:
    """A copy template whose fields are all known; ValueError naming the first unknown one."""
    if template is None:
        return None
    try:
        names = template_fields(template)
    except ValueError as error:
        raise ValueError(f"not a template ({error}); write a literal brace as {{{{ or }}}}") from None
    known = " ".join(f"{{{name}}}" for name in sorted(COPY_FIELDS))
    for name in names:
        if name not in COPY_FIELDS:
            raise ValueError(f"unknown field {{{name}}}; a copy_template may use {known}")
    return template


class PolicyMode(StrEnum):
    """How a partner amplifies a member's items: at once, after its approver agrees, or never."""

    AUTO = "auto"
    APPROVE = "approve"
    OFF = "off"


class UrgentRule(StrEnum):
    """Whether `"priority": "urgent"` items skip approval and quiet hours (auto) or follow the policy."""

    AUTO = "auto"
    POLICY = "policy"


class Approver(BaseModel):
    """The chat whose button presses decide a partner's amplifications, reached with the partner's own bot."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    platform: Slug
    chat_id: str = Field(min_length=1, max_length=100)


class PartnerPolicy(BaseModel):
    """One partner's own rules in a network; unset fields take the network's."""

    model_config = ConfigDict(extra="forbid")

    mode: PolicyMode | None = None
    approver: Approver | None = None
    approve_within_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    copy_template: str | None = Field(default=None, min_length=1, max_length=2000)
    daily_cap: int | None = Field(default=None, ge=0, le=10_000)

    _copy_template_fields_are_known = field_validator("copy_template")(checked_copy_template)

    @model_validator(mode="after")
    def _approval_needs_an_approver(self) -> Self:
        if self.mode is PolicyMode.APPROVE and self.approver is None:
            raise ValueError("mode approve needs an approver: {platform: ..., chat_id: ...}")
        return self


_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class AmplificationPolicy(BaseModel):
    """What a network's partners agreed to: who amplifies automatically, who approves, caps and hours."""

    model_config = ConfigDict(extra="forbid")

    mode: PolicyMode = PolicyMode.AUTO
    partners: dict[Slug, PartnerPolicy] = Field(default_factory=dict)
    daily_cap: int | None = Field(
        default=None, ge=0, le=10_000, description="Amplifications per amplifying account per Tehran day."
    )
    quiet_hours: (
        tuple[
            Annotated[str, StringConstraints(pattern=_CLOCK)],
            Annotated[str, StringConstraints(pattern=_CLOCK)],
        ]
        | None
    ) = Field(
        default=None,
        description='Tehran time, e.g. ["23:00", "07:00"]; amplifications due inside wait for its end.',
    )
    min_gap_seconds: float = Field(default=0.0, ge=0, le=86_400)
    urgent: UrgentRule = UrgentRule.AUTO

    def for_partner(self, partner: str) -> PartnerPolicy:
        return self.partners.get(partner) or PartnerPolicy()

    def mode_of(self, partner: str) -> PolicyMode:
        return self.for_partner(partner).mode or self.mode


class NetworkConfig(BaseModel):
    """Agencies that amplify each other's items, with the action used on each platform."""

    model_config = ConfigDict(extra="forbid")

    members: list[Slug] = Field(min_length=2)
    amplify: dict[Slug, str] = Field(default_factory=dict)
    delay_seconds: tuple[float, float] = (60.0, 900.0)
    policy: AmplificationPolicy = Field(default_factory=AmplificationPolicy)
    copy_template: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="The wording of a partner's `copy`; fields {text} {origin} {partner} {origin_url}. "
        f"Unset: {DEFAULT_COPY_TEMPLATE!r}; `policy.partners.<agency>.copy_template` overrides it.",
    )

    _copy_template_fields_are_known = field_validator("copy_template")(checked_copy_template)

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

    @field_validator("allow_hosts")
    @classmethod
    def _hosts_not_urls(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if not ALLOW_HOST.fullmatch(entry.strip()):
                raise ValueError(
                    f"{entry!r} is not a host or host:port (write `cms.agency.ir` or `10.0.0.5:8080`, "
                    "without http:// or a path)"
                )
        return entries


class CouncilConfig(BaseModel):
    """The council reads the synergy report over HTTP (`GET /v1/report`) with its own token."""

    model_config = ConfigDict(extra="forbid")

    api_token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the council's token; `hamafza token new --council` makes one.",
    )


class NetworkFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    council: CouncilConfig | None = None
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
