"""`hamafza dlq`: the dead-letter stream."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer
from redis.asyncio import Redis
from rich.table import Table

from schemas import DeadLetter, DeadReason
from services.cli import JsonOption, PrefixOption, RedisOption, app, connect, console, errors
from services.keys import Keys
from services.ops.embedded_redis import DEFAULT_URL

dlq_app = typer.Typer(no_args_is_help=True, help="Read the dead-letter stream.")
app.add_typer(dlq_app, name="dlq")


def _dead_letters(redis_url: str, prefix: str) -> tuple[Redis, Any]:
    from services.ops.dlq import DeadLetters

    redis = connect(redis_url)
    return redis, DeadLetters(redis, Keys(prefix))


ReasonOption = Annotated[DeadReason | None, typer.Option(help="Only dead letters with this reason.")]


@dlq_app.command("list")
def dlq_list(
    redis_url: RedisOption = DEFAULT_URL,
    prefix: PrefixOption = "hamafza",
    as_json: JsonOption = False,
    count: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    reason: ReasonOption = None,
) -> None:
    """Dead letters, oldest first, each with the reason a person can act on."""

    async def read() -> list[tuple[str, DeadLetter]]:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            found: list[tuple[str, DeadLetter]] = await letters.select(count, reason)
            return found
        finally:
            await redis.aclose()

    letters = asyncio.run(read())
    if as_json:
        for entry_id, letter in letters:
            row = {
                "id": entry_id,
                **letter.model_dump(mode="json", exclude={"delivery", "payload"}, exclude_none=True),
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "reason", "item", "agency", "platform", "action", "attempts", "detail"):
        table.add_column(column, overflow="fold")
    for entry_id, letter in letters:
        table.add_row(
            entry_id,
            letter.reason.value,
            letter.item_id or "",
            letter.agency or "",
            letter.platform or "",
            letter.action.value if letter.action else "",
            str(letter.attempts),
            letter.detail,
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(letter_id: str, redis_url: RedisOption = DEFAULT_URL, prefix: PrefixOption = "hamafza") -> None:
    """One dead letter in full: reason, detail, the delivery or the raw entry."""

    async def read() -> DeadLetter | None:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            found: DeadLetter | None = await letters.get(letter_id)
            return found
        finally:
            await redis.aclose()

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
) -> None:
    """Send dead letters through the pipeline again; the ledger keeps posted ones from going out twice."""
    from rich.progress import Progress

    async def replay() -> dict[str, int]:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
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
        finally:
            await redis.aclose()

    outcomes = asyncio.run(replay())
    sys.stdout.write(json.dumps(outcomes) + "\n")
    if letter_ids and not selected_any(outcomes):
        errors.print(f"[red]no dead letter {', '.join(letter_ids)}[/red]", highlight=False)
        raise typer.Exit(1)
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
) -> None:
    """Delete dead letters that need nothing more."""
    if not letter_ids and not purge_all:
        errors.print("[red]name dead-letter ids, or pass --all[/red]")
        raise typer.Exit(2)

    async def purge() -> int:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            selected = [i for i, _ in await letters.select(None, reason)]
            chosen = selected if purge_all else [i for i in selected if i in set(letter_ids or [])]
            deleted: int = await letters.purge(chosen)
            return deleted
        finally:
            await redis.aclose()

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
) -> None:
    """Settle an `unconfirmed` delivery after checking the account: --posted or --absent."""
    import getpass

    if (posted is None) == (not absent):
        errors.print("[red]say either --posted <url or post id> or --absent[/red]")
        raise typer.Exit(2)
    who = by or getpass.getuser()

    async def resolve() -> str:
        redis, letters = _dead_letters(redis_url, prefix)
        try:
            outcome: str = await letters.resolve(letter_id, posted=posted, absent=absent, by=who, chat=chat)
            return outcome
        finally:
            await redis.aclose()

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
