"""The exceptions of sovereign-migrate, and what the engine does with each.

::

    MigrateError                      base class; its message is written for a sysadmin
    ├── ConfigError                   bad endpoint, option or config file      → exit 2
    ├── ConnectError                  cannot reach or log in to an endpoint    → exit 3
    │   ├── AuthError                 credentials refused or expired
    │   └── MailboxUnavailableError   the mailbox is gone, being moved, or its store down
    ├── CapabilityError               the connector cannot do what was asked   → exit 2
    ├── ItemError                     one item failed; recorded, run goes on   → exit 1
    │   ├── BadInputError             malformed or hostile content
    │   ├── QuotaError                the target's quota is full
    │   └── TooLargeError             the target refuses an item this large
    ├── RetryableError                throttled or dropped; retried with back-off
    ├── ArchiveError                  an archive is unsealed, tampered or unreadable
    │   └── UnsafePathError           an archive path tries to leave the archive
    └── StateError                    the state database cannot be used

Connectors translate their platform's errors into these at their boundary; the engine
never sees a protocol library's exception class.
"""

from __future__ import annotations


class MigrateError(Exception):
    """Base class of every error this tool raises on purpose."""

    exit_code = 1
    #: What to do about it, as a key of ``i18n.MESSAGES`` (said in the operator's language
    #: under the message, which is technical and in English).
    hint = "error.hint.rerun"


class ConfigError(MigrateError):
    """An endpoint, option, mapping or config file is wrong."""

    exit_code = 2
    hint = "error.hint.config"


class CapabilityError(MigrateError):
    """The connector cannot do what was asked (e.g. write chat to a mail-only target)."""

    exit_code = 2
    hint = "error.hint.capability"


class ConnectError(MigrateError):
    """An endpoint cannot be reached, opened or logged in to."""

    exit_code = 3
    hint = "error.hint.connect"


class AuthError(ConnectError):
    """Credentials were refused or have expired."""

    hint = "error.hint.auth"


class MailboxUnavailableError(ConnectError):
    """The server answers, but the mailbox itself cannot be read: it does not exist (any
    more), is being moved, or its database is down. The job stops; a rerun resumes it."""

    hint = "error.hint.mailbox"


class ItemError(MigrateError):
    """One item could not be read or written; the run records it and goes on."""


class BadInputError(ItemError):
    """An item's content or metadata is malformed or hostile."""


class QuotaError(ItemError):
    """The target's storage quota is full."""


class TooLargeError(ItemError):
    """The target refuses an item of this size."""


class RetryableError(MigrateError):
    """A passing failure (throttling, dropped connection); worth another try after a wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ArchiveError(MigrateError):
    """An archive is unsealed, tampered with, or cannot be read."""

    hint = "error.hint.archive"


class UnsafePathError(ArchiveError):
    """A path read from an archive would lead outside it."""


class StateError(MigrateError):
    """The state database cannot be opened or used."""

    exit_code = 2
    hint = "error.hint.state"
