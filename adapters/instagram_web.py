"""Instagram's public web through instaloader (reach: likes, comments, views, followers), without
waiting out its throttling, and pointable at the sandbox's fake."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import requests
import requests.adapters
from instaloader import Instaloader, Post
from instaloader.exceptions import InstaloaderException, QueryReturnedNotFoundException
from instaloader.instaloadercontext import RateController

from adapters.base import Engagement, RetryableError

WEB_HOSTS = ("https://www.instagram.com/", "https://i.instagram.com/")

# --- pointing instaloader at a fake --------------------------------------------------------------

_WEB_BASE: contextvars.ContextVar[str | None] = contextvars.ContextVar("instagram_web_base", default=None)
_PATCH_LOCK = threading.Lock()
_PATCHED: list[bool] = []  # one True once `HTTPAdapter.send` is wrapped


def _redirect_instaloader_hosts() -> None:
    """Move instaloader's requests to `_WEB_BASE`, when set in the calling context, and only then.

    instaloader builds `https://www.instagram.com/…` itself and makes fresh `requests` sessions
    (which do not keep mounted transport adapters), so the redirect wraps `HTTPAdapter.send` once per
    process. It acts only inside a context that set `_WEB_BASE` (`asyncio.to_thread` carries it), so
    every other use of `requests` is untouched. The request is copied before its URL changes, so the
    cookies it brings back stay filed under instagram.com.
    """
    with _PATCH_LOCK:
        if _PATCHED:
            return
        original = requests.adapters.HTTPAdapter.send

        def send(
            self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any
        ) -> Any:
            base = _WEB_BASE.get()
            url = request.url or ""
            if base is not None and url.startswith(WEB_HOSTS):
                moved = request.copy()
                moved.url = f"{base}/{url.removeprefix('https://')}"
                return original(self, moved, *args, **kwargs)
            return original(self, request, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
        _PATCHED.append(True)


class _WouldWait(InstaloaderException):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"instagram's public web is throttling reads; try again in {seconds:.0f} s")
        self.seconds = seconds


class _NoWaitRateController(RateController):
    """instaloader's rate controller, raising where it would sleep (up to 11 minutes after a 429)."""

    def sleep(self, secs: float) -> None:
        if secs > 0:
            raise _WouldWait(secs)


def post_engagement(loader: Instaloader, shortcode: str) -> Engagement:
    post = Post.from_shortcode(loader.context, shortcode)
    views = post.video_view_count if post.is_video else None
    return Engagement(likes=int(post.likes), replies=int(post.comments), views=int(views) if views else None)


def new_loader(timeout_seconds: float) -> Instaloader:
    return Instaloader(
        sleep=False,
        quiet=True,
        max_connection_attempts=1,
        request_timeout=timeout_seconds,
        rate_controller=_NoWaitRateController,
    )


async def read_public_web(loader: Instaloader, web_base: str | None, read: Any) -> Any:
    """Runs `read(loader)` in a thread, on `web_base` instead of instagram.com when given; None for a
    post or profile that is not there."""
    token = None
    if web_base is not None:
        _redirect_instaloader_hosts()
        token = _WEB_BASE.set(web_base)
    try:
        return await asyncio.to_thread(read, loader)
    except _WouldWait as error:
        raise RetryableError(str(error)) from None
    except QueryReturnedNotFoundException:
        return None
    except InstaloaderException as error:
        raise RetryableError(f"reading Instagram's public web failed ({type(error).__name__})") from None
    finally:
        if token is not None:
            _WEB_BASE.reset(token)
