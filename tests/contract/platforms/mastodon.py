from adapters import PermanentError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="mastodon",
    accounts=(
        {"access_token": "SECRET-mastodon-token-irna", "account": "@irna@sandbox.social"},
        {"access_token": "SECRET-mastodon-token-isna", "account": "@isna@sandbox.social"},
    ),
    commit_path="/api/v1/statuses",
    extra_faults=(("422", Fault(kind="error", status=422, path="/api/v1/statuses"), PermanentError),),
)
