from adapters import PermanentError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="x",
    accounts=(
        {
            "consumer_key": "ck-consumer-SECRET",
            "consumer_secret": "cs-consumer-SECRET",
            "access_token": "4242-access-SECRET",
            "access_token_secret": "as-access-SECRET",
        },
        {
            "consumer_key": "ck-consumer-SECRET",
            "consumer_secret": "cs-consumer-SECRET",
            "access_token": "5151-partner-SECRET",
            "access_token_secret": "as-partner-SECRET",
        },
    ),
    commit_path="/2/tweets",
    extra_faults=(
        ("403", Fault(kind="error", status=403, path="/2/tweets"), PermanentError),
        ("404", Fault(kind="error", status=404, path="/2/tweets"), PermanentError),
    ),
)
