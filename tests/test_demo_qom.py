"""`make demo`'s pilgrim-services committee of Qom, run whole against a real Redis and the sandbox:
its photo item on Eitaa, Rubika and Bale, forwarded on Rubika and Bale, copied in distinct words on
Eitaa, and the report's views read from the public pages (checked by the demo against the fakes)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from sandbox import RunningSandbox
from services.demo.run import _run

GOVERNORATE_RUBIKA = "c0QomOstandari0a1b2c3d4e5f6a7b8"
TRAFFIC = "طرح ترافیکی ویژه ایام نیمه شعبان"


@pytest.mark.slow
async def test_the_qom_committee_reaches_eitaa_rubika_and_bale_with_photos(
    sandbox: RunningSandbox, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes its HTML report under the working directory
    output = io.StringIO()
    code = await _run(redis_url, sandbox, Console(file=output, width=220))
    shown = output.getvalue()
    assert code == 0, shown

    def posts(platform: str) -> list[tuple[str, str, str, list[str], str | None]]:
        return [
            (p.action, str(p.chat), p.text, p.media, p.source_chat)
            for p in sandbox.sandbox.posts_on(platform)
            if p.text.startswith(TRAFFIC)
        ]

    eitaa = posts("eitaa")
    original = next(text for _, chat, text, _, _ in eitaa if chat == "ostandari_qom")
    assert {chat for _, chat, _, _, _ in eitaa} == {"ostandari_qom", "qom_city", "qom_helal"}
    assert all(media == ["upload:image/jpeg:media.jpg"] for _, _, _, media, _ in eitaa)
    copies = [text for _, chat, text, _, _ in eitaa if chat != "ostandari_qom"]
    assert len({original, *copies}) == 3
    assert all(f"به نقل از استانداری قم: {sandbox.url}/eitaa/ostandari_qom/" in text for text in copies)

    rubika = posts("rubika")
    assert sorted(action for action, *_ in rubika) == ["forward", "forward", "publish"]
    assert [media for action, _, _, media, _ in rubika if action == "publish"] == [["upload:Image:media.jpg"]]
    assert {source for action, *_, source in rubika if action == "forward"} == {GOVERNORATE_RUBIKA}

    bale = posts("bale")
    (album,) = [
        post
        for post in sandbox.sandbox.posts_on("bale")
        if post.text.startswith(TRAFFIC) and post.action == "publish"
    ]
    assert len(album.media) == 2 and len(album.post_ids) == 2  # an album of the two photos
    assert {chat for action, chat, *_ in bale if action == "forward"} == {"@qom_city", "@qom_helal"}

    assert "eitaa: impressions" in shown and "The report's figures equal the platform fakes' own" in shown
