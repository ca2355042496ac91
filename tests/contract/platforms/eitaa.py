from adapters import AuthError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="eitaa",
    accounts=(
        {"token": "bot123456:SECRETeitaaTOKEN", "chat_id": "irna_news"},
        {"token": "bot654321:SECRETeitaaPARTNER", "chat_id": "isna_news"},
    ),
    extra_faults=(("403", Fault(kind="error", status=403), AuthError),),
)
