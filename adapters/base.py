"""The one small interface every platform adapter implements.

An adapter declares its limits and capabilities as class attributes, renders an item into the
platform's text, and performs a delivery. It raises the typed errors below, and nothing else, for
anything the platform says; the deliver service decides from the type alone what happens next.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

import aiohttp
from pydantic import BaseModel

from schemas import Action, Delivery, Item, PostRef


class DeliveryError(Exception):
    """A platform call that did not produce a post. `str(error)` is shown to people: no secrets."""


class RetryableError(DeliveryError):
    """The platform failed transiently (5xx) or the request never left: safe to send again later."""


class RateLimitedError(DeliveryError):
    """The platform asked us to wait; only this account pauses, until `reset_at`."""

    def __init__(self, message: str, reset_at: datetime) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class AuthError(DeliveryError):
    """The account's credentials were refused: a person must renew them."""


class PermanentError(DeliveryError):
    """The platform refused this content for good (invalid, duplicate, too long…)."""


class AmbiguousError(DeliveryError):
    """The request may have been carried out (timeout, dropped connection): never blindly resend."""


class CannotReconcile(DeliveryError):
    """The platform offers no way to tell whether an ambiguous delivery was posted."""


class ContentError(ValueError):
    """An item cannot be rendered within this platform's rules; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Posted:
    """What a platform returned for a successful delivery."""

    post_id: str
    url: str | None = None
    chat: str | None = None
    # Every message id when one delivery made several (an album: one message per picture), in
    # order, `post_id` being the first; empty for a single message.
    post_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Engagement:
    """A post's public metrics at one moment; None where the platform does not tell."""

    impressions: int | None = None
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    views: int | None = None


MediaKind = Literal["image", "video"]


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One picture or video of an item, fetched once by Hamafza and handed to every adapter.

    Platforms are sent these bytes (uploaded), not the URL: an agency's CMS is often on an intranet
    the platforms cannot reach. `content_type` is what the bytes are (checked when fetched), not what
    the server claimed. Adapters that make the platform fetch the URL itself (`uploads_media = False`)
    use `url`.
    """

    url: str
    content_type: str
    data: bytes = field(repr=False)
    alt: str | None = None

    @property
    def kind(self) -> MediaKind:
        return "video" if self.content_type.startswith("video/") else "image"

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def filename(self) -> str:
        """A name platforms accept in multipart uploads: `media.<extension>` from the content type."""
        extension = self.content_type.partition("/")[2].split(";")[0].strip() or "bin"
        return f"media.{'jpg' if extension == 'jpeg' else extension}"


@dataclass(frozen=True, slots=True)
class Choice:
    """A button under a message: what it says, and what its press sends back (at most 64 bytes)."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """Someone pressed a button under a message the account's bot sent."""

    id: str  # the platform's id of this press, to acknowledge it
    chat: str  # the chat it was pressed in
    data: str
    user: str | None = None  # who pressed, where the platform tells
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A picture or video inside a channel post, fetched with the account's own credentials."""

    ref: str  # the platform's file id
    kind: MediaKind


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """A message in a channel the account's bot administers, as the channel watchers read it."""

    chat: str  # the channel's id as the platform gives it in updates
    message_id: str
    text: str = ""
    username: str | None = None  # its public name, without "@", where it has one
    files: tuple[RemoteFile, ...] = ()
    media_group: str | None = None  # messages of one album share it
    edited: bool = False
    deleted: bool = False
    forwarded: bool = False  # a forward of another channel's post
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Updates:
    """What one read of an account's update stream gave, and where the next read starts."""

    events: tuple[Any, ...]  # ButtonPress, and the channel posts of the channel watchers
    offset: str | None


class LazySession:
    """An adapter's one aiohttp session, made on first use inside the running loop (as aiohttp
    requires), with calls bounded by the adapter's timeout and a short connect phase, so that a
    request that never left fails fast as a connection error."""

    def __init__(
        self,
        timeout_seconds: float,
        connect_seconds: float = 5.0,
        connections: int | None = None,
        **options: Any,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, sock_connect=min(timeout_seconds, connect_seconds)
        )
        # aiohttp's default pool is 100 connections; a slow platform needs more calls in flight.
        self._connections = connections
        self._options = options
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            options = dict(self._options)
            if self._connections is not None:
                options["connector"] = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(timeout=self._timeout, **options)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


