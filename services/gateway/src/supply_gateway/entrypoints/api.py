"""The public API: every route of the policy table, forwarded to its upstream."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from supply_gateway.config import GatewaySettings
from supply_gateway.domain.headers import client_response_headers
from supply_gateway.domain.policy import GATEWAY
from supply_gateway.entrypoints.session import apply_session, credentials
from supply_gateway.service_layer.gateway import Gateway

router = APIRouter()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _has_body(request: Request) -> bool:
    if "transfer-encoding" in request.headers:
        return True
    length = request.headers.get("content-length")
    return length is not None and length != "0"


async def proxy(request: Request) -> Response:
    """Admit the request by the policy table and stream it to its upstream and back."""
    gateway: Gateway = request.app.state.gateway
    settings: GatewaySettings = request.app.state.settings
    presented = credentials(request, settings)
    match, caller = await gateway.admit(request.method, request.url.path, presented)
    request.scope["route"] = SimpleNamespace(path=match.rule.path)
    request_id = request.state.request_id
    response: Response
    if match.rule.upstream == GATEWAY:
        response = JSONResponse(await gateway.replication(caller, request_id), headers={"cache-control": "no-store"})
    else:
        upstream_response = await gateway.forward(
            match,
            caller,
            request_id=request_id,
            query=request.url.query,
            client_headers=request.headers.items(),
            content=request.stream() if _has_body(request) else None,
            client_address=presented.client_address,
        )
        response = StreamingResponse(
            upstream_response.aiter_bytes(),
            status_code=upstream_response.status_code,
            headers=dict(client_response_headers(upstream_response.headers.multi_items())),
            background=BackgroundTask(upstream_response.aclose),
        )
    apply_session(response, request, settings, caller)
    return response


router.add_api_route("/api/{path:path}", proxy, methods=METHODS, include_in_schema=False)
router.add_api_route("/.well-known/jwks.json", proxy, methods=["GET"], include_in_schema=False)
