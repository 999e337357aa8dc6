"""A fake Samagra registry on a real local socket: the contract in ARCHITECTURE.md
("Samagra registry connector"), so the httpx adapter is tested on the wire.

`GET /v1/members/{id}` and `GET /v1/families/{id}` with `Authorization: Bearer API_KEY`;
404 `{"error": "not_found"}` for an unknown ID. Tests add members, make the registry answer
503 (`status_next`) or hang (`delay_seconds`), and read what was asked (`requests`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.threaded_server import bound_listener, serving_in_thread

API_KEY = "samagra-test-key"


@dataclass
class FakeMember:
    member_id: str
    family_id: str
    name: str
    name_hi: str = ""
    district: str = "Indore"

    def json(self) -> dict[str, str]:
        return {"member_id": self.member_id, "family_id": self.family_id, "name": self.name,
                "name_hi": self.name_hi, "district": self.district}


@dataclass
class FakeSamagraAPI:
    base_url: str = ""
    members: dict[str, FakeMember] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered next, before the real answer
    delay_seconds: float = 0.0

    def add(self, member_id: str, family_id: str, name: str, name_hi: str = "") -> None:
        self.members[member_id] = FakeMember(member_id, family_id, name, name_hi)

    def status_next(self, status: int) -> None:
        self.statuses.append(status)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/members/{member_id}")
        async def member(member_id: str, request: Request) -> JSONResponse:
            refused = await self._before(request)
            if refused is not None:
                return refused
            found = self.members.get(member_id)
            if found is None:
                return JSONResponse({"error": "not_found"}, status_code=404)
            return JSONResponse(found.json())

        @app.get("/v1/families/{family_id}")
        async def family(family_id: str, request: Request) -> JSONResponse:
            refused = await self._before(request)
            if refused is not None:
                return refused
            found = [m for m in self.members.values() if m.family_id == family_id]
            if not found:
                return JSONResponse({"error": "not_found"}, status_code=404)
            return JSONResponse({"family_id": family_id, "district": found[0].district,
                                 "members": [m.json() for m in found]})

        return app

    async def _before(self, request: Request) -> JSONResponse | None:
        self.requests.append(request.url.path)
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.statuses:
            return JSONResponse({"error": "unavailable"}, status_code=self.statuses.pop(0))
        return None


@pytest.fixture
def fake_samagra() -> Iterator[FakeSamagraAPI]:
    listener, url = bound_listener()
    fake = FakeSamagraAPI(base_url=url)
    with serving_in_thread(fake.app(), listener, what="the fake Samagra registry"):
        try:
            yield fake
        finally:
            fake.delay_seconds = 0
