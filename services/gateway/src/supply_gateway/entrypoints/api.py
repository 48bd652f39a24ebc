"""The public API: every route of the policy table, forwarded to its upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


READ_BODY_BYTES = 1024 * 1024
"""Request bodies up to this size (by Content-Length) are read and sent whole; larger or chunked
ones are streamed through."""
READ_RESPONSE_BYTES = 256 * 1024
"""Upstream answers up to this size (by Content-Length) are read and sent whole; others stream."""


async def _body(request: Request) -> bytes | AsyncIterator[bytes] | None:
    if "transfer-encoding" in request.headers:
        return request.stream()
    length = request.headers.get("content-length")
    if length is None or length == "0":
        return None
    if length.isdigit() and int(length) <= READ_BODY_BYTES:
        return await request.body()
    return request.stream()


async def proxy(request: Request) -> Response:
    """Admit the request by the policy table and pass it to its upstream and back."""
    gateway: Gateway = request.app.state.gateway
    settings: GatewaySettings = request.app.state.settings
    presented = credentials(request, settings)
    match, caller = await gateway.admit(request.method, request.scope["path"], presented)
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
            query=request.scope["query_string"].decode("latin-1"),
            client_headers=request.headers.items(),
            content=await _body(request),
            client_address=presented.client_address,
            read_up_to=READ_RESPONSE_BYTES,
        )
        headers = dict(client_response_headers(upstream_response.headers.multi_items()))
        if upstream_response.is_stream_consumed:
            response = Response(upstream_response.content, status_code=upstream_response.status_code, headers=headers)
        else:
            response = StreamingResponse(
                upstream_response.aiter_bytes(),
                status_code=upstream_response.status_code,
                headers=headers,
                background=BackgroundTask(upstream_response.aclose),
            )
    apply_session(response, request, settings, caller)
    return response


router.add_api_route("/api/{path:path}", proxy, methods=METHODS, include_in_schema=False)
router.add_api_route("/.well-known/jwks.json", proxy, methods=["GET"], include_in_schema=False)
