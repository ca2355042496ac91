"""What the report's readers see: labels in Persian and English, Persian digits, Tehran days written in
the Jalali or the Gregorian calendar, and the platforms' titles. Shared by every renderer."""

from __future__ import annotations

from datetime import date, datetime

import jdatetime

from services.reach.report.days import TEHRAN

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
        "chart_impressions": "تعامل (نمایش، پسند، بازنشر)",
        "chart_platforms": "انتشار و بازنشر به تفکیک سکو",
        "measured": "پست‌های سنجیده",
        "unmeasured": "پست‌های هنوز سنجیده‌نشده",
        "note_reach": (
            "دسترسی بالقوه = جمع دنبال‌کنندگان یا اعضای حساب‌ها به ازای هر پست؛ "
            "تعامل = آخرین سنجش هر پست، در سکوهایی که خواندن آن را ممکن می‌کنند."
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
        "chart_impressions": "Engagement (impressions, likes, reposts)",
        "chart_platforms": "Posts and amplifications per platform",
        "measured": "Posts measured",
        "unmeasured": "Posts not yet measured",
        "note_reach": (
            "Potential reach = followers or members of the posting account, summed per post; "
            "engagement = each post's latest snapshot, on the platforms that let it be read."
        ),
        "none": "—",
    },
}


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


def excerpt(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def platform_titles(lang: str) -> dict[str, str]:
    from adapters import load_adapters

    return {name: cls.name if lang == "en" else cls.title for name, cls in load_adapters().items()}
