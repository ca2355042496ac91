"""Services and schemas never name a registered platform: platform specifics live in the adapter.

Code is read with the AST and `tokenize`, so identifiers, string literals (help texts, report notes,
logger names) and f-string parts are all checked, while comments and docstrings may give examples.
A platform is named by its registry key, its English `name` or its Persian `title`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import load_adapters

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("services", "schemas")
# Data files of the services that must not name platforms either (the demo network is assembled
# from the sandbox fakes' own demo accounts).
CHECKED_DATA = (ROOT / "services" / "demo" / "network.yaml",)
# A word inside a string: letters, digits, `_` and `-` (so "X-Request-Id" is one word, not "X").
STRING_WORD = re.compile(r"[^\W_][\w-]*|_[\w-]+")
# Parts of an identifier: snake_case pieces, and CamelCase words within them (`XAdapter` → X, Adapter).
IDENTIFIER_PART = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def platform_words() -> dict[str, str]:
    """Every word that names a registered platform → the platform: its key, its English name, its
    Persian title and each longer word of that title ("ایکس (توییتر)": ایکس, توییتر)."""
    words: dict[str, str] = {}
    for platform, adapter in load_adapters().items():
        title_words = [word for word in re.findall(r"\w+", adapter.title) if len(word) >= 3]
        for word in (platform, adapter.name, adapter.title, *title_words):
            words[word.casefold()] = platform
    return words


def python_files() -> list[Path]:
    return sorted(path for folder in CHECKED for path in (ROOT / folder).rglob("*.py"))


def _docstring_starts(tree: ast.AST) -> set[tuple[int, int]]:
    """Where docstrings and other bare string statements begin: they document, they do not run."""
    starts: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            starts.add((node.lineno, node.col_offset))
    return starts


def _string_pieces(token: tokenize.TokenInfo) -> str:
    """A string token's text without its prefix and quotes."""
    return re.sub(r"^[A-Za-z]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", token.string)


def namings(source: str, words: dict[str, str]) -> Iterator[tuple[int, str, str]]:
    """(line, what, platform) for every place `source` names a platform outside comments and docstrings."""
    documentation = _docstring_starts(ast.parse(source))
    f_string_parts = {getattr(tokenize, name, None) for name in ("FSTRING_MIDDLE",)} - {None}
    in_docstring_until: tuple[int, int] | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            parts = {part.casefold() for part in re.split(r"_+", token.string) if part}
            parts |= {part.casefold() for part in IDENTIFIER_PART.findall(token.string)}
            # A one-letter name is a platform only as a whole identifier: `x` is, `x_labels` (an
            # axis) is not.
            parts = {part for part in parts if len(part) > 1} | {token.string.casefold()}
            for part in sorted(parts):
                if part in words:
                    yield token.start[0], f"identifier {token.string!r}", words[part]
                    break
            continue
        if token.type == tokenize.STRING or token.type in f_string_parts:
            if token.start in documentation:
                in_docstring_until = token.end
                continue
            if in_docstring_until is not None and token.start < in_docstring_until:
                continue
            text = _string_pieces(token) if token.type == tokenize.STRING else token.string
            named = {words[word.casefold()] for word in STRING_WORD.findall(text) if word.casefold() in words}
            named |= {words[title] for title in words if not title.isascii() and title in text.casefold()}
            for platform in sorted(named):
                yield token.start[0], f"string {text[:60]!r}", platform


def test_the_checker_catches_identifiers_strings_and_logger_names() -> None:
    words = {"telegram": "telegram", "x": "x", "تلگرام": "telegram"}
    source = '''"""A docstring may say telegram."""
import logging
# a comment may say x
telegram_token = 1
log = logging.getLogger("telegram")
note = f"پست {log} در تلگرام"
header = "X-Request-Id"
chart.x_labels = MAX_TAGS = TelegramAdapter = x = 1
'''
    found = {(line, platform) for line, _, platform in namings(source, words)}
    assert found == {(4, "telegram"), (5, "telegram"), (6, "telegram"), (8, "telegram"), (8, "x")}


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_services_and_schemas_name_no_platform(path: Path) -> None:
    found = list(namings(path.read_text(encoding="utf-8"), platform_words()))
    assert not found, "\n".join(
        f"{path.relative_to(ROOT)}:{line}: {what} names the platform {platform!r}; "
        "declare it on the adapter (or the sandbox fake) and read it from there"
        for line, what, platform in found
    )


@pytest.mark.parametrize("path", CHECKED_DATA, ids=lambda path: str(path.relative_to(ROOT)))
def test_service_data_names_no_platform(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = "\n".join(line.partition("#")[0] for line in text.splitlines())
    named = sorted(
        {
            platform
            for word, platform in platform_words().items()
            if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", code, re.IGNORECASE)
        }
    )
    assert not named, f"{path.relative_to(ROOT)} names {named}"
