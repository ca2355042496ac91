"""Local fakes of the platforms Hamafza posts to, served over real HTTP.

Each module fakes one platform family with its real JSON shapes, status codes, rate-limit headers
and faults; `Sandbox` mounts every fake under `/<platform>/` on one aiohttp server. They drive the
demo and the integration tests, through the real client libraries.
"""

from sandbox.server import (
    DemoAccounts,
    Fake,
    Fault,
    ReachFigures,
    RunningSandbox,
    Sandbox,
    SandboxPost,
    delivery_records,
    load_fakes,
    register_fake,
    serve,
)

__all__ = [
    "DemoAccounts",
    "Fake",
    "Fault",
    "ReachFigures",
    "RunningSandbox",
    "Sandbox",
    "SandboxPost",
    "delivery_records",
    "load_fakes",
    "register_fake",
    "serve",
]
