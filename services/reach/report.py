"""The synergy report: who published, who amplified whom, and what reach it got.

Sources of truth, all in Redis: the results stream (what was posted where, by whom, amplifying whom:
`Delivery.origin_agency` against `Delivery.agency`), the item records (`hamafza:item:<id>`: agency,
campaign, text, received_ms) and the reach records (latest snapshot per post, latest audience per
account). `build_report` turns them into one JSON-ready dict whose keys are documented in
docs/report.md; the renderers below (table, CSV) and in `services.report_html` only present it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import jdatetime
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from schemas import Action, DeliveryState, Result
from services.keys import Keys
from services.reach.collect import ReachKeys, ReachSnapshot, audiences, latest_snapshots
from services.runtime import decode_entry

SCHEMA = "hamafza.report/1"
# Iran has kept UTC+03:30 all year since 2022; report days are Tehran days.
TEHRAN = timezone(timedelta(hours=3, minutes=30), "IRST")
METRICS = ("impressions", "likes", "reposts", "replies", "quotes")
FORMATS = ("table", "json", "csv", "html")
CSV_TABLES = ("agencies", "matrix", "platforms", "items")

PERSIAN_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")
JALALI_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
PLATFORM_TITLES_EN = {"x": "X", "telegram": "Telegram", "bale": "Bale"}

LABELS: dict[str, dict[str, str]] = {
    "fa": {
        "title": "گزارش هم‌افزایی",
        "subtitle": "چه کسی منتشر کرد، چه کسی از چه کسی بازنشر کرد، و چه دسترسی‌ای به دست آمد",
        "generated": "تاریخ تهیه",
        "filters": "پالایه‌ها",
        "campaign": "پویش",
        "since": "از",
        "until": "تا",
        "agency": "دستگاه",
        "all": "همه",
        "items": "مطلب",
        "own_posts": "انتشار مستقیم",
        "amplifications": "بازنشر",
        "amp_received": "بازنشر دریافتی",
        "amp_given": "بازنشر انجام‌شده",
        "amp_reach": "دسترسی افزوده با بازنشر",
        "own_reach": "دسترسی بالقوه خودی",
        "potential_reach": "دسترسی بالقوه",
        "impressions": "نمایش",
        "likes": "پسند",
        "reposts": "بازتوییت",
        "replies": "پاسخ",
        "quotes": "نقل‌قول",
        "isolation": "جزیره‌ای بودن",
        "isolated_items": "مطالب بدون بازنشر",
        "failed": "ناموفق",
        "platform": "سکو",
        "accounts": "حساب",
        "per_agency": "کارنامه دستگاه‌ها",
        "matrix": "ماتریس هم‌افزایی: چه کسی (سطر) مطلب چه کسی (ستون) را بازنشر کرد",
        "matrix_short": "ماتریس هم‌افزایی",
        "amplifier": "بازنشرکننده",
        "origin": "صاحب مطلب",
        "per_platform": "به تفکیک سکو",
        "top_items": "پربازده‌ترین مطالب",
        "item": "مطلب",
        "text": "متن",
        "date": "تاریخ",
        "amplified_by": "بازنشر از سوی",
        "by": "از سوی",
        "chart_reach": "دسترسی بالقوه هر دستگاه: خودی و افزوده با بازنشر همکاران",
        "chart_amp": "بازنشر داده و گرفته",
        "chart_impressions": "تعامل در ایکس (نمایش)",
        "chart_platforms": "انتشار و بازنشر به تفکیک سکو",
        "measured": "پست‌های سنجیده",
        "unmeasured": "پست‌های هنوز سنجیده‌نشده",
        "note_reach": (
            "دسترسی بالقوه = جمع دنبال‌کنندگان یا اعضای حساب‌ها به ازای هر پست؛ "
            "تعامل = آخرین سنجش هر پست (ربات‌ها بازدید تلگرام و بله را نمی‌بینند)."
        ),
        "none": "—",
    },
    "en": {
        "title": "Synergy report",
        "subtitle": "Who published, who amplified whom, and what reach it got",
        "generated": "Generated",
        "filters": "Filters",
        "campaign": "Campaign",
        "since": "Since",
        "until": "Until",
        "agency": "Agency",
        "all": "all",
        "items": "Items",
        "own_posts": "Own posts",
        "amplifications": "Amplifications",
        "amp_received": "Amplifications received",
        "amp_given": "Amplifications given",
        "amp_reach": "Reach added by amplification",
        "own_reach": "Own potential reach",
        "potential_reach": "Potential reach",
        "impressions": "Impressions",
        "likes": "Likes",
        "reposts": "Reposts",
        "replies": "Replies",
        "quotes": "Quotes",
        "isolation": "Isolation",
        "isolated_items": "Items nobody amplified",
        "failed": "Failed",
        "platform": "Platform",
        "accounts": "Accounts",
        "per_agency": "Agencies",
        "matrix": "Who (row) amplified whose items (column)",
        "matrix_short": "Amplification matrix",
        "amplifier": "Amplifier",
        "origin": "Origin",
        "per_platform": "Per platform",
        "top_items": "Top items",
        "item": "Item",
        "text": "Text",
        "date": "Date",
        "amplified_by": "Amplified by",
        "by": "by",
        "chart_reach": "Potential reach per agency: own and added by partners' amplification",
        "chart_amp": "Amplifications given and received",
        "chart_impressions": "X engagement (impressions)",
        "chart_platforms": "Posts and amplifications per platform",
        "measured": "Posts measured",
        "unmeasured": "Posts not yet measured",
        "note_reach": (
            "Potential reach = followers or members of the posting account, summed per post; "
            "engagement = each post's latest snapshot (bots cannot read Telegram or Bale views)."
        ),
        "none": "—",
    },
}


class ReportError(ValueError):
    """A filter that cannot be understood; the message says what is expected."""


@dataclass(frozen=True)
class Filters:
    campaign: str | None = None
    since: date | None = None  # Gregorian, inclusive, a Tehran day
    until: date | None = None  # Gregorian, inclusive, a Tehran day
    agency: str | None = None


def parse_day(text: str | None) -> date | None:
    """`1404-01-05` (Jalali: a year before 1700) or `2025-03-25` (Gregorian); `/` works as `-`."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip().translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹/", "0123456789-"))
    try:
        year, month, day = (int(part) for part in cleaned.split("-"))
        if year < 1700:
            gregorian: date = jdatetime.date(year, month, day).togregorian()
            return gregorian
        return date(year, month, day)
    except ValueError:
        raise ReportError(f"{text!r} is not a date like 1404-01-05 (Jalali) or 2025-03-25") from None


