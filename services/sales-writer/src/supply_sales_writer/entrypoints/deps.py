"""What the routes take from the app: the container `bootstrap` built, its use cases, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from supply_common.identity import Identity, require_roles
from supply_sales_writer.bootstrap import Container
from supply_sales_writer.service_layer.services import SalesService

writer = require_roles("technical_worker")
reader = require_roles("technical_worker", "senior_management")


async def get_container(request: Request) -> Container:
    """The container of the app serving the request (async: no hop to a worker thread)."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_sales(container: ContainerDep) -> SalesService:
    return container.service


Sales = Annotated[SalesService, Depends(get_sales)]
Writer = Annotated[Identity, Depends(writer)]
Reader = Annotated[Identity, Depends(reader)]
