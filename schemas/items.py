"""What an agency publishes: one item, posted once and fanned out everywhere."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from schemas.text import clean_required_text, clean_text

# Ids travel inside delivery ids and Redis keys, so they stay to a safe alphabet.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
# Free text of every kind goes through the text policy (schemas.text): control and bidi-override
# characters are stripped; ZWNJ, RLM and LRM stay.
Text = Annotated[str, AfterValidator(clean_text)]
RequiredText = Annotated[str, AfterValidator(clean_required_text)]
Tag = Annotated[
    str, AfterValidator(clean_text), StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]


Priority = Literal["normal", "urgent"]


class Media(BaseModel):
    """A picture or video at a URL: Hamafza fetches it once and uploads it to the platforms (only
    those whose API fetches URLs itself, as Instagram's does, are given the URL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    alt: Text | None = Field(default=None, max_length=1000)


class TextOverride(BaseModel):
    """A platform-specific wording that replaces the item's text on that platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: RequiredText | None = Field(default=None, min_length=1)


class Item(BaseModel):
    """One piece of news, as an agency publishes it (an XADD, an HTTP call or a CMS webhook).

    `id` is the client's idempotency key: the same id is published once, however often it is sent.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: ItemId | None = None
    agency: Slug
    text: RequiredText = Field(min_length=1, max_length=20_000)
    link: AnyHttpUrl | None = None
    media: list[Media] = Field(default_factory=list, max_length=10)
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    campaign: Text | None = Field(default=None, max_length=100)
    platforms: list[Slug] | None = Field(
        default=None, description="Post only on these platforms; all of the agency's accounts when absent."
    )
    overrides: dict[Slug, TextOverride] = Field(default_factory=dict)
    publish_at: AwareDatetime | None = None
    amplify: bool = True
    priority: Priority = Field(
        default="normal", description="`urgent` items may skip partners' approval and quiet hours."
    )
