"""File downloads for admins over plain HTTP: ``GET /exports/settlement.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``.

The same bearer tokens as GraphQL; only admin tokens may download. A refusal is JSON
``{"error": {"code", "field", "message"}}`` with 401 (no or bad token), 403 (not an admin) or 400
(bad period), so a script can tell them apart; success is ``text/csv`` as an attachment named
after the period (:mod:`gateway.settlement.csv_export` describes the columns). A closed period's
CSV holds its stored figures (``closed_at`` filled in).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import Role, principal_from_header
from gateway.core import Core
from gateway.errors import AtriumError, ErrorCode
from gateway.settlement.closing import period_settlement
from gateway.settlement.csv_export import settlement_csv

STATUS = {ErrorCode.UNAUTHENTICATED: 401, ErrorCode.FORBIDDEN: 403}


def _refusal(error: AtriumError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.code is ErrorCode.UNAUTHENTICATED else None
    body = {"error": {"code": error.code.value, "field": error.field, "message": error.message}}
    return JSONResponse(body, status_code=STATUS.get(error.code, 400), headers=headers)


def _day(request: Request, name: str) -> date:
    value = request.query_params.get(name)
    if not value:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"Give the period as ?from=YYYY-MM-DD&to=YYYY-MM-DD; {name} is missing.", name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AtriumError(ErrorCode.INVALID_INPUT, f"{value!r} is not a date such as 2026-11-30.", name) from None


def settlement_csv_route(current: Callable[[], Core]) -> Route:
    """The route serving the settlement CSV of ``current()``'s core to admin tokens."""

    async def download(request: Request) -> Response:
        core = current()
        try:
            principal = principal_from_header(core.settings, request.headers.get("authorization"))
            if principal is None:
                raise AtriumError(ErrorCode.UNAUTHENTICATED, "Send 'Authorization: Bearer <token>' with an admin token.")
            if principal.role is not Role.ADMIN:
                raise AtriumError(ErrorCode.FORBIDDEN, "Only admin tokens may download the settlement.")
            first, last = _day(request, "from"), _day(request, "to")
            report = await period_settlement(core, first, last, field=None)
        except AtriumError as exc:
            return _refusal(exc)
        name = f"settlement-{first.isoformat()}-{last.isoformat()}.csv"
        return Response(
            settlement_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return Route("/exports/settlement.csv", download, methods=["GET"])
