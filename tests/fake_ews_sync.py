"""SyncFolderItems (and SyncFolderHierarchy) for the fake EWS server: sync states and changes."""

from __future__ import annotations
