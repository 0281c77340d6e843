"""Copying conversations: chat messages oldest first, with their blobs, resumable.

The same rules as mail (``engine``): an item is marked pending before it is written and
done only after the target committed it; an item left pending by a dead run is looked up
at the target (``find_chat``) before being posted again. Conversations are recorded in the
state as folders keyed by their source id.
"""

from __future__ import annotations

import json

from .connector import ChatSource, ChatTarget
from .errors import ConnectError, MigrateError
from .model import ChatMessage, Conversation, Folder
from .results import CopyResult, Failure, FolderResult
from .state import ItemStatus, StateDB


class ChatCopier:
    """Copies every conversation of a chat source into a chat target for one job."""

    def __init__(self, state: StateDB, job_id: int, result: CopyResult) -> None:
        self.state, self.job_id, self.result = state, job_id, result

    def copy(self, reader: ChatSource, writer: ChatTarget) -> None:
        for conversation in reader.conversations():
            self._copy_conversation(reader, writer, conversation)
        self._copy_people(reader, writer)

    @staticmethod
    def _copy_people(reader: ChatSource, writer: ChatTarget) -> None:
        """The identity map, once every conversation is read (it names everyone seen)."""
        writer.put_people(reader.people())
        writer.commit()

    def _copy_conversation(self, reader: ChatSource, writer: ChatTarget,
                           conversation: Conversation) -> None:
        marker = (json.dumps({"conversation": conversation.source_id}),)
        folder = Folder((conversation.name or conversation.source_id,))
        folder_id, _ = self.state.folder(self.job_id, marker, marker, None)
        result = FolderResult(folder, folder)
        self.result.folders.append(result)
        writer.prepare_conversation(conversation)
        for message in reader.chat_messages(conversation):
            self._copy_chat_message(reader, writer, conversation, message, folder_id, result)
        writer.commit()

    def _copy_chat_message(self, reader: ChatSource, writer: ChatTarget,
                           conversation: Conversation, message: ChatMessage, folder_id: int,
                           result: FolderResult) -> None:
        key = message.source_id
        record = self.state.lookup(folder_id, [key]).get(key)
        if record is not None and record.status == ItemStatus.DONE:
            result.skipped += 1
            return
        if record is not None and record.status == ItemStatus.PENDING:
            found = writer.find_chat(conversation, message)
            if found is not None:
                self.state.mark_results(folder_id, [(key, found, None)], [])
                result.skipped += 1
                return
        self.state.mark_pending(self.job_id, folder_id, [(key, 0)])
        try:
            for ref in message.attachments:
                writer.put_blob(reader.blob(ref))
            target_key = writer.post(conversation, message)
        except ConnectError:
            raise
        except MigrateError as exc:
            self.state.mark_results(folder_id, [], [(key, str(exc))])
            result.failed += 1
            self.result.failures.append(Failure(result.source.path, key, str(exc)))
            return
        writer.commit()
        self.state.mark_results(folder_id, [(key, target_key, None)], [])
        result.copied += 1


