"""NTLM and OAuth2 (Bearer) authentication for the fake EWS server, and its token endpoint."""

from __future__ import annotations
