"""The contract every platform adapter keeps, in the shape of airbyte-cdk's standard connector tests:
a class of tests that a test class inherits and runs for its `platform` (every registered adapter,
or a made-up one), against the platform's sandbox fake over real HTTP, through the real client code.

A platform contributes only `tests/contract/platforms/<platform>.py` (two accounts, the path of the
request that commits a post, its own extra faults). Nothing here names a platform.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from adapters import (
    Adapter,
    AmbiguousError,
    CannotReconcile,
    ContentError,
    DeliveryError,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RetryableError,
)
from sandbox import Fault, RunningSandbox, SandboxPost
from schemas import Action, Delivery, Item, Media, PostRef
from tests.contract.case import PlatformCase
from tests.support.faults import assert_no_secret, fault_table
from tests.support.media import picture, video

RESET_SECONDS = 120  # whole minutes, as some platforms state their reset in minutes
SHARED_FAULTS = fault_table(reset_seconds=RESET_SECONDS)
AMPLIFICATIONS = [action for action in Action if action is not Action.PUBLISH]


def delivery(
    adapter: Adapter[Any],
    action: Action = Action.PUBLISH,
    media: Sequence[MediaFile] | None = None,
    source: PostRef | None = None,
) -> Delivery:
    """A delivery of a new item (its own id and text); an amplification is the partner's (isna)."""
    item_id = f"contract-{uuid.uuid4().hex[:10]}"
    agency = "irna" if action is Action.PUBLISH else "isna"
    if media is None:
        media = [picture()] if adapter.requires_media else []
    return Delivery(
        id=Delivery.make_id(item_id, agency, adapter.platform, action),
        item_id=item_id,
        agency=agency,
        platform=adapter.platform,
        action=action,
        origin_agency="irna",
        text=f"آغاز هفته حمل‌ونقل {item_id}",
        media=[Media.model_validate({"url": file.url}) for file in media],
        source=source,
    )


def files_of(adapter: Adapter[Any], sent: Delivery, media: Sequence[MediaFile] | None) -> Sequence[MediaFile]:
    if media is not None:
        return media
    return [picture()] if adapter.requires_media and sent.media else []


