"""`hamafza amplifications`: partners' amplifications that wait for their approver, and decisions."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from services.cli import ConfigOption, PrefixOption, RedisOption, _require_config, app, console, errors
from services.ops.embedded_redis import DEFAULT_URL

if TYPE_CHECKING:
    from services.governance.approvals import Approval, Decision
    from services.governance.desk import ApprovalDesk
    from services.runtime import Runtime

amplifications_app = typer.Typer(
    no_args_is_help=True, help="Amplifications held for a partner's approval: list, approve, decline."
)
app.add_typer(amplifications_app, name="amplifications")


def _desk(config: Path, redis_url: str, prefix: str) -> tuple[Runtime, ApprovalDesk]:
    from services.app import build_runtime
    from services.governance.desk import ApprovalDesk
    from services.runtime import Settings

    runtime = build_runtime(config, redis_url, Settings.from_env(prefix=prefix))
    return runtime, ApprovalDesk(runtime)


@amplifications_app.command("list")
def amplifications_list(
    agency: Annotated[str, typer.Option(help="The amplifying partner whose approvals to list.")],
    config: ConfigOption = None,
    state: Annotated[str, typer.Option(help="pending, approved, declined, expired or all.")] = "pending",
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """An agency's approvals as the amplifying partner, newest first."""
    from services.governance.approvals import STATE_FILTERS

    if state != "all" and state not in STATE_FILTERS:
        errors.print(f"unknown state {state!r}: use pending, approved, declined, expired or all")
        raise typer.Exit(2)
    runtime, desk = _desk(_require_config(config), redis_url, prefix)
    if agency not in runtime.network.agencies:
        errors.print(f"no agency {agency!r} in the network file")
        raise typer.Exit(2)

    async def read() -> list[Approval]:
        try:
            return await desk.approvals.of_agency(agency, None if state == "all" else STATE_FILTERS[state])
        finally:
            await runtime.redis.aclose()

    found = asyncio.run(read())
    if as_json:
        for approval in found:
            sys.stdout.write(json.dumps(approval.as_dict(), ensure_ascii=False) + "\n")
        return
    table = Table(title=f"amplifications of {agency} ({state}: {len(found)})")
    for column in ("id", "state", "from", "platforms", "expires", "decided by", "decided at"):
        table.add_column(column, overflow="fold")
    for a in found:
        table.add_row(
            a.id,
            a.state.value,
            a.origin_agency,
            ",".join(a.platforms),
            a.expires_at,
            a.decided_by or "",
            a.decided_at or "",
        )
    console.print(table)


def _decide(
    approval_id: str, approve: bool, config: Path | None, redis_url: str, prefix: str, by: str | None
) -> None:
    from services.governance.approvals import ApprovalState

    runtime, desk = _desk(_require_config(config), redis_url, prefix)
    decider = f"cli:{by or getpass.getuser()}"

    async def decide() -> Decision:
        try:
            return await desk.decide(
                approval_id, ApprovalState.APPROVED if approve else ApprovalState.DECLINED, decider
            )
        finally:
            await runtime.redis.aclose()

    decision = asyncio.run(decide())
    if decision.approval is None:
        errors.print(f"no approval {approval_id!r}; `hamafza amplifications list --agency AGENCY` shows them")
        raise typer.Exit(1)
    if not decision.changed:
        a = decision.approval
        errors.print(
            f"{approval_id} was already {a.state.value} (by {a.decided_by} at {a.decided_at}); nothing changed"
        )
        raise typer.Exit(1)
    console.print(f"{approval_id}: {decision.approval.state.value} by {decider}")


@amplifications_app.command("approve")
def amplifications_approve(
    approval_id: Annotated[str, typer.Argument(help="The approval id: <item id>.<partner>.")],
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    by: Annotated[str | None, typer.Option(help="Who decides (recorded); the OS user by default.")] = None,
) -> None:
    """Approve a waiting amplification: it is scheduled at once (outside quiet hours)."""
    _decide(approval_id, True, config, redis_url, prefix, by)


@amplifications_app.command("decline")
def amplifications_decline(
    approval_id: Annotated[str, typer.Argument(help="The approval id: <item id>.<partner>.")],
    config: ConfigOption = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    by: Annotated[str | None, typer.Option(help="Who decides (recorded); the OS user by default.")] = None,
) -> None:
    """Decline a waiting amplification: nothing of it is posted."""
    _decide(approval_id, False, config, redis_url, prefix, by)
