"""Instagram: publishing through the Graph API (aiohttp), reach through instaloader.

Publishing is two-phase. A *container* is made from media at public URLs (Meta fetches them):
`POST /{ig-user-id}/media` with `image_url`, or `video_url` and `media_type=REELS` (video containers
are polled until `status_code` is `FINISHED`), or, for 2–10 media, one child per item and a
`CAROUSEL` parent. Then `POST /{ig-user-id}/media_publish?creation_id=…` makes the post. The daily
quota is read from `content_publishing_limit` first; a full quota pauses the account.

No second post on a retry: the container id is recorded (by delivery id, in the adapter) before
`media_publish` is called. A retry of the same delivery looks at that container first: `PUBLISHED`
means the earlier attempt went out, and the post is found among the account's newest media by its
caption; `FINISHED` is published as is, without a new container. After a lost answer or a worker
crash (`reconcile`), the same two checks run, the caption search alone when this process never
saw the container. The record lives in memory, not in the ledger: across a restart, the caption
search (which Instagram returns verbatim) is what prevents the double post.

Reach (`metrics`, `audience`) comes from Instagram's public web through instaloader: a post's likes,
comments and views by its shortcode, which the Graph API gives for the media id, and the profile's
followers. instaloader never sleeps here: its rate controller raises instead of waiting 11 minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from instaloader import Instaloader, Profile
from pydantic import BaseModel, ConfigDict, Field

from adapters import register
from adapters.base import (
    Adapter,
    AmbiguousError,
    ContentError,
    DeliveryError,
    Engagement,
    LazySession,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from adapters.instagram_errors import QUOTA_RECHECK, translate
from adapters.instagram_web import new_loader, post_engagement, read_public_web
from schemas import Action, Delivery, Item

GRAPH_HOST = "https://graph.facebook.com"
GRAPH_VERSION = "v23.0"
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
RECENT_MEDIA = 50


class InstagramCredentials(BaseModel):
    """A professional account's Graph API user id and a long-lived token with `instagram_content_publish`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=True
    )

    ig_user_id: str = Field(pattern=r"^\d+$")
    access_token: str = Field(min_length=10, repr=False)
    username: str = Field(
        pattern=r"^[A-Za-z0-9._]{1,30}$", description="For reach: the public profile's name."
    )


# --- the adapter ---------------------------------------------------------------------------------


