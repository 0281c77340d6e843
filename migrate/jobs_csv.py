"""The jobs file of ``migrate batch``: one source → target pair per CSV row, checked whole.

Columns: ``source`` and ``target`` (required: endpoint names from the config file, or URLs
without any secret), and optionally ``label`` (the mailbox's name in reports), ``include``
and ``exclude`` (folder globs separated by ``;``), ``map`` (mapping files separated by
``;``), ``since`` and ``before`` (dates of this row's pass), ``only`` (the kinds of items
copied, separated by ``;``: mail, calendar, contacts, chat). Every problem of every row is
collected and reported with its line number before anything is copied.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .connector import parse_kinds
from .endpoint import _SECRET_KEYS, Config, Endpoint, parse_endpoint
from .engine import DateWindow
from .errors import ConfigError
from .registry import available_schemes

REQUIRED = ("source", "target")
OPTIONAL = ("label", "include", "exclude", "map", "since", "before", "only")
#: Query parameters that would carry a credential in a URL.
_SECRET_PARAMS = {*_SECRET_KEYS, "pass", "passwd", "secret", "access_token"}


@dataclass(frozen=True)
class JobSpec:
    """One row of the jobs file: a pair of endpoints and its own options."""

    line: int
    source: str  # as written: a config name or a URL (without secrets)
    target: str
    source_display: str
    target_display: str
    label: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    maps: tuple[str, ...] = ()
    since: str | None = None
    before: str | None = None
    only: tuple[str, ...] = ()  # kinds of items; () for every kind

    @property
    def name(self) -> str:
        """How reports name this mailbox: its label, else its source."""
        return self.label or self.source_display

    def to_dict(self) -> dict[str, object]:
        """Plain data for the state DB (no secret: the file cannot hold any)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> JobSpec:
        """The spec ``to_dict`` stored (what a worker reading the state DB runs)."""
        values = {name: tuple(value) if isinstance(value, list) else value
                  for name, value in data.items() if name in cls.__dataclass_fields__}
        return cls(**values)


class JobsFileError(ConfigError):
    """The jobs file is wrong; ``problems`` are (line, message) pairs, line 0 for the file."""

    def __init__(self, path: str | os.PathLike, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}:{line}: {message}" if line else f"  {path}: {message}"
                          for line, message in problems)
        super().__init__(f"the jobs file {path} has {len(problems)} problem(s); nothing was "
                         f"copied:\n{lines}")


def load_jobs(path: str | os.PathLike, config: Config,
              default_window: DateWindow | None = None,
              default_only: tuple[str, ...] = ()) -> list[JobSpec]:
    """Read and check the whole jobs file; raise ``JobsFileError`` listing every problem.
    ``default_window`` and ``default_only`` (``--since``/``--before``, ``--only``) apply
    to the rows that give none of their own."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ConfigError(f"cannot read the jobs file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the jobs file {path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ConfigError(f"the jobs file {path} is not valid CSV: {exc}") from None
    problems: list[tuple[int, str]] = []
    header = [name.strip().lower() for name in rows[0]] if rows else []
    for column in REQUIRED:
        if column not in header:
            problems.append((1 if rows else 0, f"the header has no '{column}' column "
                             f"(columns: {', '.join(REQUIRED + OPTIONAL)})"))
    for column in header:
        if column and column not in REQUIRED + OPTIONAL:
            problems.append((1, f"unknown column '{column}' (known: "
                             f"{', '.join(REQUIRED + OPTIONAL)})"))
    if problems:
        raise JobsFileError(path, problems)
    schemes = set(available_schemes())
    specs: list[JobSpec] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines are allowed
        if len(row) > len(header):
            problems.append((line, f"{len(row)} cells for {len(header)} columns"))
            continue
        cells = {name: value.strip() for name, value in zip(header, row, strict=False)}
        spec = _row(line, cells, config, schemes, default_window, default_only, problems)
        if spec is None:
            continue
        pair = (spec.source_display, spec.target_display)
        if pair in seen:
            problems.append((line, f"the pair {pair[0]} → {pair[1]} is already on line "
                                   f"{seen[pair]}: one row per pair (put its folders in one "
                                   "row)"))
            continue
        seen[pair] = line
        specs.append(spec)
    if not specs and not problems:
        problems.append((0, "no job: the file has a header but no row"))
    if problems:
        raise JobsFileError(path, problems)
    return specs


def _row(line: int, cells: dict[str, str], config: Config, schemes: set[str],
         default_window: DateWindow | None, default_only: tuple[str, ...],
         problems: list[tuple[int, str]]) -> JobSpec | None:
    """Check one row; append its problems and return None when it has any."""
    before = len(problems)
    ends = {}
    for column in REQUIRED:
        ends[column] = _endpoint(line, column, cells.get(column, ""), config, schemes, problems)
    maps = _split(cells.get("map", ""))
    for name in maps:
        if not Path(name).expanduser().is_file():
            problems.append((line, f"map: no mapping file {name}"))
    window = default_window or DateWindow()
    since = cells.get("since") or _iso(window.since)
    until = cells.get("before") or _iso(window.before)
    try:
        DateWindow.parse(since, until)
    except ConfigError as exc:
        problems.append((line, str(exc).replace("--since", "since").replace("--before",
                                                                              "before")))
    only = tuple(_split(cells.get("only", ""))) or default_only
    try:
        parse_kinds(only, "only")
    except ConfigError as exc:
        problems.append((line, str(exc)))
    if len(problems) > before or ends["source"] is None or ends["target"] is None:
        return None
    if ends["source"].display == ends["target"].display:
        problems.append((line, f"source and target are the same ({ends['source'].display})"))
        return None
    return JobSpec(line, cells["source"], cells["target"], ends["source"].display,
                   ends["target"].display, cells.get("label") or None,
                   tuple(_split(cells.get("include", ""))),
                   tuple(_split(cells.get("exclude", ""))), tuple(maps), since, until, only)


def _endpoint(line: int, column: str, value: str, config: Config, schemes: set[str],
              problems: list[tuple[int, str]]) -> Endpoint | None:
    """The endpoint of one cell, or None with its problem recorded (never echoing a
    secret)."""
    if not value:
        problems.append((line, f"{column} is empty"))
        return None
    if value not in config.endpoints and "//" in value:
        parts = urlsplit(value)
        if parts.password is not None:
            problems.append((line, f"{column} holds a password in its URL: credentials "
                                   "belong in the config file (password_env, password_file "
                                   "or password_command); name the endpoint there and put "
                                   "its name in the jobs file"))
            return None
        named = {key.lower() for key in _query_keys(parts.query)} & _SECRET_PARAMS
        if named:
            problems.append((line, f"{column} carries a credential in its URL "
                                   f"({', '.join(sorted(named))}): put it in the config file"))
            return None
    try:
        endpoint = parse_endpoint(value, config)
    except ConfigError as exc:
        problems.append((line, f"{column}: {exc}"))
        return None
    if endpoint.scheme not in schemes:
        problems.append((line, f"{column}: no connector for '{endpoint.scheme}:' endpoints "
                               f"(installed: {', '.join(sorted(schemes))})"))
        return None
    return endpoint


def _query_keys(query: str) -> list[str]:
    return [part.split("=", 1)[0] for part in query.split("&") if part]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
