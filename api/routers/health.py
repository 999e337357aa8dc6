"""Liveness, readiness and metrics for the load balancer and Prometheus."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.composition import Services
from api.deps import get_services
from api.http import require_staff_in_production
from discom.availability import ThrottledLog
from discom.db import READ_ONLY, Database

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it does not touch the database)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: Annotated[Services, Depends(get_services)], response: Response
                 ) -> dict[str, str]:
    """The process can serve: the database answers, within READY_WITHIN_SECONDS whatever
    the database does. Telegram's state is reported but does not make the process unready
    (payments and reconnection go on without the bot). A "not ready" is logged with why."""
    database, error = await database_state(services.db)
    answer = {"status": "ok" if database == "up" else "unavailable", "database": database,
              "telegram": services.telegram_status.report()
              if services.telegram is not None else "off"}
    if database != "up":
        response.status_code = 503
        _not_ready.failure("readyz.not_ready", error or ConnectionError(database),
                           database=database)
    else:
        _not_ready.recovered("readyz.not_ready")
    return answer


READY_WITHIN_SECONDS = 1.5  # under the 2 s a load balancer's probe is given
_not_ready = ThrottledLog()


async def database_state(db: Database) -> tuple[str, BaseException | None]:
    """"up", or why not in a few words (no addresses or credentials: /readyz is public),
    with the error itself for the log."""
    try:
        async with asyncio.timeout(READY_WITHIN_SECONDS):
            async with db.engine.connect() as connection:
                await connection.execution_options(**{READ_ONLY: True})
                await connection.execute(text("SELECT 1"))
    except TimeoutError as error:
        return f"no answer within {READY_WITHIN_SECONDS} s", error
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        return f"down ({type(error).__name__})", error
    return "up", None


@router.get("/metrics", dependencies=[Depends(require_staff_in_production)])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
