from adapters import AuthError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="telegram",
    accounts=(
        {"bot_token": "123456:SECRETtelegramTOKENofTheFirstBot", "chat_id": "@irna_news"},
        {"bot_token": "654321:SECRETtelegramTOKENofThePartner", "chat_id": "@isna_news"},
    ),
    extra_faults=(("403", Fault(kind="error", status=403), AuthError),),
)