CredentialsT = TypeVar("CredentialsT", bound=BaseModel)


class Adapter(ABC, Generic[CredentialsT]):
    """A platform: its limits, its rendering and its calls.

    Subclasses set the class attributes and implement `publish` and, for each action in
    `amplify_actions`, `amplify`. One instance serves every account on its platform.
    """

    platform: ClassVar[str]
    title: ClassVar[str]  # shown to people, in Persian
    name: ClassVar[str]  # the platform's English name, for English reports and operators
    # Whether the platform's limit is too short for a title, an excerpt, tags and a link (a CMS post
    # then gets its title alone).
    short_form: ClassVar[bool] = False
    # Loggers of this adapter's libraries that print a line per request with full URLs (which may
    # carry tokens); logging holds them at WARNING.
    chatty_loggers: ClassVar[tuple[str, ...]] = ()
    credentials_model: ClassVar[type[BaseModel]]
    default_api_base: ClassVar[str]
    # Where the platform's public web pages live (public channel pages and previews), for adapters
    # that read reach or reconcile from them; None where there are none.
    default_web_base: ClassVar[str | None] = None
    # Generic amplification verbs this platform supports, each with the platform's own label
    # (granary's TYPE_LABELS): `{Action.REPOST: "retweet"}`. `amplify_actions` is derived from it.
    amplify_labels: ClassVar[Mapping[Action, str]] = {}
    amplify_actions: ClassVar[frozenset[Action]] = frozenset()
    text_limit: ClassVar[int]
    media_limit: ClassVar[int] = 0
    # Whether more media than `media_limit` is a ContentError (else the rest are left out), and
    # whether a post needs at least one picture or video (Instagram).
    media_limit_is_hard: ClassVar[bool] = False
    requires_media: ClassVar[bool] = False
    # Media: the kinds this platform takes, the largest file of each kind in bytes (a bigger one is a
    # `media_rejected` dead letter naming the limit), and whether the adapter uploads the bytes Hamafza
    # fetched (else the platform fetches `MediaFile.url` itself, as Instagram does).
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image"})
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {"image": 5 * 1024 * 1024}
    uploads_media: ClassVar[bool] = True
    # At most this many hashtags in a post (Instagram: 5); None for no limit.
    hashtag_limit: ClassVar[int | None] = None
    # Secret-bearing credential fields, for log redaction; everything else may be logged.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # Each account's write budget (the `limits` notation, e.g. "100/15 minutes"), shared by every
    # worker process; the platform's published limit, overridable in the network file.
    rate_limit: ClassVar[str | None] = None
    # Reach: whether `metrics` reads post metrics, and how many post ids one call may carry.
    supports_metrics: ClassVar[bool] = False
    metrics_batch_size: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.amplify_actions = frozenset(cls.amplify_labels)

    @classmethod
    def action_for(cls, word: str) -> Action | None:
        """The generic verb a network file's word means here: a verb (`repost`) or this platform's
        label for one (`retweet`); None if the platform supports neither."""
        for action, label in cls.amplify_labels.items():
            if word in (action.value, label):
                return action
        return None

    @classmethod
    def label_of(cls, action: Action) -> str:
        """The platform's own word for a generic verb, for people (reports, logs)."""
        return cls.amplify_labels.get(action, action.value)

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        self.api_base = (api_base or self.default_api_base).rstrip("/")
        self.web_base = (web_base or self.default_web_base or "").rstrip("/") or None
        self.timeout_seconds = timeout_seconds

    # --- rendering -------------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """The length the platform counts; code points unless the platform weighs them."""
        return len(text)

    def limit_for(self, item: Item) -> tuple[int, str]:
        """The length limit this item's text is held to, and its name in messages (a caption limit…)."""
        return self.text_limit, "limit"

    def render(self, item: Item) -> str:
        """The item's text for this platform: body, hashtags, link, within its limit (see `fit_text`)."""
        override = item.overrides.get(self.platform)
        tags = self.render_tags(item)
        link = str(item.link) if item.link else None
        if item.media and len(item.media) > self.media_limit and self.media_limit_is_hard:
            raise ContentError(
                f"{len(item.media)} media items on {self.platform}, over its limit of {self.media_limit}; "
                "remove some or leave this platform out of `platforms`"
            )
        if self.requires_media and not item.media:
            raise ContentError(
                f"{self.platform} posts need a picture or video; add `media` or leave {self.platform} "
                "out of `platforms`"
            )
        limit, limit_name = self.limit_for(item)
        if override and override.text:
            # A person's own wording for this platform is never cut.
            return self._checked(compose(override.text, tags, link), limit, limit_name)
        return fit_text(self, item.text, tags, link, limit, limit_name)

    def render_tags(self, item: Item) -> list[str]:
        """The item's tags as this platform takes them; at most `hashtag_limit`, counting the body's own."""
        if self.hashtag_limit is None:
            return list(item.tags)
        room = self.hashtag_limit - len(HASHTAG.findall(item.text))
        if room < 0:
            raise ContentError(
                f"the text has {len(HASHTAG.findall(item.text))} hashtags, over {self.platform}'s "
                f"limit of {self.hashtag_limit}; give overrides.{self.platform}.text"
            )
        return list(item.tags)[:room]

    def _checked(self, text: str, limit: int, limit_name: str) -> str:
        length = self.measure(text)
        if length > limit:
            raise ContentError(too_long(self.platform, length, limit, limit_name))
        return text

    # --- calls -----------------------------------------------------------------------------------

    def check_media(self, media: Sequence[MediaFile]) -> None:
        """Refuse, before any call, a file the platform would not take: of a kind it does not take,
        or larger than its limit for that kind. (More files than `media_limit` are left out.)"""
        for file in media:
            if file.kind not in self.media_kinds:
                raise PermanentError(f"{self.platform} takes no {file.kind}; remove it from `media`")
            largest = self.media_max_bytes.get(file.kind, 0)
            if file.size > largest:
                raise PermanentError(
                    f"{file.url} is {file.size:,} bytes, over {self.platform}'s {file.kind} limit of "
                    f"{largest:,}; send a smaller file"
                )

    def parse_credentials(self, raw: dict[str, Any]) -> CredentialsT:
        return self.credentials_model.model_validate(raw)  # type: ignore[return-value]

    @abstractmethod
    def account_label(self, credentials: CredentialsT) -> str:
        """A non-secret name of the account for logs (a handle, a chat id, a user id)."""

    @abstractmethod
    async def publish(
        self, credentials: CredentialsT, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        """Post `delivery.text` (with link and `media`, the bytes of `delivery.media`) as the account."""

    async def amplify(
        self, credentials: CredentialsT, delivery: Delivery, source: PostRef, media: Sequence[MediaFile] = ()
    ) -> Posted:
        """Amplify a partner's post with `delivery.action` (one of `amplify_actions`); a `copy` posts
        `delivery.text` with `media` as the account's own post."""
        raise PermanentError(f"{self.platform} cannot {delivery.action}")

    async def reconcile(self, credentials: CredentialsT, delivery: Delivery) -> Posted | None:
        """After an ambiguous outcome: the existing post, None if surely absent, else CannotReconcile."""
        raise CannotReconcile(f"{self.platform} offers no way to check whether the post went out")

    async def metrics(self, credentials: CredentialsT, post_ids: list[str]) -> dict[str, Engagement]:
        """Public metrics of the account's posts (at most `metrics_batch_size` ids); missing ids are left out."""
        return {}

    async def audience(self, credentials: CredentialsT) -> int | None:
        """The account's followers or channel members: its potential reach; None if unknown."""
        return None

    def intent_url(self, source: PostRef) -> str | None:
        """A link with which a person amplifies `source` by hand (the `intent` verb); None if none."""
        return None

    # --- messages to people, and the account's update stream ----------------------------------------

    # Whether `ask` can send a message with buttons and `updates` returns the presses (approvals).
    can_ask: ClassVar[bool] = False

    async def ask(self, credentials: CredentialsT, chat_id: str, text: str, choices: Sequence[Choice]) -> str:
        """Send `text` with one button per choice to `chat_id` as the account's bot; the message id."""
        raise PermanentError(f"{self.platform} cannot send messages with buttons")

    async def answer(self, credentials: CredentialsT, press: ButtonPress, text: str) -> None:
        """Acknowledge a press (the platform's small notice to the person who pressed)."""

    def update_source(self, credentials: CredentialsT) -> str | None:
        """A non-secret key of the update stream this account reads (one per bot), None if it has none.

        A bot has one update stream however many accounts use it, and platforms refuse a second
        reader, so one process reads it for all of them."""
        return None

    async def updates(self, credentials: CredentialsT, offset: str | None, timeout_seconds: float) -> Updates:
        """The next events of the account's update stream after `offset` (waiting up to the timeout)."""
        raise PermanentError(f"{self.platform} has no update stream")

    # Whether `updates` gives the posts of the account's own channel (`ChannelPost`), so that
    # `ingest.channels` may name this platform.
    reads_channel_posts: ClassVar[bool] = False

    def watches(self, credentials: CredentialsT, post: ChannelPost) -> bool:
        """Whether `post` is in the account's own channel."""
        return False

    def source_post(self, credentials: CredentialsT, posts: Sequence[ChannelPost]) -> Posted:
        """The agency's own channel post (an album: its messages, first first) as a post Hamafza made,
        so partners amplify it as they amplify any other."""
        raise PermanentError(f"{self.platform} channel posts cannot be taken as items")

    async def download(self, credentials: CredentialsT, file: RemoteFile) -> tuple[bytes, str | None]:
        """A file of a channel post, and the content type the platform gave (checked by the caller)."""
        raise PermanentError(f"{self.platform} cannot download channel files")

    async def aclose(self) -> None:
        """Release HTTP sessions."""


def compose(body: str, tags: list[str], link: str | None) -> str:
    """Body, then hashtags, then the link, each on its own line, as Persian PR posts are laid out."""
    parts = [unicodedata.normalize("NFC", body.strip())]
    if tags:
        parts.append(" ".join(hashtag(tag) for tag in tags))
    if link:
        parts.append(link)
    return "\n\n".join(parts)


ELLIPSIS = "…"
HASHTAG = re.compile(r"(?<!\w)#\w+")
# Punctuation left dangling at the end of a cut sentence, before the ellipsis.
_DANGLING = " \t\n،,;؛:-–—"


def too_long(platform: str, length: int, limit: int, limit_name: str = "limit") -> str:
    return (
        f"text is {length} long on {platform}, over its {limit_name} of {limit}; "
        f"shorten it or give overrides.{platform}.text"
    )


def fit_text(
    adapter: Adapter[Any], body: str, tags: list[str], link: str | None, limit: int, limit_name: str = "limit"
) -> str:
    """`compose(body, tags, link)` within `limit` as `adapter.measure` counts it.

    An item with a link that is too long has its body cut at a word boundary, with "…": the link
    (and the hashtags) stay, so the full text remains one tap away. Without a link nothing is cut:
    a ContentError says by how much it is over, so a person shortens it or gives an override.
    """
    text = compose(body, tags, link)
    length = adapter.measure(text)
    if length <= limit:
        return text
    if link is None:
        raise ContentError(too_long(adapter.platform, length, limit, limit_name))
    body = unicodedata.normalize("NFC", body.strip())
    ends = [word.end() for word in re.finditer(r"\S+", body)]
    # The longest prefix of whole words that fits; measures grow with the prefix, so bisect.
    low, high, best = 1, len(ends) - 1, ""
    while low <= high:
        middle = (low + high) // 2
        candidate = body[: ends[middle - 1]].rstrip(_DANGLING)
        if candidate and adapter.measure(compose(candidate + ELLIPSIS, tags, link)) <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if not best:
        raise ContentError(
            f"{too_long(adapter.platform, length, limit, limit_name)}; even cut short, its link and "
            "hashtags leave no room for a word"
        )
    return compose(best + ELLIPSIS, tags, link)


def hashtag(tag: str) -> str:
    """`هفته حمل و نقل` → `#هفته_حمل_و_نقل`; a ZWNJ stays, as platforms keep it inside hashtags."""
    words = tag.strip().lstrip("#").split()
    return "#" + "_".join(words)
