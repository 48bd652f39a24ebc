"""What the routes and pages take from the app: the container `bootstrap` built, and its policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from supply_gateway.bootstrap import Container
from supply_gateway.domain.policy import Policy


def get_container(request: HTTPConnection) -> Container:
    container: Container = request.app.state.container
    return container


def get_policy(request: HTTPConnection) -> Policy:
    return get_container(request).policy


PolicyDep = Annotated[Policy, Depends(get_policy)]
