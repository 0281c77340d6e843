"""What the tool knows of one Matrix room it writes: its id, who has joined, and the index
of the events it sent there (source message id and part → event id).

The index is filled as events are sent, and read from the room's timeline the first time
something must be looked up that this run did not send (a thread root, a message a dead run
may have sent): one backward pass over the room, keeping only the tool's own events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .content import MESSAGE_PART, REDACTION_PART, SOURCE_KEY, part_hash


@dataclass
class RoomIndex:
    """source message id → part → event id of what the tool sent to the room, and the hash
    of the body each message was first posted with (to tell whether an edit is due)."""

    events: dict[str, dict[str, str]] = field(default_factory=dict)
    posted_bodies: dict[str, str] = field(default_factory=dict)
    loaded: bool = False  # the timeline was read (the index is complete)

    def add_event(self, event: dict) -> None:
        """Index one event of the timeline (raw client-server JSON) if the tool sent it."""
        marker = (event.get("content") or {}).get(SOURCE_KEY)
        if not (isinstance(marker, dict) and isinstance(marker.get("id"), str)
                and isinstance(marker.get("part"), str)):
            return
        source_id, part = marker["id"], marker["part"]
        self.events.setdefault(source_id, {}).setdefault(part, event["event_id"])
        if part in (MESSAGE_PART, REDACTION_PART):
            self.posted_bodies.setdefault(source_id,
                                          part_hash(marker.get("html"), marker.get("text")))
        redacts = event.get("redacts") or (event.get("content") or {}).get("redacts")
        if part == REDACTION_PART and isinstance(redacts, str):
            # the redacted message lost its content (and marker): it is this one
            self.events[source_id].setdefault(MESSAGE_PART, redacts)

    def get(self, source_id: str, part: str) -> str | None:
        return self.events.get(source_id, {}).get(part)

    def put(self, source_id: str, part: str, event_id: str) -> None:
        self.events.setdefault(source_id, {})[part] = event_id

    def drop(self, source_id: str, part: str) -> None:
        self.events.get(source_id, {}).pop(part, None)

    def parts(self, source_id: str, prefix: str) -> dict[str, str]:
        """The parts of a message starting with ``prefix`` (its reactions …) → event ids."""
        return {part: event for part, event in self.events.get(source_id, {}).items()
                if part.startswith(prefix)}


@dataclass
class Room:
    """A room the target writes to in this run."""

    room_id: str
    members: set[str] = field(default_factory=set)  # joined user ids
    index: RoomIndex = field(default_factory=RoomIndex)
