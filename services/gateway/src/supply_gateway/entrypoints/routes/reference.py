"""The API reference: `/docs` for people and `/openapi.json` for tools, both drawn from the policy table."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from supply_gateway.entrypoints.deps import PolicyDep
from supply_gateway.entrypoints.openapi import openapi_document
from supply_gateway.entrypoints.web.page import Page, page

router = APIRouter(include_in_schema=False)


@router.get("/docs")
@page(signed_in=False)
async def docs(request: Request, current: Page) -> Response:
    return current.render("docs.html", rules=current.policy.rules)


@router.get("/openapi.json")
async def openapi(request: Request, policy: PolicyDep) -> Response:
    return JSONResponse(openapi_document(policy, title="Supply Store API", version=request.app.version))