# --- formatting ----------------------------------------------------------------------------------


def digits(text: str, lang: str) -> str:
    return text.translate(PERSIAN_DIGITS) if lang == "fa" else text


def number(value: float | None, lang: str) -> str:
    if value is None:
        return LABELS[lang]["none"]
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return digits(text, lang).replace(",", "٬") if lang == "fa" else text


def percent(share: float | None, lang: str) -> str:
    if share is None:
        return LABELS[lang]["none"]
    text = f"{share * 100:.0f}"
    return f"{digits(text, lang)}٪" if lang == "fa" else f"{text}%"


def day_text(moment: datetime | date | None, calendar: str, lang: str, *, long: bool = False) -> str:
    """A Tehran day in the chosen calendar: `۱۴۰۴/۰۱/۰۵`, or `۵ فروردین ۱۴۰۴` when long."""
    if moment is None:
        return LABELS[lang]["none"]
    day = moment.astimezone(TEHRAN).date() if isinstance(moment, datetime) else moment
    if calendar == "jalali":
        jalali = jdatetime.date.fromgregorian(date=day)
        if long and lang == "fa":
            return digits(f"{jalali.day} {JALALI_MONTHS[jalali.month - 1]} {jalali.year}", lang)
        return digits(f"{jalali.year:04d}/{jalali.month:02d}/{jalali.day:02d}", lang)
    return digits(day.isoformat(), lang)


