from adapters import AuthError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="soroush",
    accounts=(
        {"bot_token": "123456:SECRETsoroushTOKENofTheFirstBot", "chat_id": "@irna_news"},
        {"bot_token": "654321:SECRETsoroushTOKENofThePartner", "chat_id": "@isna_news"},
    ),
    extra_faults=(("403", Fault(kind="error", status=403), AuthError),),
)
