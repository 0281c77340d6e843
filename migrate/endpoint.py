"""Endpoints: where a copy reads or writes, given as a URL or a name from the config file.

``mbox:PATH``, ``maildir:PATH``, ``eml:PATH``, ``archive:PATH`` name local files;
``imap://USER[:PASSWORD]@HOST[:PORT]?tls=off`` and friends name servers. Secrets are kept
in a ``Secret`` whose ``repr`` hides them; ``Endpoint.display`` never contains one, so it
is what goes to logs, state and reports.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ConfigError


class Secret:
    """A password or token, fetched only when used; printing it shows ``***``."""

    __slots__ = ("_command", "_env", "_file", "_value")

    def __init__(self, value: str | None = None, *, env: str | None = None,
                 file: str | None = None, command: str | None = None) -> None:
        self._value, self._env, self._file, self._command = value, env, file, command

    def get(self) -> str:
        """The secret's current value, read anew from a file or command each time."""
        if self._value is not None:
            return self._value
        if self._env is not None:
            if self._env not in os.environ:
                raise ConfigError(f"environment variable {self._env} is not set")
            return os.environ[self._env]
        if self._file is not None:
            try:
                return Path(self._file).expanduser().read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self._file}: {exc.strerror}") from None
        if self._command is not None:
            done = subprocess.run(shlex.split(self._command), capture_output=True, text=True)
            if done.returncode != 0:
                raise ConfigError(f"secret command {self._command.split()[0]!r} failed "
                                  f"(exit {done.returncode})")
            return done.stdout.strip()
        raise ConfigError("no secret configured")

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint. ``display`` is safe to log; ``password`` never is."""

    scheme: str
    path: str | None = None  # for file endpoints
    user: str | None = None
    host: str | None = None
    port: int | None = None
    location: str = ""  # what follows the host for URL endpoints (a tenant, a team ...)
    params: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict, repr=False)
    name: str | None = None  # the config file entry it came from, if any

    @property
    def display(self) -> str:
        """The endpoint as a URL without any secret."""
        if self.path is not None:
            return f"{self.scheme}:{self.path}"
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{who}{self.host or ''}{port}{self.location}"

    @property
    def password(self) -> Secret | None:
        return self.secrets.get("password")

    def local_path(self) -> Path:
        if self.path is None:
            raise ConfigError(f"{self.display}: a local path is needed here")
        return Path(self.path).expanduser()


_SECRET_KEYS = ("password", "token", "client_secret")


def parse_endpoint(text: str, config: Config | None = None) -> Endpoint:
    """Parse an endpoint URL, or look a bare name up in the config file."""
    if config is not None and text in config.endpoints:
        return config.endpoint(text)
    if ":" not in text:
        raise ConfigError(f"endpoint {text!r} is neither a URL (scheme:...) nor a name "
                          "defined in the config file")
    scheme, rest = text.split(":", 1)
    scheme = scheme.lower()
    if not scheme.replace("-", "").replace("+", "").isalnum():
        raise ConfigError(f"endpoint {text!r}: invalid scheme {scheme!r}")
    if not rest.startswith("//"):
        if not rest:
            raise ConfigError(f"endpoint {text!r}: a path is needed after '{scheme}:'")
        return Endpoint(scheme=scheme, path=rest)
    parts = urlsplit(text)
    secrets: dict[str, Secret] = {}
    if parts.password is not None:
        secrets["password"] = Secret(unquote(parts.password))
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"endpoint {_mask(text)}: invalid port") from None
    return Endpoint(
        scheme=scheme,
        user=unquote(parts.username) if parts.username else None,
        host=parts.hostname,
        port=port,
        location=parts.path,
        params=dict(parse_qsl(parts.query)),
        secrets=secrets,
    )


def _mask(text: str) -> str:
    parts = urlsplit(text)
    if parts.password is None:
        return text
    return text.replace(f":{parts.password}@", ":***@", 1)


def secret_from_options(prefix: str, options: dict[str, object]) -> Secret | None:
    """Build a Secret from ``PREFIX``, ``PREFIX_env``, ``PREFIX_file`` or ``PREFIX_command``."""
    for suffix, keyword in (("_env", "env"), ("_file", "file"), ("_command", "command")):
        value = options.get(prefix + suffix)
        if value is not None:
            return Secret(**{keyword: str(value)})
    value = options.get(prefix)
    return Secret(str(value)) if value is not None else None


@dataclass
class Config:
    """The TOML config file: named endpoints with their credentials, and defaults."""

    endpoints: dict[str, dict[str, object]] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> Config:
        if path is None:
            return cls()
        path = Path(path).expanduser()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        endpoints = data.get("endpoints", {})
        if not isinstance(endpoints, dict):
            raise ConfigError(f"config file {path}: [endpoints] must be a table")
        return cls(endpoints=endpoints, path=path)

    def endpoint(self, name: str) -> Endpoint:
        options = dict(self.endpoints[name])
        url = options.pop("url", None)
        if not isinstance(url, str):
            raise ConfigError(f"config file {self.path}: endpoint {name!r} needs a 'url'")
        base = parse_endpoint(url)
        secrets = dict(base.secrets)
        for key in _SECRET_KEYS:
            secret = secret_from_options(key, options)
            if secret is not None:
                secrets[key] = secret
            for suffix in ("", "_env", "_file", "_command"):
                options.pop(key + suffix, None)
        params = {**base.params, **{k: str(v) for k, v in options.items()}}
        return Endpoint(base.scheme, base.path, base.user, base.host, base.port,
                        base.location, params, secrets, name)
