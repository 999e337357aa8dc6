"""FastAPI dependencies: the wired services, taken from the app state set up in the lifespan."""

from __future__ import annotations

from fastapi import Request

from api.composition import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    return request.app.state.services
