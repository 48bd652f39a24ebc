"""A sale's journey for technical workers: its own page, and `journey_for`, which the sale's page
calls to show `_journey.html` beside the sale."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from supply_common.problems import ProblemError
from supply_gateway.entrypoints.web.page import Page, page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/sales/{sale_id}/journey")
@page("journey")
async def sale_journey(request: Request, current: Page) -> Response:
    sale_id = request.path_params["sale_id"]
    journey = await current.gateway.journey(current.caller, request.state.request_id, sale_id)
    return current.render("journey.html", journey=journey)


async def journey_for(current: Page, sale_id: str) -> dict[str, Any] | None:
    """The sale's journey when the caller may see it, else None; None too when it cannot be read
    (the sale's page shows the sale all the same)."""
    if not current.may("journey"):
        return None
    try:
        return await current.gateway.journey(current.caller, current.request.state.request_id, sale_id)
    except ProblemError as exc:
        log.info("no journey for the sale page", extra={"sale_id": sale_id, "status": exc.problem.status})
        return None
