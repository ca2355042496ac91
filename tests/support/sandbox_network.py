"""A network file of X and Telegram accounts pointed at the sandbox, for tests that run the product
against the platform fakes."""

from __future__ import annotations

from typing import Any

from sandbox import RunningSandbox

# name → (Persian name, numeric user/bot id, Telegram channel)
Agencies = dict[str, tuple[str, str, str]]


def bot_token(agencies: Agencies, agency: str) -> str:
    return f"{agencies[agency][1]}:AAsecret{agency.replace('-', '')}TokenXXXXXXXXXX"


def x_telegram_network(
    sandbox: RunningSandbox, agencies: Agencies, members: list[str], delay_seconds: tuple[float, float]
) -> dict[str, Any]:
    """Every agency with an X and a Telegram account; `members` amplify each other (retweet, forward)."""
    return {
        "platforms": {
            "x": {"api_base": sandbox.api_base("x")},
            "telegram": {"api_base": sandbox.api_base("telegram"), "web_base": sandbox.api_base("telegram")},
        },
        "agencies": {
            name: {
                "name": title,
                "accounts": {
                    "x": {
                        "consumer_key": "ck",
                        "consumer_secret": f"cs-{name}-secret",
                        "access_token": f"{uid}-{name}-token-secret",
                        "access_token_secret": f"ats-{name}-secret",
                    },
                    "telegram": {"bot_token": bot_token(agencies, name), "chat_id": chat},
                },
            }
            for name, (title, uid, chat) in agencies.items()
        },
        "networks": {
            "khz-transport": {
                "members": members,
                "amplify": {"x": "retweet", "telegram": "forward"},
                "delay_seconds": list(delay_seconds),
            },
        },
    }
