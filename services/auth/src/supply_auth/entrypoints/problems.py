"""How each refusal of a use case is answered: one RFC 9457 problem per exception class."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from supply_auth.service_layer import errors
from supply_common.problems import FieldError, ProblemError

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

PROBLEMS: Mapping[type[Exception], Callable[[Exception], ProblemError]] = {
    errors.EmailTaken: lambda _: ProblemError(
        409, "Email unavailable", "An account cannot be created with this email."
    ),
    errors.InvalidCredentials: lambda _: ProblemError(401, "Login failed", "The email or password is wrong."),
    errors.InvalidPasswordLink: lambda _: ProblemError(
        400,
        "Link not valid",
        "The link is unknown, used already, replaced by a newer one or expired. Register again with the same"
        " email to get a new link.",
        errors=[FieldError(field="token", reason="unknown, used, replaced or expired")],
    ),
    errors.Throttled: lambda e: ProblemError(
        429,
        "Too many attempts",
        "Too many failed logins; wait before trying again.",
        headers={"Retry-After": str(e.retry_after_s)},  # type: ignore[attr-defined]
    ),
    errors.InvalidRefreshToken: lambda _: ProblemError(
        401, "Invalid refresh token", "The refresh token is unknown, expired, used or revoked; log in again."
    ),
    errors.NotAuthenticated: lambda _: ProblemError(401, "Not signed in", "Sign in again.", headers=WWW_AUTHENTICATE),
    errors.Forbidden: lambda _: ProblemError(403, "Forbidden", "Your role may not do this."),
    errors.UserNotFound: lambda _: ProblemError(404, "Not found", "No such user."),
    errors.LastSeniorManager: lambda _: ProblemError(
        409, "Last senior manager", "The last active senior manager cannot be demoted or disabled."
    ),
    errors.InvalidInput: lambda e: ProblemError(
        422,
        "Invalid request",
        "; ".join(f"{x.field}: {x.reason}" for x in e.errors),  # type: ignore[attr-defined]
        errors=[FieldError(field=x.field, reason=x.reason) for x in e.errors],  # type: ignore[attr-defined]
    ),
}
