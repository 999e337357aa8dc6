"""The Samagra registry connector (ARCHITECTURE.md, "Samagra registry connector").

`SamagraRegistry` is what KYC needs: a member (9-digit ID) or a family (8-digit ID) looked
up, answered with the people the registry knows, or None when it knows nobody by that ID.
`RegistryUnavailable` (5xx, timeout, a refused connection, an answer off the contract) means
"ask later": the dialog says so and nothing is recorded as verified.

`HttpSamagraRegistry` speaks the contract over httpx to the state's registry; the embedded
default uses the in-process simulator (`discom.kyc.samagra_simulator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Member:
    member_id: str
    family_id: str
    name: str
    name_hi: str = ""
    district: str = ""


class RegistryUnavailable(Exception):
    """The registry could not answer now (not "not found"): try later."""


class SamagraRegistry(Protocol):
    async def member(self, member_id: str) -> Member | None:
        """The member with this 9-digit ID, or None (not found)."""
        ...

    async def family(self, family_id: str) -> list[Member] | None:
        """The members of this 8-digit family, or None (not found)."""
        ...

    async def close(self) -> None: ...


class HttpSamagraRegistry:
    """The registry over HTTP: `GET /v1/members/{id}`, `GET /v1/families/{id}`, bearer key."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    async def member(self, member_id: str) -> Member | None:
        body = await self._get(f"/v1/members/{member_id}")
        if body is None:
            return None
        return _member(body, family_id=None)

    async def family(self, family_id: str) -> list[Member] | None:
        body = await self._get(f"/v1/families/{family_id}")
        if body is None:
            return None
        members = body.get("members")
        if not isinstance(members, list):
            raise RegistryUnavailable("family answer without a members list")
        return [_member(item, family_id=str(body.get("family_id", family_id)))
                for item in members]

    async def close(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str) -> dict[str, Any] | None:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            log.warning("samagra.unreachable", error=type(exc).__name__)
            raise RegistryUnavailable(type(exc).__name__) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            # 401/403 are our misconfiguration, 5xx theirs: either way nobody is verified now.
            log.warning("samagra.refused", status=response.status_code)
            raise RegistryUnavailable(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RegistryUnavailable("answer is not JSON") from None
        if not isinstance(body, dict):
            raise RegistryUnavailable("answer is not a JSON object")
        return body


def _member(item: Any, *, family_id: str | None) -> Member:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(
            item.get("member_id"), str):
        raise RegistryUnavailable("member without member_id and name")
    return Member(member_id=item["member_id"],
                  family_id=str(item.get("family_id") or family_id or ""),
                  name=item["name"], name_hi=str(item.get("name_hi") or ""),
                  district=str(item.get("district") or ""))


async def members_for(registry: SamagraRegistry, kind: str, samagra_id: str
                      ) -> list[Member] | None:
    """The people a typed Samagra ID stands for (`kind` "member" or "family"), or None."""
    if kind == "family":
        return await registry.family(samagra_id)
    member = await registry.member(samagra_id)
    return None if member is None else [member]
