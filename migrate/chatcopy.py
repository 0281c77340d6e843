"""Copying conversations: chat messages oldest first, with their blobs, resumable and
incremental.

The same rules as mail (``engine``): an item is marked pending before it is written and
done only after the target committed it; an item left pending by a dead run is looked up
at the target (``find_chat``) before being posted again. Conversations are recorded in the
state as folders keyed by their source id, with the source's cursor of the last complete
pass (asked after the pass, saved only when nothing failed, so that a failed item is listed
again by the next pass).

A message is recorded with its fingerprint (``chat_fingerprint``: its neutral fields and
source JSON). Listed again with another fingerprint, it changed at the source (edit,
reaction, deletion) and goes to ``ChatTarget.update``; the new fingerprint is recorded only
after the target committed it, so a run killed in between carries the change again (the
target's update is idempotent). A fingerprint rather than the source's lastModified time:
every source has the neutral fields (an archive has no lastModified), and a change Graph
makes without touching lastModifiedDateTime is seen too.
"""

from __future__ import annotations

import json

from .archive.chatjson import chat_fingerprint
from .connector import ChatSource, ChatTarget
from .errors import CapabilityError, ConnectError, MigrateError
from .model import ChatMessage, Conversation, Folder
from .results import CopyResult, Failure, FolderResult
from .state import ItemStatus, StateDB

#: The state key under which a conversation whose listing broke off is recorded.
STOPPED_KEY = "#conversation"


def replies_key(thread_root_id: str) -> str:
    """The state key under which a thread whose replies could not be listed is recorded."""
    return f"{thread_root_id}#replies"


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
        folder_id, cursor = self.state.folder(self.job_id, marker, marker, None)
        result = FolderResult(folder, folder)
        self.result.folders.append(result)
        roots: list[str] = []
        try:
            writer.prepare_conversation(conversation)
            listed = reader.chat_messages(conversation, cursor) if cursor is not None \
                else reader.chat_messages(conversation)
            for message in listed:
                self._copy_chat_message(reader, writer, conversation, message, folder_id,
                                        result)
                if message.thread_root_id in (None, message.source_id):
                    roots.append(message.source_id)
        except ConnectError:
            raise
        except MigrateError as exc:  # the target refused the conversation or the listing
            # broke off: record it, go on with the next conversation
            writer.commit()
            error = f"conversation stopped: {exc}"
            self.state.record_failure(self.job_id, folder_id, STOPPED_KEY, error)
            self._failed(result, STOPPED_KEY, error)
            return
        writer.commit()
        self.state.mark_results(folder_id, [(STOPPED_KEY, "", None)], [])  # if it had failed
        self._record_gaps(reader, conversation, folder_id, roots, result)
        if result.failed == 0:
            self.state.save_cursor(folder_id, reader.chat_cursor(conversation))

    def _record_gaps(self, reader: ChatSource, conversation: Conversation, folder_id: int,
                     roots: list[str], result: FolderResult) -> None:
        """Record the threads whose replies could not be listed as failures; clear those of
        earlier passes whose replies this pass listed."""
        failed: set[str] = set()
        for gap in reader.gaps(conversation):
            key = replies_key(gap.thread_root_id)
            failed.add(key)
            self.state.record_failure(self.job_id, folder_id, key, gap.error)
            self._failed(result, key, gap.error)
        listed = [replies_key(root) for root in roots if replies_key(root) not in failed]
        for start in range(0, len(listed), 500):
            known = self.state.lookup(folder_id, listed[start:start + 500])
            healed = [(key, "", None) for key, record in known.items()
                      if record.status == ItemStatus.FAILED]
            self.state.mark_results(folder_id, healed, [])

    def _failed(self, result: FolderResult, key: str, error: str) -> None:
        result.failed += 1
        self.result.failures.append(Failure(result.source.path, key, error))

    def _copy_chat_message(self, reader: ChatSource, writer: ChatTarget,
                           conversation: Conversation, message: ChatMessage, folder_id: int,
                           result: FolderResult) -> None:
        key = message.source_id
        fingerprint = chat_fingerprint(message)
        record = self.state.lookup(folder_id, [key]).get(key)
        if record is not None and record.status == ItemStatus.DONE:
            if record.sha256 == fingerprint:
                result.skipped += 1
            elif record.sha256 is None:  # recorded before fingerprints were
                self._reconcile(writer, conversation, message, folder_id, result,
                                record.target_key or "", fingerprint)
            else:
                self._update(reader, writer, conversation, message, folder_id, result,
                             record.target_key or "", fingerprint)
            return
        if record is not None and record.status == ItemStatus.PENDING:
            found = writer.find_chat(conversation, message)
            if found is not None:  # written by a dead run, not recorded
                self._reconcile(writer, conversation, message, folder_id, result, found,
                                fingerprint)
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
            self._failed(result, key, str(exc))
            return
        writer.commit()
        self.state.mark_results(folder_id, [(key, target_key, fingerprint)], [])
        result.copied += 1

    def _reconcile(self, writer: ChatTarget, conversation: Conversation,
                   message: ChatMessage, folder_id: int, result: FolderResult,
                   target_key: str, fingerprint: str) -> None:
        """A message the target holds in a version the state has no fingerprint of: the
        target's idempotent update brings it to this content if it differs (a target that
        cannot update is taken to hold it); then the fingerprint is recorded."""
        try:
            new_key = writer.update(conversation, message, target_key)
        except CapabilityError:
            new_key = target_key
        except ConnectError:
            raise
        except MigrateError as exc:
            self._failed(result, message.source_id, str(exc))
            return
        writer.commit()
        self.state.mark_results(folder_id, [(message.source_id, new_key, fingerprint)], [])
        if new_key == target_key:
            result.skipped += 1
        else:
            result.changed += 1

    def _update(self, reader: ChatSource, writer: ChatTarget, conversation: Conversation,
                message: ChatMessage, folder_id: int, result: FolderResult, target_key: str,
                fingerprint: str) -> None:
        """Carry a change of a message copied earlier; the item stays done throughout (with
        its former fingerprint until the target committed the new version)."""
        key = message.source_id
        try:
            for ref in message.attachments:
                writer.put_blob(reader.blob(ref))
            new_key = writer.update(conversation, message, target_key)
        except ConnectError:
            raise
        except CapabilityError as exc:  # recorded and reported: never silently dropped
            self.state.audit("chat-change-not-carried", job_id=self.job_id,
                             folder_id=folder_id, key=key)
            self._failed(result, key, f"changed at the source, not carried: {exc}")
            return
        except MigrateError as exc:
            self._failed(result, key, f"changed at the source, not carried: {exc}")
            return
        writer.commit()
        self.state.mark_results(folder_id, [(key, new_key, fingerprint)], [])
        result.changed += 1
