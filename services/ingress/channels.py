"""Channel watchers: an agency's post in its own channel becomes the item it publishes everywhere else.

Posts arrive on the bots' update streams (services/ingress/updates.py). A post of a watched channel
(`ingest.channels`) waits out a short settle window in Redis, so an album's messages are collected
into one item and an edit made meanwhile is taken; then:

- Hamafza's own posts are never taken: every post Hamafza makes is recorded (`own-post`) in the same
  transaction as its outcome, and while the account has a call under way (`sending`) the watcher
  waits for that outcome first. This decides from Hamafza's records, not from whether a platform
  shows a bot its own posts (some do).
- The item id comes from the platform, the channel and the (first) message id, e.g.
  `ch.telegram.khz_roads.42`, so a restarted or second watcher makes the same item, once.
- The source post is recorded as the agency's own `publish` on the source platform, posted, with its
  real message ids: it is not posted there again, partners amplify it there, and reports count it.
  The item itself goes on the items stream for the agency's other platforms, pictures included
  (downloaded with the account's own bot and kept for the media step).
- Later edits and deletions are not propagated: they are logged and kept with the item.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict
from typing import Any

from redis.exceptions import WatchError

from adapters import ChannelPost, DeliveryError, RemoteFile
from schemas import Action, Delivery, Item, Media, PostRef
from services.logs import get_logger
from services.pipeline.ledger import Ledger
from services.pipeline.media import MediaStep
from services.pipeline.media_guard import sniff
from services.runtime import Runtime, encode, epoch_ms, now, text

log = get_logger("hamafza.channels")

MAX_DOWNLOAD_ATTEMPTS = 5
# Stands for a picture Hamafza already holds (downloaded from the channel), never fetched: `.invalid`
# is a name no resolver answers, so an expired copy is a clear media refusal, not a request elsewhere.
FILE_URL = "https://channel-file.invalid/{platform}/{agency}/{message}/{index}"


def item_id_of(platform: str, post: ChannelPost) -> str:
    """`ch.<platform>.<channel>.<message id>`: the channel's public name, else its id."""
    channel = post.username or post.chat
    return f"ch.{platform}.{channel}.{post.message_id}"


def _post_from(raw: str) -> ChannelPost:
    fields = json.loads(raw)
    fields["files"] = tuple(RemoteFile(**file) for file in fields.get("files", []))
    return ChannelPost(**fields)


