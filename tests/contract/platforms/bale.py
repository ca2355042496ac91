from adapters import AuthError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="bale",
    accounts=(
        {"bot_token": "123456:SECRETbaleTOKENofTheFirstBot", "chat_id": "@irna_news"},
        {"bot_token": "654321:SECRETbaleTOKENofThePartner", "chat_id": "@isna_news"},
    ),
    extra_faults=(("403", Fault(kind="error", status=403), AuthError),),
    rate_limit_states_reset=False,  # "bot limit exceed", with no retry_after
)