def moment_text(moment: datetime, calendar: str, lang: str) -> str:
    local = moment.astimezone(TEHRAN)
    return f"{day_text(local, calendar, lang, long=True)} {digits(local.strftime('%H:%M'), lang)}"


def iso_day(day: date | None, calendar: str) -> str | None:
    if day is None:
        return None
    if calendar == "jalali":
        jalali = jdatetime.date.fromgregorian(date=day)
        return f"{jalali.year:04d}-{jalali.month:02d}-{jalali.day:02d}"
    return day.isoformat()


# --- reading -------------------------------------------------------------------------------------


@dataclass
class _Item:
    item_id: str
    agency: str
    campaign: str | None
    text: str
    received: datetime | None
    posted: list[Result] = field(default_factory=list)
    failed: list[Result] = field(default_factory=list)


async def _results(redis: Any, keys: Keys) -> tuple[dict[str, Result], dict[str, Result]]:
    """Posted and dead results by delivery id (a later one of the same delivery wins)."""
    posted: dict[str, Result] = {}
    dead: dict[str, Result] = {}
    start = "-"
    while True:
        batch: Any = await redis.xrange(keys.results, min=start, count=1000)
        if not batch:
            break
        for _entry_id, fields in batch:
            try:
                result = Result.model_validate(decode_entry(fields))
            except (ValueError, ValidationError):
                continue
            if result.state is DeliveryState.POSTED and result.post is not None:
                posted[result.delivery.id] = result
                dead.pop(result.delivery.id, None)
            elif result.state is DeliveryState.DEAD and result.delivery.id not in posted:
                dead[result.delivery.id] = result
        last = batch[-1][0].decode()
        milliseconds, _, sequence = last.partition("-")
        start = f"{milliseconds}-{int(sequence or 0) + 1}"
    return posted, dead


async def _items(redis: Any, keys: Keys, item_ids: set[str]) -> dict[str, dict[str, str]]:
    indexed: Any = await redis.zrange(keys.item_index, 0, -1)
    ids = sorted(item_ids | {member.decode() for member in indexed})
    async with redis.pipeline(transaction=False) as pipe:
        for item_id in ids:
            pipe.hgetall(keys.item(item_id))
        rows: list[dict[bytes, bytes]] = await pipe.execute()
    return {
        item_id: {k.decode(): v.decode() for k, v in row.items()}
        for item_id, row in zip(ids, rows, strict=True)
    }


async def collect(
    redis: Any, keys: Keys
) -> tuple[dict[str, _Item], dict[str, ReachSnapshot], dict[tuple[str, str], int]]:
    posted, dead = await _results(redis, keys)
    records = await _items(redis, keys, {r.delivery.item_id for r in [*posted.values(), *dead.values()]})
    items: dict[str, _Item] = {}
    for item_id, record in records.items():
        if not record:
            continue
        received_ms = record.get("received_ms")
        items[item_id] = _Item(
            item_id=item_id,
            agency=record.get("agency", ""),
            campaign=record.get("campaign") or None,
            text=record.get("text", ""),
            received=datetime.fromtimestamp(int(received_ms) / 1000, UTC) if received_ms else None,
        )
    for result in sorted([*posted.values(), *dead.values()], key=lambda r: r.at):
        delivery = result.delivery
        item = items.get(delivery.item_id)
        if item is None:
            # An item whose record is gone (or never kept): rebuilt from its deliveries.
            item = items[delivery.item_id] = _Item(
                item_id=delivery.item_id,
                agency=delivery.origin_agency,
                campaign=delivery.campaign,
                text=delivery.text if delivery.action is Action.PUBLISH else "",
                received=result.at,
            )
        (item.posted if result.state is DeliveryState.POSTED else item.failed).append(result)
    reach_keys = ReachKeys(keys.prefix)
    return items, await latest_snapshots(redis, reach_keys), await audiences(redis, reach_keys)


# --- computing -----------------------------------------------------------------------------------


