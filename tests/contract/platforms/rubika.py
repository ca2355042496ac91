from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="rubika",
    accounts=(
        {
            "bot_token": "RUBIKASECRETTOKEN0123456789abcdefXYZ",
            "chat_id": "c0QomGov0a1b2c3d4e5f60718293a4b5c6",
        },
        {"bot_token": "RUBIKAPARTNERSECRET0123456789", "chat_id": "c0QomCity9f8e7d6c5b4a39281706f5e4d3"},
    ),
)