class ChannelWatcher:
    def __init__(self, runtime: Runtime, ledger: Ledger, media: MediaStep) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self.media = media
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def source_agency(self, platform: str, agencies: tuple[str, ...], post: ChannelPost) -> str | None:
        """The agency whose own, watched channel this post is in."""
        adapter = self.runtime.adapters.get(platform)
        for agency in agencies:
            config = self.runtime.network.agencies.get(agency)
            account = self.runtime.network.account(agency, platform)
            if adapter is None or config is None or account is None or config.ingest is None:
                continue
            if platform in config.ingest.channels and adapter.watches(account.credentials, post):
                return agency
        return None

    # --- arriving posts --------------------------------------------------------------------------

    async def on_update(self, platform: str, agencies: tuple[str, ...], event: object) -> None:
        if not isinstance(event, ChannelPost):
            return
        agency = self.source_agency(platform, agencies, event)
        if agency is None:
            return
        keys, redis = self.runtime.keys, self.runtime.redis
        group = f"{platform}|{agency}|{event.chat}|{event.media_group or event.message_id}"
        if event.edited or event.deleted:
            await self._changed(platform, agency, group, event)
            return
        due = epoch_ms(now()) + int(self.runtime.settings.channel_settle_seconds * 1000)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.channel_group(group), event.message_id, json.dumps(asdict(event)))
            pipe.zadd(keys.channel_posts, {group: due})  # each album message extends the window
            await pipe.execute()

    async def _changed(self, platform: str, agency: str, group: str, event: ChannelPost) -> None:
        keys, redis = self.runtime.keys, self.runtime.redis
        if await redis.hexists(keys.channel_group(group), event.message_id):
            # Still settling: the edit is what gets published.
            await redis.hset(keys.channel_group(group), event.message_id, json.dumps(asdict(event)))
            return
        item_id = item_id_of(platform, event)
        if not await redis.exists(keys.channel_item(item_id)):
            # An edit of another message of an album, or of a post never taken: the item id of its
            # first message is unknown here, so it is only logged.
            log.info(
                "channel.changed_unknown_post", platform=platform, agency=agency, message_id=event.message_id
            )
            return
        what = "deleted" if event.deleted else "edited"
        await redis.hset(keys.channel_item(item_id), mapping={f"{what}_at": now().isoformat()})
        log.warning(
            f"channel.source_{what}",
            item_id=item_id,
            platform=platform,
            agency=agency,
            detail=f"the source post was {what} after publishing; the other platforms keep the first version",
        )

    # --- settled posts ---------------------------------------------------------------------------

    async def settle_due(self) -> int:
        keys, redis = self.runtime.keys, self.runtime.redis
        due = await redis.zrangebyscore(keys.channel_posts, "-inf", epoch_ms(now()), 0, 20)
        for raw in due:
            await self.settle(raw.decode() if isinstance(raw, bytes) else str(raw))
        return len(due)

    async def settle(self, group: str) -> None:
        keys, redis = self.runtime.keys, self.runtime.redis
        platform, agency, _, _ = group.split("|", 3)
        stored: dict[Any, Any] = await redis.hgetall(keys.channel_group(group))
        fields = {text(k): text(v) for k, v in stored.items()}
        posts = sorted(
            (_post_from(raw) for name, raw in fields.items() if not name.startswith("_")),
            key=lambda post: int(post.message_id) if post.message_id.isdigit() else 0,
        )
        account = self.runtime.network.account(agency, platform)
        adapter = self.runtime.adapters.get(platform)
        if not posts or account is None or adapter is None:
            await self._forget(group)
            return
        ids = [post.message_id for post in posts]
        own = await redis.mget([keys.own_post(platform, agency, post_id) for post_id in ids])
        if any(value is not None for value in own):
            log.info("channel.own_post_skipped", platform=platform, agency=agency, message_ids=ids)
            await self._forget(group)
            return
        sending = keys.sending(platform, agency)
        await redis.zremrangebyscore(sending, "-inf", epoch_ms(now()))
        if await redis.zcard(sending):
            # The account has a call under way: its post may be this one; look again after its outcome.
            await redis.zadd(keys.channel_posts, {group: epoch_ms(now()) + 1000})
            return
        first = posts[0]
        item_id = item_id_of(platform, first)
        try:
            media = await self._media(platform, agency, item_id, account.credentials, posts)
        except DeliveryError as error:
            attempts = int(await redis.hincrby(keys.channel_group(group), "_attempts", 1))
            if attempts < MAX_DOWNLOAD_ATTEMPTS:
                log.warning("channel.download_failed", item_id=item_id, detail=str(error), attempt=attempts)
                await redis.zadd(keys.channel_posts, {group: epoch_ms(now()) + 5000 * attempts})
                return
            log.warning("channel.published_without_media", item_id=item_id, detail=str(error))
            media = []
        await self._publish(platform, agency, group, item_id, posts, media)

    async def _media(
        self, platform: str, agency: str, item_id: str, credentials: Any, posts: list[ChannelPost]
    ) -> list[Media]:
        adapter = self.runtime.adapters[platform]
        found: list[Media] = []
        for post in posts:
            for file in post.files:
                if len(found) >= 10:
                    return found
                data, _ = await adapter.download(credentials, file)
                content_type = sniff(data[:16])
                if content_type is None:
                    log.warning(
                        "channel.file_skipped",
                        item_id=item_id,
                        detail="not a picture or video Hamafza passes on",
                    )
                    continue
                url = FILE_URL.format(
                    platform=platform, agency=agency, message=post.message_id, index=len(found)
                )
                await self.media.keep(item_id, url, content_type, data)
                found.append(Media.model_validate({"url": url}))
        return found

    async def _publish(
        self,
        platform: str,
        agency: str,
        group: str,
        item_id: str,
        posts: list[ChannelPost],
        media: list[Media],
    ) -> None:
        keys, redis, network = self.runtime.keys, self.runtime.redis, self.runtime.network
        adapter = self.runtime.adapters[platform]
        account = network.account(agency, platform)
        assert account is not None
        text = next((post.text for post in posts if post.text.strip()), "") or (posts[0].url or "")
        if not text.strip():
            log.info("channel.post_without_text", item_id=item_id, detail="nothing to publish elsewhere")
            await self._forget(group)
            return
        others = [p for p in network.platforms_of(agency) if p != platform]
        item = Item(id=item_id, agency=agency, text=text, media=media, platforms=others or [platform])
        posted = adapter.source_post(account.credentials, posts)
        source = Delivery(
            id=Delivery.make_id(item_id, agency, platform, Action.PUBLISH),
            item_id=item_id,
            agency=agency,
            platform=platform,
            action=Action.PUBLISH,
            origin_agency=agency,
            text=text,
            media=media,
        )
        post = PostRef(
            platform=platform,
            agency=agency,
            post_id=posted.post_id,
            chat=posted.chat,
            url=posted.url,
            post_ids=list(posted.post_ids),
        )
        _, record = self.ledger.posted_commands(source, post)
        marker = keys.channel_item(item_id)
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(marker)
                if await pipe.exists(marker):
                    await pipe.reset()  # type: ignore[no-untyped-call]
                    await self._forget(group)
                    return
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(
                    marker, mapping={"created_at": now().isoformat(), "source": post.url or post.post_id}
                )
                record(pipe)  # the source post: the agency's own publish, posted
                pipe.sadd(keys.item_deliveries(item_id), source.id)
                if others:
                    pipe.xadd(keys.items, encode(item))
                pipe.zrem(keys.channel_posts, group)
                pipe.delete(keys.channel_group(group))
                await pipe.execute()
            except WatchError:
                return  # another watcher took it meanwhile
        log.info(
            "channel.post_published",
            item_id=item_id,
            agency=agency,
            platform=platform,
            elsewhere=others,
            media=len(media),
        )

    async def _forget(self, group: str) -> None:
        keys = self.runtime.keys
        async with self.runtime.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.channel_posts, group)
            pipe.delete(keys.channel_group(group))
            await pipe.execute()

    # --- the loop --------------------------------------------------------------------------------

    async def run(self, interval_seconds: float = 0.5) -> None:
        while not self._stopping.is_set():
            try:
                await self.settle_due()
            except Exception:
                log.warning("channels.settle_failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval_seconds)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="hamafza-channels")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
