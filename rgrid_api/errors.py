"""The one mapping of errors to HTTP problem responses."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rgrid_common.errors import RGridError


def _rgrid_error(_request: Request, exc: RGridError) -> JSONResponse:
    return JSONResponse(exc.to_problem(), status_code=exc.status_code)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return JSONResponse(
        {"code": "invalid_input", "message": f"Invalid request: {where}: {first.get('msg', '')}",
         "hint": "Check the value and try again.", "errors": exc.errors()},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RGridError, _rgrid_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
