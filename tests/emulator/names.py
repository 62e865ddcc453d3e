"""Snowflake's identifier rules, the emulator's own (never the provider's ``identifiers`` module).

From https://docs.snowflake.com/en/sql-reference/identifiers-syntax:

- an unquoted identifier starts with a letter (A-Z, a-z) or an underscore and holds only letters,
  underscores, decimal digits and dollar signs; it is stored and resolved in upper case;
- a double-quoted identifier may hold any character (``""`` stands for one ``"``) and is case-sensitive;
- identifiers are at most 255 characters;
- an object name is ``[database.][schema.]name``.

Stage locations (https://docs.snowflake.com/en/sql-reference/sql/list) are ``@[namespace.]stage[/path]``;
a location holding a space or other special character must be enclosed in single quotes there.
Where a rule is unclear the emulator is stricter: a name it cannot parse is a compilation error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.server import SqlError

_UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_STORED_UNQUOTED = re.compile(r"[A-Z_][A-Z0-9_$]*")
_PART = re.compile(r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*')
_MAX_LENGTH = 255


def _compile_error(message: str) -> SqlError:
    # 1003: SQL compilation error (syntax), as Snowflake numbers it.
    return SqlError(1003, f"SQL compilation error: {message}", "42000")


def identifier(text: str) -> str:
    """One identifier as Snowflake stores it: ``abc`` → ``ABC``, ``"abc"`` → ``abc``."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"' and _PART.fullmatch(text):
        value = text[1:-1].replace('""', '"')
    elif _UNQUOTED.fullmatch(text):
        value = text.upper()
    else:
        raise _compile_error(f"invalid identifier {text!r}")
    if not value or len(value) > _MAX_LENGTH:
        raise _compile_error(f"identifier {text!r} is not 1 to {_MAX_LENGTH} characters")
    return value


def sql(value: str) -> str:
    """A stored identifier as SQL text: bare when Snowflake would store it so unquoted, else quoted."""
    return value if _STORED_UNQUOTED.fullmatch(value) else '"' + value.replace('"', '""') + '"'


def quoted(value: str) -> str:
    """Always quoted: DuckDB (fakesnow's engine) is case-insensitive for bare names."""
    return '"' + value.replace('"', '""') + '"'


@dataclass(frozen=True)
class Name:
    """``[database.][schema.]name`` with each part as stored."""

    name: str
    schema: str | None = None
    database: str | None = None

    @classmethod
    def parse(cls, text: str) -> Name:
        text = text.strip()
        parts, pos = [], 0
        while True:
            match = _PART.match(text, pos)
            if match is None:
                raise _compile_error(f"invalid object name {text!r}")
            parts.append(identifier(match.group()))
            pos = match.end()
            if pos == len(text):
                break
            if text[pos] != ".":
                raise _compile_error(f"invalid object name {text!r}")
            pos += 1
        if len(parts) > 3:
            raise _compile_error(f"invalid object name {text!r}")
        parts = [None] * (3 - len(parts)) + parts
        return cls(name=parts[2], schema=parts[1], database=parts[0])  # type: ignore[arg-type]

    @property
    def sql(self) -> str:
        return ".".join(sql(p) for p in (self.database, self.schema, self.name) if p is not None)

    @property
    def quoted(self) -> str:
        return ".".join(quoted(p) for p in (self.database, self.schema, self.name) if p is not None)


# Unquoted stage paths: what a path may hold without single quotes around the whole location
# (the LIST page: "if the path includes special characters or spaces, enclose it in single quotes").
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_\-.=/]*")


@dataclass(frozen=True)
class Stage:
    """``@[db.][schema.]stage[/path]``: the stage's name and the path below it (no leading ``/``)."""

    stage: Name
    path: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> Stage:
        """A location as written in a statement, single-quoted (``'@DB.SC."my stage"/p/'``) or not.

        Unquoted, the location may hold no space, no quoted identifier and nothing else a path
        could not: Snowflake documents single quotes for such locations, so the emulator refuses
        them unquoted rather than guess how Snowflake tokenizes them (``strict=False``: a test's own
        set-up naming a folder, not a statement).
        """
        text = text.strip()
        quoted_location = len(text) >= 2 and text[0] == text[-1] == "'"
        if quoted_location:
            # A string literal: '' and backslash escapes (\' \\) stand for one character.
            text = re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", text[1:-1])
        if not text.startswith("@"):
            raise _compile_error(f"invalid stage location {text!r}")
        body = text[1:]
        pos, parts = 0, []
        while True:
            match = _PART.match(body, pos)
            if match is None:
                raise _compile_error(f"invalid stage location {text!r}")
            parts.append(match.group())
            pos = match.end()
            if pos < len(body) and body[pos] == ".":
                pos += 1
                continue
            break
        rest = body[pos:]
        if rest and not rest.startswith("/"):
            raise _compile_error(f"invalid stage location {text!r}")
        path = rest.lstrip("/")
        if (
            strict
            and not quoted_location
            and (any(p.startswith('"') for p in parts) or not _PLAIN_PATH.fullmatch(path))
        ):
            raise _compile_error(
                f"stage location {text!r} needs single quotes: its stage name is quoted or its path "
                "holds special characters (Snowflake's LIST/REMOVE/COPY INTO pages)"
            )
        return cls(stage=Name.parse(".".join(parts)), path=path)

    @property
    def quoted_stage(self) -> str:
        """The stage's name for DuckDB (fakesnow's catalog)."""
        return self.stage.quoted
