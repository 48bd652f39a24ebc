"""What the routes and pages take from the app: the container `bootstrap` built, and its parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from supply_gateway.bootstrap import Container
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.policy import Policy
from supply_gateway.service_layer.gateway import Gateway


def get_container(request: HTTPConnection) -> Container:
    container: Container = request.app.state.container
    return container


def get_gateway(request: HTTPConnection) -> Gateway:
    return get_container(request).gateway


def get_settings(request: HTTPConnection) -> GatewaySettings:
    return get_container(request).settings


def get_policy(request: HTTPConnection) -> Policy:
    return get_container(request).policy


ContainerDep = Annotated[Container, Depends(get_container)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
