"""What flows between Hamafza's services on Redis streams.

Every stream entry has one field, `data`, holding one of these models as JSON, so that any Redis
client (redis-cli included) can read and write them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.items import Media


class Action(StrEnum):
    """What a delivery does on a platform, as a generic verb: an own post, or an amplification of a
    partner's post. Each platform maps the verbs it supports to its own label (a repost is a
    "retweet" on one platform and a "boost" on another); the network file may use either."""

    PUBLISH = "publish"
    REPOST = "repost"  # the platform's native re-share, attributed to the original
    FORWARD = "forward"  # a messenger's forward, with "forwarded from"
    QUOTE = "quote"  # a re-share with the partner's own words on top
    COPY = "copy"  # the partner posts the item itself, in its own wording, linking to the original
    INTENT = "intent"  # a person is sent a link to re-share by hand (no automated call)


class DeliveryState(StrEnum):
    """A delivery's place in the ledger. `posted` and `dead` are final."""

    PENDING = "pending"
    SENDING = "sending"
    RETRY_WAIT = "retry_wait"
    POSTED = "posted"
    DEAD = "dead"


class DeadReason(StrEnum):
    """Why something ended in the dead-letter stream; each names what a person should do."""

    INVALID_ENTRY = "invalid_entry"  # not JSON, or not an item: fix the publisher
    UNKNOWN_AGENCY = "unknown_agency"  # add the agency to the network file, then replay
    UNKNOWN_PLATFORM = "unknown_platform"  # fix `platforms`, or install the adapter
    NO_ACCOUNT = "no_account"  # the agency has no account on a requested platform
    CONTENT_TOO_LONG = "content_too_long"  # shorten, or give `overrides.<platform>.text`
    CONTENT_REJECTED = "content_rejected"  # the platform refused it (duplicate, invalid…)
    MEDIA_REJECTED = "media_rejected"  # a media URL could not be fetched or breaks a platform's limit
    AUTH_FAILED = "auth_failed"  # renew the account's credentials, then replay
    RETRIES_EXHAUSTED = "retries_exhausted"  # the platform kept failing; replay later
    UNCONFIRMED = "unconfirmed"  # sent, outcome unknown: check the account by hand
    POISON = "poison"  # the entry crashed workers repeatedly
    ID_TAKEN = "id_taken"  # another agency already uses this item id: publish with another id


class PostRef(BaseModel):
    """Where a post lives on its platform; amplifications point at it."""

    model_config = ConfigDict(frozen=True)

    platform: str
    agency: str
    post_id: str
    chat: str | None = Field(default=None, description="Chat or channel id, where the platform has one.")
    url: str | None = None
    post_ids: list[str] = Field(
        default_factory=list,
        description="Every message id of a post made of several (an album), `post_id` first; else empty.",
    )


class Delivery(BaseModel):
    """One item on one account with one action: the unit the ledger makes effectively-once."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Deterministic: item/agency/platform/action.")
    item_id: str
    agency: str
    platform: str
    action: Action
    origin_agency: str = Field(description="The agency whose item this is; differs on amplifications.")
    text: str = ""
    link: str | None = None
    media: list[Media] = Field(default_factory=list)
    campaign: str | None = None
    source: PostRef | None = Field(default=None, description="The post an amplification amplifies.")
    amplify: bool = True
    priority: Literal["normal", "urgent"] = "normal"
    network: str | None = Field(
        default=None, description="The network whose agreement an amplification is made under."
    )
    attempt: int = 0
    queued_at: AwareDatetime | None = Field(
        default=None,
        description="When this delivery's clock started: the item's XADD for an own post, the source "
        "post for an amplification (for the latency metrics).",
    )
    claimed_at: AwareDatetime | None = Field(
        default=None,
        description="Set only when asking a platform about an ambiguous call: when the ledger claimed "
        "it, so reconciliation knows how far back to look. Never on a stream.",
    )

    @staticmethod
    def make_id(item_id: str, agency: str, platform: str, action: Action | str) -> str:
        return f"{item_id}/{agency}/{platform}/{Action(action).value}"


class Result(BaseModel):
    """A delivery that reached a final state: posted (with where), or dead (with why)."""

    delivery: Delivery
    state: DeliveryState
    post: PostRef | None = None
    reason: DeadReason | None = None
    at: AwareDatetime


class DeadLetter(BaseModel):
    """Something that could not be posted, with a reason a person can act on."""

    reason: DeadReason
    detail: str
    stage: str = Field(description="The service that gave up: fanout, deliver, amplify.")
    item_id: str | None = None
    agency: str | None = None
    platform: str | None = None
    action: Action | None = None
    attempts: int = 0
    delivery: Delivery | None = None
    entry: str | None = Field(
        default=None, description="The raw stream entry, for entries that never parsed."
    )
    payload: str | None = Field(
        default=None,
        description="The entry's `data` field, kept whole so `dlq replay` can send it again once fixed.",
    )
    at: datetime
