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
        "potential_reach": "سقف دسترسی بالقوه",
        "impressions": "بازدید",
        "likes": "پسند",
        "reposts": "بازنشر مخاطبان",
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
        "chart_impressions": "بازدید به تفکیک سکو",
        "chart_platforms": "انتشار و بازنشر به تفکیک سکو",
        "measured": "پست‌های سنجیده",
        "unmeasured": "پست‌های هنوز سنجیده‌نشده",
        "note_reach": (
            "دسترسی بالقوه = جمع دنبال‌کنندگان یا اعضای حساب‌ها به ازای هر پست؛ "
            "تعامل = آخرین سنجش هر پست، در سکوهایی که خواندن آن را ممکن می‌کنند."
        ),
        "failed_items": "مطالب ناموفق",
        "coverage": "پوشش کانال‌ها",
        "followers": "دنبال‌کنندگان در طول زمان (آخرین سنجش هر ماه)",
        "explain_coverage": "پوشش کانال‌ها: سهم کانال‌های دستگاه در پرونده شبکه که دست‌کم یک مطلبش در آن منتشر شد.",
        "explain_followers": "دنبال‌کنندگان یا اعضای هر حساب، در آخرین سنجش هر ماه خورشیدی.",
        "first_amp": "میانه زمان تا نخستین بازنشر",
        "median_amp": "میانه زمان بازنشر",
        "amplified_items": "مطالب بازنشرشده",
        "approvals_granted": "تأیید شده",
        "approvals_declined": "رد شده",
        "approvals_expired": "منقضی شده",
        "approvals_awaiting": "در انتظار تأیید",
        "intents_requested": "درخواست بازنشر دستی",
        "outputs": "۱. خروجی‌ها: آنچه منتشر و بازنشر شد",
        "outtakes": "۲. دریافت مخاطب: بازدید و تعامل به تفکیک سکو",
        "responsiveness": "۳. پاسخ‌گویی شبکه",
        "isolation_section": "۴. جزیره‌ای بودن",
        "trends": "۵. روند در زمان",
        "campaigns": "۶. مقایسه پویش‌ها",
        "rankings": "۷. رتبه‌بندی دستگاه‌ها",
        "outcomes": "۸. پیامدها: یادداشت شورا",
        "month": "ماه",
        "week": "هفته (از شنبه)",
        "most_amplified": "بیشترین بازنشر دریافتی",
        "most_amplifying": "بیشترین بازنشر برای همکاران",
        "least_isolated": "کمترین جزیره‌ای بودن",
        "chart_views": "بازدید هر دستگاه به تفکیک سکو",
        "engagement_by_platform": "تعامل به تفکیک دستگاه و سکو",
        "note": "یادداشت",
        "no_notes": 'شورا هنوز برای این پویش‌ها یادداشتی ننوشته است: hamafza report note <پویش> "…"',
        "nothing": "در این بازه داده‌ای نیست.",
        "explain_items": "مطلب: هر خبری که دستگاه یک بار برای همه سکوها فرستاد.",
        "explain_own_posts": "انتشار مستقیم: پست خود دستگاه از مطلبش در هر سکو.",
        "explain_amplifications": "بازنشر: پست یک دستگاه همکار از مطلب دستگاه دیگر (هم‌رسانی، نقل، رونوشت).",
        "explain_potential_reach": (
            "دسترسی بالقوه سقف است، نه شمار خوانندگان: جمع دنبال‌کنندگان یا اعضای حسابی که هر پست را منتشر کرد."
        ),
        "explain_amp_reach": "دسترسی افزوده با بازنشر: سقف مخاطبانی که بازنشر همکاران به مطلب افزود.",
        "explain_isolation": (
            "جزیره‌ای بودن: سهم مطالبِ منتشرشده دستگاه که هیچ همکاری بازنشرشان نکرد؛"
            " مطالبی که اصلاً منتشر نشدند (ناموفق) جدا شمرده می‌شوند."
        ),
        "explain_failed": "ناموفق: ارسال‌هایی که پس از همه تلاش‌ها منتشر نشد؛ چرایی‌اش در صف خطاهاست.",
        "explain_views": "بازدید فقط جایی آمده که سکو آن را به‌راستی نشان می‌دهد، هر سکو جدا: {platforms}.",
        "explain_engagement": (
            "تعامل = آخرین سنجش هر پست، جدا برای هر سکو؛ «بازنشر مخاطبان» بازنشر مردم در همان سکوست"
            " (بازتوییت، بوست، ری‌پست)."
        ),
        "explain_first_amp": "میانه زمان تا نخستین بازنشر: از رسیدن مطلب تا اولین پست همکار، میانه روی مطالب.",
        "explain_median_amp": "میانه زمان بازنشر: از رسیدن مطلب تا هر بازنشر، میانه روی همه بازنشرها.",
        "explain_approvals": (
            "تأییدها: درخواست‌های بازنشری که مسئول دستگاه همکار تأیید یا رد کرد یا بی‌پاسخ منقضی شد."
        ),
        "explain_matrix": "هر خانه: شمار بازنشرهای دستگاه سطر از مطالب دستگاه ستون.",
        "explain_trends": "روند: شمار مطالب، انتشار و بازنشر در هر ماه و هر هفته خورشیدی (به وقت تهران).",
        "explain_campaigns": "پویش‌ها کنار هم: همان شاخص‌ها برای هر پویش، با یادداشت شورا.",
        "explain_rankings": "رتبه‌ها از روی همین گزارش: بازنشر دریافتی، بازنشر انجام‌شده و کمترین جزیره‌ای بودن.",
        "explain_outcomes": "پیامد: آنچه شورا درباره اثر هر پویش نوشته است؛ شاخص‌ها پیامد را نمی‌سنجند.",
        "explain_platforms": "هر سکو: حساب‌های فعال، انتشار، بازنشر همکاران، تعامل و سقف دسترسی در همان سکو.",
        "explain_top": "پربازده‌ترین مطالب به ترتیب سقف دسترسی.",
        "seconds": "ثانیه",
        "minutes": "دقیقه",
        "hours": "ساعت",
        "days": "روز",
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
        "chart_impressions": "Views per platform",
        "chart_platforms": "Posts and amplifications per platform",
        "measured": "Posts measured",
        "unmeasured": "Posts not yet measured",
        "note_reach": (
            "Potential reach = followers or members of the posting account, summed per post; "
            "engagement = each post's latest snapshot, on the platforms that let it be read."
        ),
        "failed_items": "Failed items",
        "coverage": "Channel coverage",
        "followers": "Followers over time (last snapshot of each month)",
        "explain_coverage": "Coverage: share of the agency's channels (network file) that carried one of its items.",
        "explain_followers": "Followers or members of each account at the last snapshot of each Jalali month.",
        "first_amp": "Median time to first amplification",
        "median_amp": "Median amplification delay",
        "amplified_items": "Items amplified",
        "approvals_granted": "Granted",
        "approvals_declined": "Declined",
        "approvals_expired": "Expired",
        "approvals_awaiting": "Awaiting",
        "intents_requested": "Manual amplification requested",
        "outputs": "1. Outputs",
        "outtakes": "2. Out-takes: views and engagement per platform",
        "responsiveness": "3. Responsiveness of the network",
        "isolation_section": "4. Isolation",
        "trends": "5. Trends",
        "campaigns": "6. Campaigns side by side",
        "rankings": "7. Rankings",
        "outcomes": "8. Outcomes: the council's notes",
        "month": "Month",
        "week": "Week (from Saturday)",
        "most_amplified": "Most amplified",
        "most_amplifying": "Most amplifying",
        "least_isolated": "Least isolated",
        "chart_views": "Views per agency and platform",
        "engagement_by_platform": "Engagement per agency and platform",
        "note": "Note",
        "no_notes": 'No council note yet: hamafza report note <campaign> "…"',
        "nothing": "No data in this period.",
        "explain_items": "Item: one piece of news an agency sent once for every platform.",
        "explain_own_posts": "Own post: the agency's own post of its item on one platform.",
        "explain_amplifications": "Amplification: a partner agency's post of another agency's item.",
        "explain_potential_reach": (
            "Potential reach is a ceiling, not readers: followers or members of each posting account, summed."
        ),
        "explain_amp_reach": "Reach added by amplification: the ceiling partners' amplifications added.",
        "explain_isolation": (
            "Isolation: share of an agency's posted items no partner amplified; items never posted"
            " (failed) are counted apart."
        ),
        "explain_failed": "Failed: deliveries not posted after every attempt; the dead-letter list says why.",
        "explain_views": "Views only where a platform really exposes them, each platform apart: {platforms}.",
        "explain_engagement": (
            "Engagement = each post's latest snapshot, per platform; reposts are the public's reposts there."
        ),
        "explain_first_amp": "Median time from an item's arrival to its first partner's post, over items.",
        "explain_median_amp": "Median time from an item's arrival to each amplification.",
        "explain_approvals": "Approvals: partners' amplification requests granted, declined or expired.",
        "explain_matrix": "Each cell: amplifications by the row's agency of the column's items.",
        "explain_trends": "Items, posts and amplifications per Jalali month and week (Tehran time).",
        "explain_campaigns": "The same figures per campaign, with the council's note.",
        "explain_rankings": "Ranked from this report.",
        "explain_outcomes": "What the council wrote about each campaign's effect.",
        "explain_platforms": "Per platform: accounts, posts, amplifications, engagement and reach ceiling.",
        "explain_top": "Items with the highest reach ceiling.",
        "seconds": "s",
        "minutes": "min",
        "hours": "h",
        "days": "d",
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


def duration(seconds: float | None, lang: str) -> str:
    """`۳ دقیقه`, `۲ ساعت و ۵ دقیقه`: the largest two units."""
    label = LABELS[lang]
    if seconds is None:
        return label["none"]
    whole = round(seconds)
    parts: list[str] = []
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        if whole >= size or (unit == "seconds" and not parts):
            parts.append(f"{number(whole // size, lang)} {label[unit]}")
            whole %= size
        if len(parts) == 2:
            break
    return (" و " if lang == "fa" else " ").join(parts)
