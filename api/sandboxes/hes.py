"""The HES simulator on HTTP: the head-end contract (ARCHITECTURE.md) plus a control surface.

`hes_simulator_app(simulator, api_key)` is a self-contained FastAPI app, so it runs alone
(`uvicorn` on its own port) or mounted inside Bijli's app (`app.mount("/sim/hes", ...)`, then
`HES_BASE_URL` is `{PUBLIC_BASE_URL}/sim/hes`). Every route path is relative to where it is
mounted, and errors take the contract's shape `{"error": "..."}` — never FastAPI's `detail`.

Contract routes:  POST /v1/commands, GET /v1/commands/{id}, GET /v1/meters/{id}
Control routes (tests, demo):  GET|POST /_control, POST /_control/disconnect,
POST /_control/press-button — bearer-protected too, and still answering while `down`.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from discom.hes.simulator import HesSimulator, SimulatorError

_ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class CommandIn(BaseModel):
    """The body of `POST /v1/commands`. Unknown fields are refused, so a client that
    misspells one finds out here rather than against a real head-end."""

    model_config = ConfigDict(extra="forbid")

    meter_id: str = _ID
    action: Literal["connect", "disconnect"]
    correlation_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=64)
    reply_url: str = Field(max_length=2000, pattern=r"^https?://[^\s/]+\S*$")
    expires_at: AwareDatetime

    @field_validator("expires_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if not isinstance(value, str):  # no Unix timestamps: the contract says ISO 8601
            raise ValueError("must be an ISO 8601 timestamp")
        return value


class ControlIn(BaseModel):
    """Behaviour switches to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    latency: float | None = Field(default=None, ge=0, le=600)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    ready_for_reconnection_mode: bool | None = None
    down: bool | None = None
    drop_callbacks: bool | None = None
    callback_attempts: int | None = Field(default=None, ge=1, le=20)
    callback_backoff: float | None = Field(default=None, ge=0, le=60)


class DisconnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meter_id: str = _ID
    reason: str = Field(default="non_payment", min_length=1, max_length=64)


class MeterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meter_id: str = _ID


class _Unauthorised(SimulatorError):
    status = 401


class _MissingKey(SimulatorError):
    status = 400


def hes_simulator_app(simulator: HesSimulator, api_key: str) -> FastAPI:
    """An app serving `simulator` to callers that present `Bearer {api_key}`."""
    app = FastAPI(title="HES simulator", version="1")
    app.add_exception_handler(SimulatorError, _simulator_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.state.simulator = simulator

    def bearer(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(),
                                                                 api_key.encode()):
            raise _Unauthorised("missing or wrong bearer token")

    def up_and_bearer(authorization: Annotated[str | None, Header()] = None) -> None:
        simulator.ensure_up()  # a down HES answers 503 to everyone, before anything else
        bearer(authorization)

    _add_contract_routes(app, simulator, Depends(up_and_bearer))
    _add_control_routes(app, simulator, Depends(bearer))
    return app


def _add_contract_routes(app: FastAPI, simulator: HesSimulator, guard: Any) -> None:
    @app.post("/v1/commands", status_code=202, dependencies=[guard])
    async def submit_command(
        command: CommandIn,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        if not idempotency_key or len(idempotency_key) > 255:
            raise _MissingKey("Idempotency-Key header is required (1-255 characters)")
        submission = await simulator.submit(idempotency_key=idempotency_key,
                                            **command.model_dump())
        # A replay answers what the first request was answered (IETF idempotency-key draft).
        headers = {"Idempotent-Replayed": "true"} if submission.replayed else {}
        return JSONResponse({"command_id": submission.command.command_id,
                             "status": "accepted"}, status_code=202, headers=headers)

    @app.get("/v1/commands/{command_id}", dependencies=[guard])
    async def get_command(command_id: str) -> dict[str, Any]:
        return simulator.get_command(command_id).to_wire()

    @app.get("/v1/meters/{meter_id}", dependencies=[guard])
    async def get_meter(meter_id: str) -> dict[str, Any]:
        return await simulator.get_meter(meter_id)


def _add_control_routes(app: FastAPI, simulator: HesSimulator, guard: Any) -> None:
    @app.get("/_control", dependencies=[guard])
    async def show_control() -> dict[str, Any]:
        return _control_view(simulator)

    @app.post("/_control", dependencies=[guard])
    async def change_control(changes: ControlIn) -> dict[str, Any]:
        simulator.configure(**changes.model_dump(exclude_none=True))
        return _control_view(simulator)

    @app.post("/_control/disconnect", status_code=202, dependencies=[guard])
    async def disconnect(body: DisconnectIn) -> dict[str, Any]:
        return await simulator.emit_disconnect(body.meter_id, body.reason)

    @app.post("/_control/press-button", status_code=202, dependencies=[guard])
    async def press_button(body: MeterIn) -> dict[str, Any]:
        return await simulator.press_button(body.meter_id)


def _control_view(simulator: HesSimulator) -> dict[str, Any]:
    return {"config": dataclasses.asdict(simulator.config),
            "commands": len(simulator.commands),
            "callbacks": dataclasses.asdict(simulator.callbacks)}


async def _simulator_error(request: Request, exc: SimulatorError) -> JSONResponse:
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif exc.status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors())
    return JSONResponse({"error": problems or "invalid request"}, status_code=422)

