"""Eitaa through its bot HTTP API (aiohttp), against the sandbox's Eitaa fake over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pydantic
import pytest

from adapters import (
    AmbiguousError,
    AuthError,
    CannotReconcile,
    DeliveryError,
    PermanentError,
)
from adapters.eitaa import EitaaAdapter, EitaaCredentials
from sandbox import Fault, RunningSandbox
from schemas import Action, Delivery, PostRef
from tests.support.faults import assert_fault_becomes, fault_table

TOKEN = "bot123456:SECRETeitaaTOKEN"


def creds(chat_id: str = "irna_news") -> EitaaCredentials:
    return EitaaCredentials(token=TOKEN, chat_id=chat_id)


def delivery(text: str = "سلام ایتا", action: Action = Action.PUBLISH) -> Delivery:
    return Delivery(
        id=Delivery.make_id("news-1", "irna", "eitaa", action),
        item_id="news-1",
        agency="irna",
        platform="eitaa",
        action=action,
        origin_agency="irna",
        text=text,
    )


@pytest.fixture
async def adapter(sandbox: RunningSandbox) -> AsyncIterator[EitaaAdapter]:
    instance = EitaaAdapter(api_base=sandbox.api_base("eitaa"), timeout_seconds=3)
    yield instance
    await instance.aclose()


def assert_no_secret(error: BaseException) -> None:
    assert isinstance(error, DeliveryError)
    assert "SECRET" not in f"{error} {error!r}"
    assert error.__context__ is None and error.__cause__ is None


async def test_publish_sends_a_message_to_the_channel(sandbox: RunningSandbox, adapter: EitaaAdapter) -> None:
    posted = await adapter.publish(creds(), delivery())
    second = await adapter.publish(creds("@irna_news"), delivery("دوم"))

    first_post, second_post = sandbox.sandbox.posts_on("eitaa")
    assert first_post.text == "سلام ایتا" and first_post.chat == "irna_news"
    assert posted.post_id == "1" and second.post_id == "2"
    assert posted.url == "https://eitaa.com/irna_news/1"
    assert second.chat == "@irna_news" and second_post.chat == "irna_news"


async def test_no_amplification_and_no_reconciliation(adapter: EitaaAdapter) -> None:
    assert adapter.amplify_actions == frozenset()
    with pytest.raises(PermanentError):
        await adapter.amplify(
            creds(), delivery(action=Action.FORWARD), PostRef(platform="eitaa", agency="x", post_id="1")
        )
    with pytest.raises(CannotReconcile):
        await adapter.reconcile(creds(), delivery())
    assert await adapter.metrics(creds(), ["1"]) == {}


@pytest.mark.parametrize(
    ("fault", "expected"),
    fault_table(reset_seconds=9, extra=(pytest.param(Fault(kind="error", status=403), AuthError, id="403"),)),
)
async def test_faults_map_to_typed_errors(
    sandbox: RunningSandbox, adapter: EitaaAdapter, fault: Fault, expected: type[DeliveryError]
) -> None:
    await assert_fault_becomes(
        sandbox,
        "eitaa",
        fault,
        expected,
        lambda: adapter.publish(creds(), delivery()),
        secrets=("SECRET",),
        reset_after=timedelta(seconds=9),
    )


async def test_channel_without_admin_rights_is_an_auth_error(adapter: EitaaAdapter) -> None:
    with pytest.raises(AuthError, match="admin"):
        await adapter.publish(creds("notadmin_channel"), delivery())


async def test_too_long_is_permanent(adapter: EitaaAdapter) -> None:
    with pytest.raises(PermanentError, match="too long"):
        await adapter.publish(creds(), delivery("ب" * 4097))


async def test_dropped_answer_is_ambiguous_and_cannot_be_reconciled(
    sandbox: RunningSandbox, adapter: EitaaAdapter
) -> None:
    sandbox.sandbox.add_fault("eitaa", Fault(kind="drop"))
    with pytest.raises(AmbiguousError) as caught:
        await adapter.publish(creds(), delivery())
    assert_no_secret(caught.value)
    assert len(sandbox.sandbox.posts_on("eitaa")) == 1
    with pytest.raises(CannotReconcile):
        await adapter.reconcile(creds(), delivery())


def test_credentials_hide_the_token() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        EitaaCredentials.model_validate({"token": "bad token SECRET", "chat_id": "x"})
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(creds())
    assert EitaaAdapter().account_label(creds()) == "eitaa:irna_news"
