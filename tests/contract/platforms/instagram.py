from typing import Any

from adapters import Adapter
from tests.contract.case import PlatformCase


def _poll_fast(adapter: Adapter[Any]) -> None:
    adapter.poll_interval_seconds = 0.01  # type: ignore[attr-defined]


CASE = PlatformCase(
    platform="instagram",
    accounts=(
        {
            "ig_user_id": "17841400000000001",
            "access_token": "EAAG-instagram-SECRET-1",
            "username": "irna_news",
        },
        {
            "ig_user_id": "17841400000000002",
            "access_token": "EAAG-instagram-SECRET-2",
            "username": "isna_news",
        },
    ),
    commit_path="media_publish",
    tune=_poll_fast,
)
