"""FastAPI dependencies: the wired services, taken from the app state set up in the lifespan."""

from __future__ import annotations

from fastapi import Request

from api.composition import Services


def get_services(request: Request) -> Services:
    return request.app.state.services
