"""Reading a JSON request body at the edge: size, UTF-8, Unicode and nesting checked before any model sees it.

The standard parser reads the bytes (it keeps integers past 64 bits exact, which orjson would turn
into floats); ``NaN``, ``Infinity`` and numbers past a double's range (``1e999``) are refused, and so is nesting past ``max_json_depth`` (no
request of this API nests more than a few levels) and any string or key holding a lone surrogate
(``"\\ud800"``), which SQLite could not store. The walk that checks them is iterative, so no
input can exhaust the recursion limit after parsing; the parser's own recursion is caught.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from service.errors import ApiError


def read_body(max_bytes: int) -> bytes:
    """The raw body, at most ``max_bytes``: a longer one, announced or chunked, is a 413."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    stream = request.stream
    if length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # werkzeug reads a body of unknown length as empty unless the server marks its input as
        # terminated, which gunicorn does not; gunicorn's own input is already de-chunked.
        stream = request.environ["wsgi.input"]
    try:
        data = stream.read(max_bytes + 1)
    except Exception as error:  # the server's parser finds bad framing (a chunk size that is no number, ...)
        raise ApiError(
            400, "bad_request", f"The request body could not be read: {type(error).__name__}", {"parameter": "body"}
        ) from None
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"The request body is over the limit of {max_bytes} bytes",
        {"parameter": "body", "limit": max_bytes},
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _problem(value: Any, max_depth: int) -> str | None:
    """What makes a parsed body unacceptable (too deep, a lone surrogate), walked without recursion; None if nothing."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "a number is too large for a double (it would be stored as infinity)"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"a string holds a lone surrogate ({item.encode('utf-8', 'backslashreplace')[:40]!r})"
            continue
        if isinstance(item, dict):
            children: list[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            return f"it nests lists and objects more than {max_depth} levels deep"
        stack.extend((child, depth + 1) for child in children)
    return None


def parse_json(data: bytes, max_depth: int) -> Any:
    """The parsed body; else 400 ``invalid_json`` saying why (and where, for a syntax error)."""
    problem: str | None
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        value, problem = None, f"it nests lists and objects more than {max_depth} levels deep"
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError (bytes that are not UTF-8), NaN
        value, problem = None, str(error)
    else:
        problem = _problem(value, max_depth)
    if problem is not None:
        raise ApiError(
            400,
            "invalid_json",
            f"The request body is not valid JSON: {problem}",
            {"parameter": "body", "max_depth": max_depth},
        )
    return value


def json_body(max_bytes: int, max_depth: int) -> Any:
    """The request's JSON body, checked: 415 unless it is sent as ``application/json``, then size, then content."""
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})",
        )
    return parse_json(read_body(max_bytes), max_depth)
