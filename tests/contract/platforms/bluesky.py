from adapters import AuthError
from sandbox import Fault
from tests.contract.case import PlatformCase

CASE = PlatformCase(
    platform="bluesky",
    accounts=(
        {"handle": "irna.bsky.social", "app_password": "SECRET-app-password-irna"},
        {"handle": "isna.bsky.social", "app_password": "SECRET-app-password-isna"},
    ),
    commit_path="createRecord",
    extra_faults=(("401-login", Fault(kind="auth", path="createSession"), AuthError),),
)
