"""Invalid input is a 422 that always serialises.

FastAPI's default 422 echoes the offending input; Python's JSON parser accepts `NaN` and
`Infinity`, which JSON cannot carry back, so such a request became a 500. Here the echoed
input has non-finite numbers written as strings, and the request stays a plain 422.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["invalid_input"]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def invalid_input(request: Request, exc: Exception) -> JSONResponse:
    """The 422 for a request that does not fit its schema (NaN and Infinity included)."""
    assert isinstance(exc, RequestValidationError)
    detail = _finite(jsonable_encoder(exc.errors(), custom_encoder={float: _finite}))
    return JSONResponse(status_code=422, content={"detail": detail})
