"""Teams file attachments: a message's ``reference`` attachments are SharePoint or OneDrive
files, fetched through Graph's shares API as blobs with their ``driveItem`` description.

A reference attachment (Microsoft's chatMessageAttachment, ``contentType: "reference"``)
names the file by its URL (``contentUrl``). ``GET /shares/{id}/driveItem`` describes it and
``GET /shares/{id}/driveItem/content`` serves its bytes, where ``id`` is the URL encoded as
Microsoft documents for sharing URLs: ``u!`` then the unpadded base64url of the URL. The
bytes are streamed into a spooled ``Content`` (a 30 MB file never sits in memory). Other
attachment kinds (cards, forwarded messages, code snippets, Loop components) carry their
content inline: they stay in the message's untouched JSON.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from migrate.errors import AuthError, ItemError
from migrate.model import Blob

from .session import NotFound, Session, TokenRefused
from .teams_json import parse_object

log = logging.getLogger(__name__)

#: What a 403 on a file says the app lacks.
FILES_PERMISSION = ("the Files.Read.All (or Sites.Read.All) application permission with "
                    "admin consent, and access to the site that holds the file")


@dataclass(frozen=True)
class FileReference:
    """A file a message links to: the attachment's id, name and URL."""

    id: str
    name: str | None
    url: str


def share_id(url: str) -> str:
    """The shares API id of a sharing or file URL: ``u!`` + unpadded base64url of it."""
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).rstrip(b"=")
    return "u!" + encoded.decode("ascii")


def file_references(message: dict) -> list[FileReference]:
    """The file attachments of a chatMessage (``contentType: "reference"``), in order,
    each URL once."""
    found: dict[str, FileReference] = {}
    for attachment in message.get("attachments") or ():
        if not isinstance(attachment, dict) or attachment.get("contentType") != "reference":
            continue
        url = attachment.get("contentUrl")
        if isinstance(url, str) and url and url not in found:
            name = attachment.get("name")
            found[url] = FileReference(str(attachment.get("id") or ""),
                                       name if isinstance(name, str) else None, url)
    return list(found.values())


def fetch_file(session: Session, reference: FileReference, message: str) -> Blob:
    """The file's bytes (spooled) and its driveItem JSON; ``ItemError`` naming the file
    and the reason when it is gone (404) or not readable by the app (403)."""
    key = share_id(reference.url)
    label = f"file {reference.name or reference.url} of message {message}"

    def drive_item(c):
        return c.shares.by_shared_drive_item_id(key).drive_item

    try:
        about = session.get_json(f"describing {label}",
                                 lambda c: drive_item(c).to_get_request_information())
        item = parse_object(about, label)
        content = session.download(f"downloading {label}",
                                   lambda c: drive_item(c).content.to_get_request_information())
    except NotFound:
        raise ItemError(f"{session.settings.display}: {label} is no longer in SharePoint or "
                        f"OneDrive (deleted or moved): {reference.url}") from None
    except TokenRefused:
        raise
    except AuthError:
        raise ItemError(f"{session.settings.display}: access denied to {label} "
                        f"({reference.url}); the app needs {FILES_PERMISSION}") from None
    media = (item.get("file") or {}).get("mimeType") if isinstance(item.get("file"), dict) \
        else None
    name = item.get("name") if isinstance(item.get("name"), str) else reference.name
    expected = item.get("size")
    if isinstance(expected, int) and expected != content.size:  # SharePoint may rewrite
        log.warning("%s: %s: SharePoint describes %d bytes and served %d; the bytes served "
                    "are kept (Office documents get their properties rewritten on download)",
                    session.settings.display, label, expected, content.size)
    return Blob(content, name, media, about=about.decode("utf-8", "replace"))

