"""The adapter of every Bot-API provider (Telegram, Bale, Soroush+): a channel, through a bot that
administers it, over `adapters.botapi.BotApiClient`.

- publish: `sendMessage`; one picture or video as `sendPhoto` / `sendVideo` / `sendDocument` with the
  text as caption (held to the caption limit); 2–10 as one album (`sendMediaGroup`, the caption on
  the first), whose first message id is the delivery's post id, all ids kept in `Posted.post_ids`.
  Files are the bytes Hamafza fetched, uploaded as multipart; without them, the item's URLs.
- forward: `forwardMessage` (an album: `forwardMessages` where the provider has it, else each message).
- copy: `copyMessage` of a single picture or video with the partner's own caption; otherwise the
  partner's own wording is posted as its own message (a text message cannot be re-worded by copy).
- audience: the channel's member count. Post views and reconciliation come from subclasses that can
  read the channel's public pages (Telegram); elsewhere an ambiguous send cannot be checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, StringConstraints

from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    ButtonPress,
    ChannelPost,
    Choice,
    DeliveryError,
    MediaFile,
    MediaKind,
    PermanentError,
    Posted,
    RemoteFile,
    Updates,
)
from adapters.botapi import BotApiClient, BotApiProfile
from adapters.botapi_errors import is_setup_problem
from schemas import Action, Delivery, Item, PostRef

BotToken = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d+:[A-Za-z0-9_-]+$")]
ChatId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(@[A-Za-z0-9_]+|-?\d+)$")]

MB = 1024 * 1024


class BotCredentials(BaseModel):
    """A bot that is an admin of the channel it posts to."""

    # A malformed token is still a secret: keep it out of validation error messages.
    model_config = ConfigDict(
        extra="forbid", frozen=True, coerce_numbers_to_str=True, hide_input_in_errors=True
    )

    bot_token: BotToken
    chat_id: ChatId


class BotApiAdapter(Adapter[BotCredentials]):
    """A Bot-API provider; subclasses give `platform`, `title`, `name` and `profile`."""

    profile: ClassVar[BotApiProfile]
    credentials_model = BotCredentials
    amplify_labels: ClassVar[Mapping[Action, str]] = {Action.FORWARD: "forward", Action.COPY: "copy"}
    text_limit = 4096
    caption_limit: ClassVar[int] = 1024
    media_limit = 10
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video"})
    # Uploads: photos up to 10 MB, other files (videos) up to 50 MB.
    media_max_bytes: ClassVar[Mapping[MediaKind, int]] = {"image": 10 * MB, "video": 50 * MB}
    secret_fields = frozenset({"bot_token"})
    # About 20 messages a minute into one channel.
    rate_limit: ClassVar[str | None] = "20/minute"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        profile = cls.__dict__.get("profile")
        if profile is not None:
            # The profile is the one source of a provider's limits and verbs.
            cls.default_api_base = profile.default_api_base
            cls.text_limit = profile.text_limit
            cls.caption_limit = profile.caption_limit
            cls.media_limit = 10 if profile.has_media_group else 1
            cls.media_max_bytes = {
                "image": profile.upload_limits["photo"],
                "video": profile.upload_limits["video"],
            }
            labels = {Action.FORWARD: "forward"}
            if profile.has_copy:
                labels[Action.COPY] = "copy"
            cls.amplify_labels = labels
            cls.reads_channel_posts = profile.channel_posts_in_updates
            if not profile.channel_posts_in_updates:
                cls.allowed_updates = ("callback_query",)
        super().__init_subclass__(**kwargs)

    def __init__(
        self, api_base: str | None = None, timeout_seconds: float = 20.0, web_base: str | None = None
    ) -> None:
        super().__init__(api_base, timeout_seconds, web_base)
        self.client = BotApiClient(self.profile, self.api_base, timeout_seconds)

    # --- rendering -------------------------------------------------------------------------------

    def limit_for(self, item: Item) -> tuple[int, str]:
        # A post with media is one photo or album, its text the caption.
        if item.media:
            return self.caption_limit, "caption limit (a post with a picture)"
        return self.text_limit, "limit"

    # --- calls -----------------------------------------------------------------------------------

    def account_label(self, credentials: BotCredentials) -> str:
        return f"{self.platform}:{credentials.chat_id}"

    async def publish(
        self, credentials: BotCredentials, delivery: Delivery, media: Sequence[MediaFile] = ()
    ) -> Posted:
        self.check_media(media)
        files: Sequence[MediaFile | str] = list(media) or [str(entry.url) for entry in delivery.media]
        files = files[: self.media_limit]
        token, chat = credentials.bot_token, credentials.chat_id
        try:
            if len(files) >= 2:
                messages = await self.client.send_media_group(token, chat, files, delivery.text)
                ids = [str(message["message_id"]) for message in messages]
                return self._posted(credentials, messages[0], ids)
            if files:
                message = await self.client.send_media(token, chat, files[0], delivery.text)
            else:
                message = await self.client.send_message(token, chat, delivery.text, link=delivery.link)
        except DeliveryError as error:
            raise self._account_error(error) from None
        return self._posted(credentials, message)

    async def amplify(
        self,
        credentials: BotCredentials,
        delivery: Delivery,
        source: PostRef,
        media: Sequence[MediaFile] = (),
    ) -> Posted:
        if delivery.action not in self.amplify_actions:
            return await super().amplify(credentials, delivery, source, media)
        ids = source.post_ids or [source.post_id]
        if source.chat is None or not all(post_id.isdigit() for post_id in ids):
            raise PermanentError(
                f"cannot {delivery.action} {source.platform} post {source.post_id!r}: it has no chat or message id"
            )
        if delivery.action is Action.COPY:
            return await self._copy(credentials, delivery, source, media)
        return await self._forward(credentials, source.chat, [int(post_id) for post_id in ids])

    async def audience(self, credentials: BotCredentials) -> int | None:
        """The channel's member count: its potential reach."""
        try:
            return await self.client.chat_member_count(credentials.bot_token, credentials.chat_id)
        except DeliveryError as error:
            raise self._account_error(error) from None

    # --- approval requests and the bot's update stream ---------------------------------------------

    can_ask: ClassVar[bool] = True
    # Updates the bot asks for: presses on its buttons, and its channels' posts (the channel watchers).
    allowed_updates: ClassVar[tuple[str, ...]] = ("callback_query", "channel_post", "edited_channel_post")

    async def ask(
        self, credentials: BotCredentials, chat_id: str, text: str, choices: Sequence[Choice]
    ) -> str:
        message = await self.client.send_message(
            credentials.bot_token, chat_id, text, buttons=[(choice.label, choice.data) for choice in choices]
        )
        return str(message["message_id"])

    async def answer(self, credentials: BotCredentials, press: ButtonPress, text: str) -> None:
        await self.client.answer_callback_query(credentials.bot_token, press.id, text)

    def update_source(self, credentials: BotCredentials) -> str | None:
        # The bot's numeric id is the part of the token before the colon: public, and one per bot.
        return credentials.bot_token.partition(":")[0]

    async def updates(
        self, credentials: BotCredentials, offset: str | None, timeout_seconds: float
    ) -> Updates:
        raw = await self.client.get_updates(
            credentials.bot_token,
            offset=int(offset) if offset and offset.isdigit() else None,
            timeout=int(timeout_seconds),
            allowed_updates=self.allowed_updates,
        )
        events: list[Any] = []
        last = None
        for update in raw:
            update_id = update.get("update_id")
            if isinstance(update_id, int):
                last = update_id if last is None else max(last, update_id)
            event = self.event_of(update)
            if event is not None:
                events.append(event)
        # Telegram confirms every update before `offset`: the next read starts after the last one.
        return Updates(tuple(events), str(last + 1) if last is not None else offset)

    def event_of(self, update: dict[str, Any]) -> Any:
        """One update as Hamafza's event; None for kinds nobody here handles."""
        for kind, edited in (("channel_post", False), ("edited_channel_post", True)):
            message = update.get(kind)
            if isinstance(message, dict):
                return self._channel_post(message, edited)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("data"), str):
            message = query.get("message") if isinstance(query.get("message"), dict) else {}
            chat = (message or {}).get("chat") if isinstance((message or {}).get("chat"), dict) else {}
            sender = query.get("from") if isinstance(query.get("from"), dict) else {}
            return ButtonPress(
                id=str(query.get("id", "")),
                chat=str((chat or {}).get("id", "")),
                data=query["data"],
                user=str((sender or {}).get("id")) if (sender or {}).get("id") is not None else None,
                message_id=str((message or {}).get("message_id"))
                if (message or {}).get("message_id")
                else None,
            )
        return None

    def _channel_post(self, message: dict[str, Any], edited: bool) -> ChannelPost | None:
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else None
        if chat is None or "message_id" not in message:
            return None
        files: list[RemoteFile] = []
        photo = message.get("photo")
        if isinstance(photo, list) and photo and isinstance(photo[-1], dict):
            files.append(RemoteFile(str(photo[-1]["file_id"]), "image"))  # the largest size is last
        video = message.get("video")
        if isinstance(video, dict) and video.get("file_id"):
            files.append(RemoteFile(str(video["file_id"]), "video"))
        username = chat.get("username") if isinstance(chat.get("username"), str) else None
        post_id = str(message["message_id"])
        return ChannelPost(
            chat=str(chat.get("id", "")),
            message_id=post_id,
            text=str(message.get("text") or message.get("caption") or ""),
            username=username,
            files=tuple(files),
            media_group=str(message["media_group_id"]) if message.get("media_group_id") else None,
            edited=edited,
            forwarded="forward_origin" in message or "forward_from_chat" in message,
            url=self._post_url(username, post_id),
        )

    def watches(self, credentials: BotCredentials, post: ChannelPost) -> bool:
        configured = credentials.chat_id
        if configured.startswith("@"):
            return post.username is not None and post.username.lower() == configured[1:].lower()
        return configured == post.chat

    def source_post(self, credentials: BotCredentials, posts: Sequence[ChannelPost]) -> Posted:
        return self._posted_ids(credentials, [post.message_id for post in posts])

    async def download(self, credentials: BotCredentials, file: RemoteFile) -> tuple[bytes, str | None]:
        return await self.client.download_file(credentials.bot_token, file.ref)

    async def aclose(self) -> None:
        await self.client.close()

    # --- helpers ---------------------------------------------------------------------------------

    async def _forward(self, credentials: BotCredentials, from_chat: str, ids: list[int]) -> Posted:
        token, chat = credentials.bot_token, credentials.chat_id
        if len(ids) > 1 and self.profile.has_forward_many:
            new_ids = await self.client.forward_messages(token, chat, from_chat, ids)
            return self._posted_ids(credentials, [str(new) for new in new_ids])
        forwarded: list[str] = []
        for message_id in ids:
            try:
                message = await self.client.forward_message(token, chat, from_chat, message_id)
            except DeliveryError as error:
                if forwarded:
                    # Part of the album is out: sending again would repeat it.
                    raise AmbiguousError(
                        f"{self.platform} forwarded {len(forwarded)} of {len(ids)} album messages, then: {error}"
                    ) from None
                raise
            forwarded.append(str(message["message_id"]))
        return self._posted_ids(credentials, forwarded)

    async def _copy(
        self, credentials: BotCredentials, delivery: Delivery, source: PostRef, media: Sequence[MediaFile]
    ) -> Posted:
        if delivery.media and not source.post_ids and source.chat is not None:
            # One picture or video: copied with the partner's own caption, without uploading it again.
            try:
                new_id = await self.client.copy_message(
                    credentials.bot_token,
                    credentials.chat_id,
                    source.chat,
                    int(source.post_id),
                    delivery.text,
                )
            except DeliveryError as error:
                raise self._account_error(error) from None
            return self._posted_ids(credentials, [str(new_id)])
        # Text (which copy cannot re-word) or an album: the partner's wording as its own post.
        return await self.publish(credentials, delivery, media)

    def _account_error(self, error: DeliveryError) -> DeliveryError:
        """A refusal about the account's own chat is for a person to fix, as refused credentials are."""
        if is_setup_problem(self.profile, error):
            return AuthError(f"{error}; check the chat_id and that the bot is an admin there")
        return error

    def _posted(
        self, credentials: BotCredentials, message: dict[str, Any], ids: Sequence[str] = ()
    ) -> Posted:
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        username = (chat or {}).get("username") or self._username(credentials)
        post_id = str(message["message_id"])
        return Posted(
            post_id=post_id,
            url=self._post_url(username, post_id),
            chat=credentials.chat_id,
            post_ids=tuple(ids) if len(ids) > 1 else (),
        )

    def _posted_ids(self, credentials: BotCredentials, ids: Sequence[str]) -> Posted:
        return Posted(
            post_id=ids[0],
            url=self._post_url(self._username(credentials), ids[0]),
            chat=credentials.chat_id,
            post_ids=tuple(ids) if len(ids) > 1 else (),
        )

    @staticmethod
    def _username(credentials: BotCredentials) -> str | None:
        return credentials.chat_id[1:] if credentials.chat_id.startswith("@") else None

    def _post_url(self, username: str | None, post_id: str) -> str | None:
        base = self.profile.post_url_base
        return f"{base}/{username}/{post_id}" if username and base else None
