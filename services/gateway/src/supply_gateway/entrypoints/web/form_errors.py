"""What a page shows when the API refuses a form: each field's reason in plain words, and one message."""

from __future__ import annotations

from dataclasses import dataclass

from supply_common.problems import ProblemError
from supply_gateway.entrypoints.web.forms import plain_errors
from supply_gateway.service_layer.callers import Reply

FIX_FIELDS = "Please correct the marked fields."
"""The message of a form the API refused field by field."""


def too_many(attempts: str, retry_after: str | None) -> str:
    """The message of a form refused for too many `attempts` (429), with the wait the API asked for
    when it said."""
    return f"Too many {attempts}. Wait {retry_after or 'a few'} seconds and try again."


def field_errors(problem: ProblemError) -> dict[str, str]:
    """The API's reasons by field, as it gave them."""
    return {error.field: error.reason for error in problem.problem.errors}


def form_message(problem: ProblemError) -> str:
    if problem.problem.errors:
        return FIX_FIELDS
    return problem.problem.detail or problem.problem.title


@dataclass(frozen=True)
class Refusal:
    """A refused form: the status to answer with, the problem, the fields' plain reasons, one message."""

    status: int
    problem: ProblemError
    errors: dict[str, str]
    message: str


def refusal(reply: Reply) -> Refusal:
    """The API's refusal of a form, for the form to show again. A failure of the service behind (5xx) is
    not the form's fault: it is raised, and the page shows it as an error page."""
    problem = reply.problem()
    if reply.status >= 500:
        raise problem
    return Refusal(reply.status, problem, plain_errors(field_errors(problem)), form_message(problem))
