"""`hamafza dlq`: the dead-letter stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Annotated

import typer
from rich.table import Table

from schemas import DeadLetter, DeadReason
from services.cli import DatabaseOption, JsonOption, PrefixOption, RedisOption, app, connect, console, errors
from services.keys import Keys
from services.ops.dlq import DeadLetters
from services.ops.embedded_redis import DEFAULT_URL
from services.records import database
from services.records.repository import RecordedLetter, Records

dlq_app = typer.Typer(no_args_is_help=True, help="Read the dead-letter stream.")
app.add_typer(dlq_app, name="dlq")


@contextlib.asynccontextmanager
async def _dead_letters(
    redis_url: str, prefix: str, database_url: str | None, by: str | None = None
) -> AsyncIterator[DeadLetters]:
    """Dead letters as the records database has them (and what people did about them)."""
    redis = connect(redis_url)
    records = Records(database.make_engine(database.configured_url(database_url), pool_size=1), prefix)
    try:
        yield DeadLetters(redis, Keys(prefix), records, by)
    finally:
        await redis.aclose()
        await records.aclose()


ReasonOption = Annotated[DeadReason | None, typer.Option(help="Only dead letters with this reason.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does this, for the record (default: the login name).")
]


@dlq_app.command("list")
def dlq_list(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: JsonOption = False,
    count: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    reason: ReasonOption = None,
    handled: Annotated[
        bool, typer.Option("--all", help="Also the letters people handled: what was done, by whom, when.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Open dead letters, oldest first, each with the reason a person can act on."""

    async def read() -> list[RecordedLetter]:
        async with _dead_letters(redis_url, prefix, database_url) as letters:
            assert letters.records is not None
            found = await letters.records.dead_letters(
                handled=handled, reason=reason.value if reason else None, count=count
            )
            waiting = [
                RecordedLetter(
                    i, letter.model_dump(mode="json", exclude_none=True), None, "open", None, None, None
                )
                for i, letter in await letters.unrecorded(reason, count)
            ]
            return found + waiting

    rows = asyncio.run(read())
    if as_json:
        for row in rows:
            letter = DeadLetter.model_validate(row.letter)
            document = {
                "id": row.id,
                **letter.model_dump(mode="json", exclude={"delivery", "payload"}, exclude_none=True),
                "status": row.status,
            }
            if row.status != "open":
                document |= {
                    "handled_by": row.handled_by,
                    "handled_at": row.handled_at.isoformat() if row.handled_at else None,
                    "outcome": row.outcome,
                }
            sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"dead letters ({len(rows)}{'' if handled else ' open'})")
    columns = ["id", "reason", "item", "agency", "platform", "action", "attempts", "detail"]
    if handled:
        columns += ["status", "by", "at"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        letter = DeadLetter.model_validate(row.letter)
        cells = [
            row.id,
            letter.reason.value,
            letter.item_id or "",
            letter.agency or "",
            letter.platform or "",
            letter.action.value if letter.action else "",
            str(letter.attempts),
            letter.detail,
        ]
        if handled:
            status = row.status if row.outcome in (None, row.status) else f"{row.status} ({row.outcome})"
            cells += [status, row.handled_by or "", row.handled_at.isoformat() if row.handled_at else ""]
        table.add_row(*cells)
    console.print(table)


@dlq_app.command("show")
def dlq_show(
    letter_id: str,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    database_url: DatabaseOption = None,
) -> None:
    """One dead letter in full: reason, detail, the delivery or the raw entry."""

    async def read() -> DeadLetter | None:
        async with _dead_letters(redis_url, prefix, database_url) as letters:
            return await letters.get(letter_id)

    letter = asyncio.run(read())
    if letter is None:
        errors.print(f"[red]no dead letter {letter_id}[/red]")
        raise typer.Exit(1)
    console.print_json(letter.model_dump_json(exclude_none=True))


@dlq_app.command("replay")
def dlq_replay(
    letter_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-letter ids; none: all that match.")
    ] = None,
    reason: ReasonOption = None,
    force: Annotated[
        bool, typer.Option(help="Also replay `unconfirmed` ones: only after checking the post is not there.")
    ] = False,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    database_url: DatabaseOption = None,
    by: ByOption = None,
) -> None:
    """Send dead letters through the pipeline again; the records and the ledger keep posted ones from
    going out twice."""
    from rich.progress import Progress

    async def replay() -> dict[str, int]:
        async with _dead_letters(redis_url, prefix, database_url, by) as letters:
            selected = await letters.select(None, reason)
            if letter_ids:
                wanted = set(letter_ids)
                selected = [(i, letter) for i, letter in selected if i in wanted]
            with Progress(console=errors) as progress:  # stdout carries only the JSON
                task = progress.add_task("replaying", total=len(selected))
                report = await letters.replay(
                    selected, force=force, progress=lambda _: progress.advance(task)
                )
            return dict(report.outcomes)

    outcomes = asyncio.run(replay())
    sys.stdout.write(json.dumps(outcomes) + "\n")
    if letter_ids and not selected_any(outcomes):
        errors.print(f"[red]no dead letter {', '.join(letter_ids)}[/red]", highlight=False)
        raise typer.Exit(1)
    if outcomes.get("already_posted"):
        errors.print(
            f"{outcomes['already_posted']} of these deliveries were already posted: nothing was sent for them",
            highlight=False,
        )
    if outcomes.get("needs_force"):
        errors.print(
            f"[red]{outcomes['needs_force']} unconfirmed deliveries were not replayed: check on the platform "
            "that each post is missing, then replay them with --force[/red]",
            highlight=False,
        )
        raise typer.Exit(1)