def _selected(item: _Item, filters: Filters) -> bool:
    if filters.campaign is not None and item.campaign != filters.campaign:
        return False
    day = item.received.astimezone(TEHRAN).date() if item.received else None
    if filters.since is not None and (day is None or day < filters.since):
        return False
    if filters.until is not None and (day is None or day > filters.until):
        return False
    if filters.agency is not None:
        involved = {item.agency} | {r.delivery.agency for r in item.posted}
        return filters.agency in involved
    return True


def _zero() -> dict[str, int]:
    return dict.fromkeys(METRICS, 0)


class _Tally:
    """Sums over the selected items' posted and failed deliveries."""

    def __init__(
        self,
        snapshots: dict[str, ReachSnapshot],
        audience_of_account: dict[tuple[str, str], int],
        names: dict[str, str],
        titles: dict[str, str],
        calendar: str,
    ) -> None:
        self.snapshots = snapshots
        self.audience_of_account = audience_of_account
        self.names = names
        self.titles = titles
        self.calendar = calendar
        self.agencies: dict[str, dict[str, Any]] = {}
        self.platforms: dict[str, dict[str, Any]] = {}
        self.matrix: Counter[tuple[str, str]] = Counter()
        self.measured = 0
        self.unmeasured = 0
        self.items: list[dict[str, Any]] = []

    def audience(self, result: Result) -> int:
        snapshot = self.snapshots.get(result.delivery.id)
        if snapshot is not None and snapshot.audience is not None:
            return snapshot.audience
        return self.audience_of_account.get((result.delivery.platform, result.delivery.agency), 0)

    def agency(self, agency: str) -> dict[str, Any]:
        if agency not in self.agencies:
            self.agencies[agency] = {
                "agency": agency,
                "name": self.names.get(agency, agency),
                "items": 0,
                "own_posts": Counter[str](),
                "amplifications_received": {"count": 0, "by": Counter[str](), "potential_reach": 0},
                "amplifications_given": {"count": 0, "to": Counter[str](), "potential_reach": 0},
                "engagement": _zero(),
                "own_potential_reach": 0,
                "isolated_items": 0,
                "failed": 0,
            }
        return self.agencies[agency]

    def platform(self, platform: str) -> dict[str, Any]:
        return self.platforms.setdefault(
            platform,
            {
                "platform": platform,
                "title": self.titles.get(platform, platform),
                "accounts": set(),
                "own_posts": 0,
                "amplifications": 0,
                "potential_reach": 0,
                **_zero(),
            },
        )

    def add(self, item: _Item) -> None:
        origin = self.agency(item.agency)
        origin["items"] += 1
        engagement = _zero()
        reach_total = own_posts = 0
        amplified_by: Counter[str] = Counter()
        own_platforms: set[str] = set()
        for result in item.posted:
            delivery = result.delivery
            who, plat = self.agency(delivery.agency), self.platform(delivery.platform)
            plat["accounts"].add(delivery.agency)
            reach = self.audience(result)
            reach_total += reach
            plat["potential_reach"] += reach
            snapshot = self.snapshots.get(delivery.id)
            if snapshot is None:
                self.unmeasured += 1
            else:
                self.measured += 1
                for metric in METRICS:
                    value = getattr(snapshot, metric) or 0
                    who["engagement"][metric] += value
                    engagement[metric] += value
                    plat[metric] += value
            if delivery.action is Action.PUBLISH and delivery.agency == delivery.origin_agency:
                who["own_posts"][delivery.platform] += 1
                who["own_potential_reach"] += reach
                plat["own_posts"] += 1
                own_posts += 1
                own_platforms.add(delivery.platform)
                continue
            received = self.agency(delivery.origin_agency)["amplifications_received"]
            received["count"] += 1
            received["by"][delivery.agency] += 1
            received["potential_reach"] += reach
            given = who["amplifications_given"]
            given["count"] += 1
            given["to"][delivery.origin_agency] += 1
            given["potential_reach"] += reach
            plat["amplifications"] += 1
            self.matrix[(delivery.agency, delivery.origin_agency)] += 1
            amplified_by[delivery.agency] += 1
        for result in item.failed:
            self.agency(result.delivery.agency)["failed"] += 1
        if not amplified_by:
            origin["isolated_items"] += 1
        received_at = item.received
        self.items.append(
            {
                "item_id": item.item_id,
                "agency": item.agency,
                "name": self.names.get(item.agency, item.agency),
                "campaign": item.campaign,
                "text": item.text,
                "received_at": received_at.isoformat() if received_at else None,
                "received_date": iso_day(received_at.astimezone(TEHRAN).date(), self.calendar)
                if received_at
                else None,
                "platforms": sorted(own_platforms),
                "own_posts": own_posts,
                "amplifications": sum(amplified_by.values()),
                "amplified_by": sorted(amplified_by),
                "potential_reach": reach_total,
                **engagement,
            }
        )

    def agency_rows(self, only: str | None) -> list[dict[str, Any]]:
        rows = []
        for agency in sorted(set(self.agencies) | set(self.names)):
            if only is not None and agency != only:
                continue
            data = self.agency(agency)
            data["own_posts"] = dict(sorted(data["own_posts"].items()))
            data["own_posts_total"] = sum(data["own_posts"].values())
            received, given = data["amplifications_received"], data["amplifications_given"]
            received["by"] = dict(sorted(received["by"].items()))
            given["to"] = dict(sorted(given["to"].items()))
            data["potential_reach"] = data["own_potential_reach"] + received["potential_reach"]
            data["isolation"] = round(data["isolated_items"] / data["items"], 4) if data["items"] else None
            rows.append(data)
        return rows

    def platform_rows(self) -> list[dict[str, Any]]:
        rows = []
        for name in sorted(self.platforms):
            row = dict(self.platforms[name])
            row["accounts"] = len(row["accounts"])
            rows.append(row)
        return rows