@register
class InstagramAdapter(Adapter[InstagramCredentials]):
    platform: ClassVar[str] = "instagram"
    title: ClassVar[str] = "اینستاگرام"
    name: ClassVar[str] = "Instagram"
    credentials_model: ClassVar[type[BaseModel]] = InstagramCredentials
    default_api_base: ClassVar[str] = GRAPH_HOST
    amplify_labels: ClassVar[Mapping[Action, str]] = {}  # Instagram has no repost API
    text_limit: ClassVar[int] = 2200
    media_limit: ClassVar[int] = 10  # one carousel
    media_limit_is_hard: ClassVar[bool] = True
    # Meta fetches each media URL itself (with cURL), so Hamafza fetches and uploads nothing here.
    uploads_media: ClassVar[bool] = False
    requires_media: ClassVar[bool] = True
    hashtag_limit: ClassVar[int | None] = 5
    secret_fields: ClassVar[frozenset[str]] = frozenset({"access_token"})
    supports_metrics: ClassVar[bool] = True
    poll_interval_seconds: ClassVar[float] = 2.0
    max_polls: ClassVar[int] = 60

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self._http = LazySession(self.timeout_seconds)
        self.containers: dict[str, str] = {}  # delivery id → container id, recorded before publishing
        self._shortcodes: dict[str, str] = {}
        self._loader: Instaloader | None = None

    def account_label(self, credentials: InstagramCredentials) -> str:
        return f"instagram:@{credentials.username}"

    def render(self, item: Item) -> str:
        text = super().render(item)
        for media in item.media:
            if urlsplit(str(media.url)).scheme != "https":
                raise ContentError(
                    f"Instagram fetches media itself, so {media.url} must be a public https URL"
                )
        return text

    # --- deliveries ------------------------------------------------------------------------------

    async def publish(
        self, credentials: InstagramCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        if not delivery.media:
            raise PermanentError("an Instagram post needs a picture or video; this delivery has none")
        self.check_media(media)
        container = self.containers.get(delivery.id)
        if container is not None:
            status = await self._status_code(credentials, container)
            if status == "PUBLISHED":
                existing = await self._find_by_caption(credentials, delivery.text)
                if existing is not None:
                    return existing
                raise AmbiguousError("the container was published but its post is not among the newest media")
            if status != "FINISHED":
                container = None  # expired or failed: make a new one
        await self._check_quota(credentials)
        if container is None:
            container = await self._make_container(credentials, delivery)
            self.containers[delivery.id] = container
        published = await self._graph(
            credentials, "POST", f"{credentials.ig_user_id}/media_publish", {"creation_id": container}
        )
        media_id = str(published["id"])
        return Posted(post_id=media_id, url=await self._permalink(credentials, media_id))

    async def reconcile(self, credentials: InstagramCredentials, delivery: Delivery) -> Posted | None:
        container = self.containers.get(delivery.id)
        if container is not None and await self._status_code(credentials, container) != "PUBLISHED":
            return None  # the container exists and is not published: surely not posted
        return await self._find_by_caption(credentials, delivery.text)

    async def metrics(self, credentials: InstagramCredentials, post_ids: list[str]) -> dict[str, Engagement]:
        found: dict[str, Engagement] = {}
        for media_id in post_ids[: self.metrics_batch_size]:
            shortcode = self._shortcodes.get(media_id)
            if shortcode is None:
                try:
                    node = await self._graph(
                        credentials, "GET", media_id, {"fields": "shortcode"}, write=False
                    )
                except PermanentError:
                    continue
                shortcode = self._shortcodes[media_id] = str(node["shortcode"])
            engagement = await self._web(lambda loader, code=shortcode: post_engagement(loader, code))
            if engagement is not None:
                found[media_id] = engagement
        return found

    async def audience(self, credentials: InstagramCredentials) -> int | None:
        followers: int | None = await self._web(
            lambda loader: int(Profile.from_username(loader.context, credentials.username).followers)
        )
        return followers

    async def aclose(self) -> None:
        await self._http.close()
        if self._loader is not None:
            self._loader.close()  # type: ignore[no-untyped-call]
            self._loader = None

    # --- publishing steps ------------------------------------------------------------------------

    async def _make_container(self, credentials: InstagramCredentials, delivery: Delivery) -> str:
        user = credentials.ig_user_id
        if len(delivery.media) == 1:
            fields = _media_fields(str(delivery.media[0].url), carousel_item=False)
            fields["caption"] = delivery.text
            if delivery.media[0].alt and "image_url" in fields:
                fields["alt_text"] = delivery.media[0].alt
            container = str((await self._graph(credentials, "POST", f"{user}/media", fields))["id"])
            await self._wait_until_finished(credentials, container)
            return container
        children = []
        for media in delivery.media[: self.media_limit]:
            child = str(
                (
                    await self._graph(
                        credentials, "POST", f"{user}/media", _media_fields(str(media.url), True)
                    )
                )["id"]
            )
            await self._wait_until_finished(credentials, child)
            children.append(child)
        fields = {"media_type": "CAROUSEL", "children": ",".join(children), "caption": delivery.text}
        return str((await self._graph(credentials, "POST", f"{user}/media", fields))["id"])

    async def _wait_until_finished(self, credentials: InstagramCredentials, container: str) -> None:
        for _ in range(self.max_polls):
            status = await self._status_code(credentials, container)
            if status == "FINISHED":
                return
            if status in {"ERROR", "EXPIRED"}:
                raise PermanentError(f"Instagram could not process the media (container status {status})")
            await asyncio.sleep(self.poll_interval_seconds)
        raise RetryableError("Instagram is still processing the video; trying again later")

    async def _status_code(self, credentials: InstagramCredentials, container: str) -> str:
        node = await self._graph(credentials, "GET", container, {"fields": "status_code"}, write=False)
        return str(node.get("status_code", ""))

    async def _check_quota(self, credentials: InstagramCredentials) -> None:
        answer = await self._graph(
            credentials,
            "GET",
            f"{credentials.ig_user_id}/content_publishing_limit",
            {"fields": "quota_usage,config"},
            write=False,
        )
        for entry in answer.get("data", []):
            usage, total = entry.get("quota_usage"), (entry.get("config") or {}).get("quota_total")
            if isinstance(usage, int) and isinstance(total, int) and usage >= total:
                raise RateLimitedError(
                    f"Instagram's publishing quota is used up ({usage} of {total} posts in 24 h)",
                    reset_at=datetime.now(UTC) + QUOTA_RECHECK,
                )

    async def _find_by_caption(self, credentials: InstagramCredentials, caption: str) -> Posted | None:
        answer = await self._graph(
            credentials,
            "GET",
            f"{credentials.ig_user_id}/media",
            {"fields": "id,caption,permalink,shortcode", "limit": str(RECENT_MEDIA)},
            write=False,
        )
        wanted = " ".join(caption.split())
        for media in answer.get("data", []):
            if " ".join(str(media.get("caption") or "").split()) == wanted:
                if media.get("shortcode"):
                    self._shortcodes[str(media["id"])] = str(media["shortcode"])
                return Posted(post_id=str(media["id"]), url=media.get("permalink"))
        return None

    async def _permalink(self, credentials: InstagramCredentials, media_id: str) -> str | None:
        try:
            node = await self._graph(
                credentials, "GET", media_id, {"fields": "permalink,shortcode"}, write=False
            )
        except DeliveryError:
            return None  # the post exists; its link is a nicety
        if node.get("shortcode"):
            self._shortcodes[media_id] = str(node["shortcode"])
        return str(node["permalink"]) if node.get("permalink") else None

    # --- plumbing --------------------------------------------------------------------------------

    async def _graph(
        self,
        credentials: InstagramCredentials,
        method: str,
        path: str,
        params: dict[str, str],
        write: bool = True,
    ) -> dict[str, Any]:
        """One Graph API call; the token goes in the Authorization header, never in a URL."""
        url = f"{self.api_base}/{GRAPH_VERSION}/{path}"
        headers = {"Authorization": f"Bearer {credentials.access_token}"}
        failure: DeliveryError
        try:
            async with self._http.get().request(method, url, params=params, headers=headers) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                if response.status == 200 and isinstance(body, dict) and "error" not in body:
                    return body
                error = body.get("error") if isinstance(body, dict) else None
                failure = translate(
                    response.status, error if isinstance(error, dict) else {}, response.headers, write
                )
        except aiohttp.ClientConnectorError:
            failure = RetryableError("could not connect to the Instagram Graph API; nothing was sent")
        except aiohttp.ConnectionTimeoutError:
            failure = RetryableError("timed out connecting to the Instagram Graph API; nothing was sent")
        except (TimeoutError, aiohttp.ClientError) as error:
            what = f"{type(error).__name__} after the request was sent"
            failure = (
                AmbiguousError(f"Instagram may or may not have done it ({what})")
                if write
                else RetryableError(f"reading from Instagram failed ({what})")
            )
        raise failure

    async def _web(self, read: Any) -> Any:
        """An instaloader read in a thread, moved onto the sandbox when `api_base` is not Meta's."""
        if self._loader is None:
            self._loader = new_loader(self.timeout_seconds)
        web_base = self.api_base if self.api_base != GRAPH_HOST else None
        return await read_public_web(self._loader, web_base, read)


def _media_fields(url: str, carousel_item: bool) -> dict[str, str]:
    video = urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)
    fields = (
        {"media_type": "VIDEO" if carousel_item else "REELS", "video_url": url}
        if video
        else {"image_url": url}
    )
    if carousel_item:
        fields["is_carousel_item"] = "true"
    return fields