def selected_any(outcomes: dict[str, int]) -> bool:
    return sum(outcomes.values()) > 0


@dlq_app.command("purge")
def dlq_purge(
    letter_ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter ids.")] = None,
    reason: ReasonOption = None,
    purge_all: Annotated[
        bool, typer.Option("--all", help="Every dead letter (that matches --reason).")
    ] = False,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    database_url: DatabaseOption = None,
    by: ByOption = None,
) -> None:
    """Close dead letters that need nothing more (recorded as purged, by whom and when)."""
    if not letter_ids and not purge_all:
        errors.print("[red]name dead-letter ids, or pass --all[/red]")
        raise typer.Exit(2)

    async def purge() -> int:
        async with _dead_letters(redis_url, prefix, database_url, by) as letters:
            selected = [i for i, _ in await letters.select(None, reason)]
            chosen = selected if purge_all else [i for i in selected if i in set(letter_ids or [])]
            return await letters.purge(chosen)

    console.print(f"purged {asyncio.run(purge())}")


RESOLVED = {
    "resolved_posted": "recorded as posted; partners will amplify it",
    "resolved_absent": "sent again through the ledger",
    "already_posted": "the ledger already shows it posted; the dead letter is removed",
}


@dlq_app.command("resolve")
def dlq_resolve(
    letter_id: Annotated[str, typer.Argument(help="The id of an `unconfirmed` dead letter.")],
    posted: Annotated[
        str | None, typer.Option("--posted", help="The post is there: its URL or its id on the platform.")
    ] = None,
    absent: Annotated[bool, typer.Option("--absent", help="The post is not there: send it again.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who checked (recorded in the ledger); default: the OS user.")
    ] = None,
    chat: Annotated[
        str | None, typer.Option("--chat", help="The post's chat or channel, where forwards need one.")
    ] = None,
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    database_url: DatabaseOption = None,
) -> None:
    """Settle an `unconfirmed` delivery after checking the account: --posted or --absent."""
    import getpass

    if (posted is None) == (not absent):
        errors.print("[red]say either --posted <url or post id> or --absent[/red]")
        raise typer.Exit(2)
    who = by or getpass.getuser()

    async def resolve() -> str:
        async with _dead_letters(redis_url, prefix, database_url, who) as letters:
            return await letters.resolve(letter_id, posted=posted, absent=absent, by=who, chat=chat)

    try:
        outcome = asyncio.run(resolve())
    except ValueError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if outcome not in RESOLVED:
        explanation = {
            "no_such_letter": f"no dead letter {letter_id}",
            "not_unconfirmed": "only an `unconfirmed` delivery can be resolved; use `dlq replay` for others",
            "in_flight": "the delivery is being sent again already",
        }.get(outcome, outcome)
        errors.print(f"[red]{explanation}[/red]")
        raise typer.Exit(1)
    console.print(f"{outcome}: {RESOLVED[outcome]} (by {who})")