def compute(
    items: dict[str, _Item],
    snapshots: dict[str, ReachSnapshot],
    audience_of_account: dict[tuple[str, str], int],
    *,
    filters: Filters | None = None,
    agency_names: dict[str, str] | None = None,
    platform_titles: dict[str, str] | None = None,
    top: int = 10,
    calendar: str = "jalali",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (keys documented in docs/report.md)."""
    filters = filters or Filters()
    names = agency_names or {}
    chosen = [item for item in items.values() if _selected(item, filters)]
    chosen.sort(key=lambda item: (item.received or datetime.min.replace(tzinfo=UTC), item.item_id))
    tally = _Tally(snapshots, audience_of_account, names, platform_titles or {}, calendar)
    for item in chosen:
        tally.add(item)
    agency_rows = tally.agency_rows(filters.agency)
    platform_rows = tally.platform_rows()
    everyone = tally.agencies.values()
    if filters.agency is None:
        in_matrix = sorted(set(tally.agencies) | set(names))
    else:
        in_matrix = sorted({a for pair in tally.matrix for a in pair} | {filters.agency})
    tally.items.sort(key=lambda r: (-r["potential_reach"], -r["impressions"], r["item_id"]))
    totals: dict[str, Any] = {
        "items": len(chosen),
        "own_posts": sum(p["own_posts"] for p in platform_rows),
        "amplifications": sum(p["amplifications"] for p in platform_rows),
        "failed": sum(len(item.failed) for item in chosen),
        **{metric: sum(p[metric] for p in platform_rows) for metric in METRICS},
        "potential_reach": sum(p["potential_reach"] for p in platform_rows),
        "amplification_reach": sum(a["amplifications_received"]["potential_reach"] for a in everyone),
        "isolated_items": sum(a["isolated_items"] for a in everyone),
        "measured_posts": tally.measured,
        "unmeasured_posts": tally.unmeasured,
    }
    totals["isolation"] = round(totals["isolated_items"] / len(chosen), 4) if chosen else None
    moment = generated_at or datetime.now(UTC)
    return {
        "schema": SCHEMA,
        "generated_at": moment.isoformat(),
        "calendar": calendar,
        "filters": {
            "campaign": filters.campaign,
            "since": iso_day(filters.since, calendar),
            "until": iso_day(filters.until, calendar),
            "agency": filters.agency,
        },
        "totals": totals,
        "agencies": agency_rows,
        "matrix": {
            "agencies": in_matrix,
            "names": {a: names.get(a, a) for a in in_matrix},
            "counts": [[tally.matrix[(row, column)] for column in in_matrix] for row in in_matrix],
        },
        "platforms": platform_rows,
        "top_items": tally.items[:top],
    }


async def build_report(
    redis: Any,
    keys: Keys,
    *,
    filters: Filters | None = None,
    agency_names: dict[str, str] | None = None,
    platform_titles: dict[str, str] | None = None,
    top: int = 10,
    calendar: str = "jalali",
) -> dict[str, Any]:
    items, snapshots, audience_of_account = await collect(redis, keys)
    return compute(
        items,
        snapshots,
        audience_of_account,
        filters=filters,
        agency_names=agency_names,
        platform_titles=platform_titles,
        top=top,
        calendar=calendar,
    )


def platform_titles(lang: str) -> dict[str, str]:
    from adapters import load_adapters

    if lang == "en":
        return {name: PLATFORM_TITLES_EN.get(name, name) for name in load_adapters()}
    return {name: cls.title for name, cls in load_adapters().items()}


# --- rendering: JSON, CSV, table -----------------------------------------------------------------


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def to_csv(report: dict[str, Any], table: str = "agencies") -> str:
    """One table per file, Latin digits and plain numbers, for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if table == "agencies":
        platforms = sorted({p for a in report["agencies"] for p in a["own_posts"]})
        writer.writerow(
            [
                "agency",
                "name",
                "items",
                *(f"own_posts_{p}" for p in platforms),
                "own_posts_total",
                "amplifications_received",
                "amplification_reach",
                "amplified_by",
                "amplifications_given",
                *METRICS,
                "own_potential_reach",
                "potential_reach",
                "isolated_items",
                "isolation",
                "failed",
            ]
        )
        for a in report["agencies"]:
            received = a["amplifications_received"]
            writer.writerow(
                [
                    a["agency"],
                    a["name"],
                    a["items"],
                    *(a["own_posts"].get(p, 0) for p in platforms),
                    a["own_posts_total"],
                    received["count"],
                    received["potential_reach"],
                    " ".join(f"{k}:{v}" for k, v in received["by"].items()),
                    a["amplifications_given"]["count"],
                    *(a["engagement"][m] for m in METRICS),
                    a["own_potential_reach"],
                    a["potential_reach"],
                    a["isolated_items"],
                    "" if a["isolation"] is None else a["isolation"],
                    a["failed"],
                ]
            )
    elif table == "matrix":
        matrix = report["matrix"]
        writer.writerow(["amplifier \\ origin", *matrix["agencies"]])
        for amplifier, counts in zip(matrix["agencies"], matrix["counts"], strict=True):
            writer.writerow([amplifier, *counts])
    elif table == "platforms":
        columns = [
            "platform",
            "title",
            "accounts",
            "own_posts",
            "amplifications",
            *METRICS,
            "potential_reach",
        ]
        writer.writerow(columns)
        for p in report["platforms"]:
            writer.writerow([p[c] for c in columns])
    elif table == "items":
        columns = [
            "item_id",
            "agency",
            "campaign",
            "received_date",
            "own_posts",
            "amplifications",
            *METRICS,
            "potential_reach",
            "text",
        ]
        writer.writerow([*columns, "amplified_by"])
        for i in report["top_items"]:
            writer.writerow(
                [*(i[c] if i[c] is not None else "" for c in columns), " ".join(i["amplified_by"])]
            )
    else:
        raise ReportError(f"no CSV table {table!r} (choose from {', '.join(CSV_TABLES)})")
    return out.getvalue()


def excerpt(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def print_table(report: dict[str, Any], console: Console, lang: str = "fa", calendar: str = "jalali") -> None:
    """The report for a terminal: four tables and a line of totals."""
    label = LABELS[lang]

    def n(value: float | None) -> str:
        return number(value, lang)

    generated = datetime.fromisoformat(report["generated_at"])
    console.print(
        f"[bold]{label['title']}[/bold] — {label['generated']}: {moment_text(generated, calendar, lang)}"
    )
    # Agencies by id and own posts as one number: a terminal has neither bidi nor room for names.
    agencies = Table(title=label["per_agency"], title_justify="right" if lang == "fa" else "center")
    agencies.add_column(label["agency"], overflow="fold")
    for column in (
        "items",
        "own_posts",
        "amp_received",
        "amp_reach",
        "amp_given",
        "impressions",
        "likes",
        "reposts",
        "own_reach",
        "isolation",
    ):
        agencies.add_column(label[column], justify="right")
    for a in report["agencies"]:
        agencies.add_row(
            a["agency"],
            n(a["items"]),
            n(a["own_posts_total"]),
            n(a["amplifications_received"]["count"]),
            n(a["amplifications_received"]["potential_reach"]),
            n(a["amplifications_given"]["count"]),
            n(a["engagement"]["impressions"]),
            n(a["engagement"]["likes"]),
            n(a["engagement"]["reposts"]),
            n(a["own_potential_reach"]),
            percent(a["isolation"], lang),
        )
    console.print(agencies)

    matrix = report["matrix"]
    grid = Table(title=label["matrix"], title_justify="right" if lang == "fa" else "center")
    grid.add_column(f"{label['amplifier']} \\ {label['origin']}")
    for origin in matrix["agencies"]:
        grid.add_column(origin, justify="right")
    for amplifier, counts in zip(matrix["agencies"], matrix["counts"], strict=True):
        grid.add_row(amplifier, *(n(c) if c else "·" for c in counts))
    console.print(grid)

    per_platform = Table(title=label["per_platform"], title_justify="right" if lang == "fa" else "center")
    for column in (
        "platform",
        "accounts",
        "own_posts",
        "amplifications",
        "impressions",
        "likes",
        "potential_reach",
    ):
        per_platform.add_column(label[column], justify="left" if column == "platform" else "right")
    for p in report["platforms"]:
        per_platform.add_row(
            p["title"],
            n(p["accounts"]),
            n(p["own_posts"]),
            n(p["amplifications"]),
            n(p["impressions"]),
            n(p["likes"]),
            n(p["potential_reach"]),
        )
    console.print(per_platform)

    items = Table(title=label["top_items"], title_justify="right" if lang == "fa" else "center")
    for column in ("item", "agency", "date", "amplifications", "impressions", "potential_reach", "text"):
        numeric = column in {"amplifications", "impressions", "potential_reach"}
        items.add_column(label[column], overflow="fold", justify="right" if numeric else "left")
    for i in report["top_items"]:
        received = datetime.fromisoformat(i["received_at"]) if i["received_at"] else None
        items.add_row(
            i["item_id"],
            i["agency"],
            day_text(received, calendar, lang),
            n(i["amplifications"]),
            n(i["impressions"]),
            n(i["potential_reach"]),
            excerpt(i["text"], 40),
        )
    console.print(items)
    t = report["totals"]
    console.print(
        f"{label['items']}: {n(t['items'])} · {label['own_posts']}: {n(t['own_posts'])} · "
        f"{label['amplifications']}: {n(t['amplifications'])} · {label['impressions']}: {n(t['impressions'])} · "
        f"{label['likes']}: {n(t['likes'])} · {label['reposts']}: {n(t['reposts'])} · "
        f"{label['replies']}: {n(t['replies'])} · {label['quotes']}: {n(t['quotes'])} · "
        f"{label['potential_reach']}: {n(t['potential_reach'])} · {label['amp_reach']}: "
        f"{n(t['amplification_reach'])} · {label['isolation']}: {percent(t['isolation'], lang)}"
    )
