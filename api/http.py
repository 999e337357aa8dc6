"""Small HTTP helpers shared by the routers: bounded bodies and bearer tokens."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.composition import Services
from api.deps import get_services

MAX_WEBHOOK_BYTES = 256 * 1024


async def read_body(request: Request, limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """The raw body, refused with 413 past `limit` without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def require_ops_token(request: Request,
                      services: Annotated[Services, Depends(get_services)]) -> None:
    """Bearer OPS_API_TOKEN. With no token configured the ops API is closed to everyone."""
    configured = services.settings.ops_api_token
    if configured is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "ops API is closed (OPS_API_TOKEN unset)")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = configured.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_staff_in_production(
        request: Request, services: Annotated[Services, Depends(get_services)]) -> None:
    """In production, what describes or measures the service (/metrics, /docs,
    /openapi.json) is for staff: the ops bearer token. Elsewhere it is open."""
    if services.settings.bijli_env == "production":
        require_ops_token(request, services)