def closed_port() -> int:
    with socket.socket() as probe:  # free a moment ago, closed now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AdapterContract:
    """Inherit to run the contract for `platforms` (default: every registered adapter)."""

    platforms: ClassVar[list[str] | None] = None

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def records(case: PlatformCase, sandbox: RunningSandbox) -> list[SandboxPost]:
        return list(case.records(sandbox.sandbox, case.platform))

    @staticmethod
    async def publish(
        adapter: Adapter[Any], credentials: Any, sent: Delivery, media: Sequence[MediaFile] | None = None
    ) -> Posted:
        return await adapter.publish(credentials, sent, files_of(adapter, sent, media))

    async def source_post(self, adapter: Adapter[Any], accounts: tuple[Any, Any]) -> tuple[PostRef, Posted]:
        posted = await self.publish(adapter, accounts[0], delivery(adapter))
        ref = PostRef(
            platform=adapter.platform, agency="irna", post_id=posted.post_id, chat=posted.chat, url=posted.url
        )
        return ref, posted

    async def expect_fault(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        fault: Fault,
        expected: type[DeliveryError],
        call: Awaitable[Any],
        secrets: tuple[str, ...],
    ) -> None:
        before = self.records(case, sandbox)
        sandbox.sandbox.add_fault(adapter.platform, fault)
        with pytest.raises(DeliveryError) as caught:
            await call
        assert type(caught.value) is expected, f"{fault} became {type(caught.value).__name__}: {caught.value}"
        assert not sandbox.sandbox.faults.get(adapter.platform), "the fault never reached the platform"
        assert_no_secret(caught.value, *secrets)
        assert self.records(case, sandbox) == before, "a refused request left a post"
        if isinstance(caught.value, RateLimitedError):
            if case.rate_limit_states_reset:
                expected_reset = datetime.now(UTC) + timedelta(seconds=fault.reset_seconds)
                assert abs((caught.value.reset_at - expected_reset).total_seconds()) < 3
            else:
                assert caught.value.reset_at > datetime.now(UTC), "a wait in the future, of its own"

    # --- what the adapter declares ---------------------------------------------------------------

    def test_declares_names_limits_and_verbs(self, adapter: Adapter[Any]) -> None:
        assert adapter.name.isascii() and adapter.name.strip(), "an English `name`"
        assert adapter.title.strip() and not adapter.title.isascii(), "a Persian `title`"
        assert adapter.text_limit > 0 and adapter.media_limit >= 0
        assert Action.PUBLISH not in adapter.amplify_labels
        assert all(label for label in adapter.amplify_labels.values())
        assert adapter.media_limit == 0 or set(adapter.media_kinds) <= set(adapter.media_max_bytes)
        assert adapter.secret_fields, "the credential fields that are secret, for log redaction"

    # --- publishing and amplifying ---------------------------------------------------------------

    async def test_publish_posts_once(
        self, adapter: Adapter[Any], case: PlatformCase, sandbox: RunningSandbox, accounts: tuple[Any, Any]
    ) -> None:
        sent = delivery(adapter)
        posted = await self.publish(adapter, accounts[0], sent)
        [record] = self.records(case, sandbox)
        assert record.post_id == posted.post_id
        assert sent.item_id in record.text

    @pytest.mark.parametrize("action", AMPLIFICATIONS, ids=lambda action: action.value)
    async def test_each_declared_amplification_and_no_other(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        action: Action,
    ) -> None:
        source, _ = await self.source_post(adapter, accounts)
        before = self.records(case, sandbox)
        sent = delivery(adapter, action, source=source)
        if action not in adapter.amplify_actions or action is Action.INTENT:
            # Undeclared verbs are refused; an intent goes to a person, never to the platform.
            with pytest.raises(PermanentError):
                await adapter.amplify(accounts[1], sent, source, files_of(adapter, sent, None))
            assert self.records(case, sandbox) == before
            return
        amplified = await adapter.amplify(accounts[1], sent, source, files_of(adapter, sent, None))
        [record] = self.records(case, sandbox)[len(before) :]
        assert amplified.post_id
        if action is Action.COPY:
            assert sent.item_id in record.text
        else:
            assert record.source_post_id is not None and record.source_post_id in source.post_id

    # --- media -----------------------------------------------------------------------------------

    async def test_media_within_the_declared_limits(
        self, adapter: Adapter[Any], case: PlatformCase, sandbox: RunningSandbox, accounts: tuple[Any, Any]
    ) -> None:
        if adapter.media_limit == 0:
            # Media not uploaded yet: the post goes out without them, or is refused, never half-sent.
            files = [picture("only", "png")]
            await self.assert_media_left_out_or_refused(adapter, case, sandbox, accounts, files)
            return
        assert "image" in adapter.media_kinds
        files = [
            picture(f"p{index}", "jpeg" if index % 2 == 0 else "png") for index in range(adapter.media_limit)
        ]
        await self.publish(adapter, accounts[0], delivery(adapter, media=files), files)
        [record] = self.records(case, sandbox)
        assert len(record.media) == adapter.media_limit

    async def test_more_media_than_the_limit(
        self, adapter: Adapter[Any], case: PlatformCase, sandbox: RunningSandbox, accounts: tuple[Any, Any]
    ) -> None:
        files = [picture(f"p{index}") for index in range(adapter.media_limit + 1)]
        # Constructed, not validated: an item holds at most 10 media, which may be the platform's limit.
        item = Item.model_construct(
            agency="irna", text="خبر", media=[Media.model_validate({"url": file.url}) for file in files]
        )
        if adapter.media_limit_is_hard:
            with pytest.raises(ContentError, match=str(adapter.media_limit)):
                adapter.render(item)
            return
        await self.assert_media_left_out_or_refused(adapter, case, sandbox, accounts, files)

    async def test_media_over_the_size_or_of_another_kind(
        self, adapter: Adapter[Any], case: PlatformCase, sandbox: RunningSandbox, accounts: tuple[Any, Any]
    ) -> None:
        largest = adapter.media_max_bytes.get("image", 5 * 1024 * 1024)
        too_big = picture("big", size=largest + 1)
        await self.assert_media_left_out_or_refused(adapter, case, sandbox, accounts, [too_big])
        if "video" not in adapter.media_kinds:
            await self.assert_media_left_out_or_refused(adapter, case, sandbox, accounts, [video()])

    async def assert_media_left_out_or_refused(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        files: list[MediaFile],
    ) -> None:
        """The platform never carries media beyond what the adapter declares: a post leaves the excess
        out, or the delivery is refused for good and nothing is posted."""
        before = self.records(case, sandbox)
        allowed = [file for file in files if file.kind in adapter.media_kinds][: adapter.media_limit]
        allowed = [file for file in allowed if file.size <= adapter.media_max_bytes.get(file.kind, 0)]
        try:
            await self.publish(adapter, accounts[0], delivery(adapter, media=files), files)
        except (PermanentError, ContentError):
            assert self.records(case, sandbox) == before
            return
        [record] = self.records(case, sandbox)[len(before) :]
        assert len(record.media) <= len(allowed), f"{len(record.media)} media posted, {len(allowed)} allowed"

    # --- faults ----------------------------------------------------------------------------------

    @pytest.mark.parametrize(("fault", "expected"), SHARED_FAULTS)
    async def test_each_shared_fault_becomes_its_typed_error(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        secrets: tuple[str, ...],
        fault: Fault,
        expected: type[DeliveryError],
    ) -> None:
        aimed = replace(fault, path=case.commit_path)
        sent = delivery(adapter)
        await self.expect_fault(
            adapter, case, sandbox, aimed, expected, self.publish(adapter, accounts[0], sent), secrets
        )

    async def test_the_platforms_own_faults(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        secrets: tuple[str, ...],
    ) -> None:
        for _, fault, expected in case.extra_faults:
            sent = delivery(adapter)
            await self.expect_fault(
                adapter,
                case,
                sandbox,
                replace(fault),
                expected,
                self.publish(adapter, accounts[0], sent),
                secrets,
            )

    async def test_connection_refused_is_retryable_and_says_nothing_was_sent(
        self, platform: str, case: PlatformCase, accounts: tuple[Any, Any], secrets: tuple[str, ...]
    ) -> None:
        from adapters import load_adapters

        refused = load_adapters()[platform](api_base=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2)
        case.tune(refused)
        try:
            with pytest.raises(RetryableError, match="nothing was sent") as caught:
                await self.publish(refused, accounts[0], delivery(refused))
        finally:
            await refused.aclose()
        assert_no_secret(caught.value, *secrets)

    # --- ambiguity: reconcile, and never two posts -----------------------------------------------

    async def ambiguous_publish(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        secrets: tuple[str, ...],
    ) -> tuple[Delivery, SandboxPost]:
        """A post the platform made whose answer never arrived."""
        sent = delivery(adapter)
        sandbox.sandbox.add_fault(adapter.platform, Fault(kind="drop", path=case.commit_path))
        with pytest.raises(DeliveryError) as caught:
            await self.publish(adapter, accounts[0], sent)
        assert type(caught.value) is AmbiguousError, f"a dropped answer became {type(caught.value).__name__}"
        assert_no_secret(caught.value, *secrets)
        [committed] = self.records(case, sandbox)
        return sent, committed

    async def test_reconcile_after_an_ambiguous_outcome(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        secrets: tuple[str, ...],
    ) -> None:
        never_sent = delivery(adapter)
        with contextlib.suppress(CannotReconcile):
            assert await adapter.reconcile(accounts[0], never_sent) is None, "found a post never sent"
        sent, committed = await self.ambiguous_publish(adapter, case, sandbox, accounts, secrets)
        try:
            found = await adapter.reconcile(accounts[0], sent)
        except CannotReconcile as error:
            assert_no_secret(error, *secrets)
            return
        assert found is not None, "the post exists, yet reconcile says it is surely absent"
        assert found.post_id == committed.post_id

    async def test_a_retry_never_posts_twice(
        self,
        adapter: Adapter[Any],
        case: PlatformCase,
        sandbox: RunningSandbox,
        accounts: tuple[Any, Any],
        secrets: tuple[str, ...],
    ) -> None:
        # After an ambiguous answer, as deliver does: reconcile; resend only if surely absent.
        sent, committed = await self.ambiguous_publish(adapter, case, sandbox, accounts, secrets)
        try:
            if await adapter.reconcile(accounts[0], sent) is None:
                await self.publish(adapter, accounts[0], sent)
        except CannotReconcile:
            pass  # an `unconfirmed` dead letter for a person
        assert self.records(case, sandbox) == [committed]
        # After a refusal that sent nothing, the retry posts exactly once.
        again = delivery(adapter)
        sandbox.sandbox.add_fault(adapter.platform, Fault(kind="error", status=503, path=case.commit_path))
        with pytest.raises(RetryableError):
            await self.publish(adapter, accounts[0], again)
        posted = await self.publish(adapter, accounts[0], again)
        assert [record.post_id for record in self.records(case, sandbox)] == [
            committed.post_id,
            posted.post_id,
        ]
