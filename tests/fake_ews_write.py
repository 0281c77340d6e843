"""Writing operations of the fake EWS server: CreateFolder and CreateItem (MIME upload)."""

from __future__ import annotations
