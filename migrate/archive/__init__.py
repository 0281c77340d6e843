"""The neutral archive (format v1): a BagIt bag of original .eml files, JSON Lines indexes,
chat as JSON Lines with blobs and HTML transcripts. Layout: docs/archive-format.md.

::

    writer = ArchiveWriter.open(path, source="imaps://alice@mail.example")
    writer.append(folder, message); writer.commit(); writer.close()   # close() seals
    reader = open_archive(path)          # picks the reader of the archive's format version
    result = validate(path)              # result.ok, result.problems, result.bad_files
    print(summary(path).to_text())
"""

from __future__ import annotations

from .chatjson import (
    chat_message_from_dict,
    chat_message_to_dict,
    conversation_from_dict,
    conversation_to_dict,
)
from .errors import ArchiveBusyError, IndexLineError, UnsafeIndexPathError
from .layout import FORMAT_VERSION, decode_name, encode_name
from .reader import ArchiveReader, known_versions, open_archive
from .reader_v1 import UnreadableContent
from .seal import SealReport
from .show import ArchiveSummary, summary
from .validate import Problem, ValidationResult, validate
from .writer import ArchiveWriter

__all__ = [
    "FORMAT_VERSION", "ArchiveBusyError", "ArchiveReader", "ArchiveSummary", "ArchiveWriter",
    "IndexLineError", "Problem", "SealReport", "UnreadableContent", "UnsafeIndexPathError",
    "ValidationResult", "chat_message_from_dict", "chat_message_to_dict",
    "conversation_from_dict", "conversation_to_dict", "decode_name", "encode_name",
    "known_versions", "open_archive", "summary", "validate",
]
