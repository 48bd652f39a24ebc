"""RFC 9457 problem details: every error any service returns has this shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="Where the bad value is, dotted: `items.0.price`, `header.If-Match`.")
    reason: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(type=type_, title=title, status=status, detail=detail, errors=errors or [])
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body = self.problem.model_copy(update={"instance": instance}).model_dump(exclude_none=True)
        body.update(self.extra)
        return body


def field_error(field: str, reason: str, status: int = 422, title: str = "Invalid request") -> ProblemError:
    return ProblemError(status, title, f"{field}: {reason}", errors=[FieldError(field=field, reason=reason)])
