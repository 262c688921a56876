"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from matcher.errors import (
    Busy,
    ConfigError,
    IndexMismatch,
    InvalidInput,
    MatcherError,
    NotFound,
    TooLarge,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger(__name__)

STATUS_OF: dict[type[MatcherError], int] = {
    InvalidInput: 422,
    ValidationFailed: 422,
    NotFound: 404,
    TooLarge: 413,
    IndexMismatch: 503,
    Busy: 503,
    Unavailable: 503,
    ConfigError: 500,
}

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    401: "unauthorized",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "rate_limited",
}


class ApiError(Exception):
    """An error found while reading the HTTP request itself (not the matcher's domain)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,  # e.g. Retry-After on a 503
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "details": details or {}}}), status


def _status_of(error: MatcherError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> tuple[Response, int]:
        response, status = error_response(error.status, error.code, error.message, error.details)
        response.headers.update(error.headers)
        return response, status

    @app.errorhandler(MatcherError)
    def _matcher_error(error: MatcherError) -> tuple[Response, int]:
        status = _status_of(error)
        if status >= 500:
            log.error("%s: %s", error.code, error.message)
        response = error_response(status, error.code, error.message, error.details)
        if isinstance(error, Busy):
            response[0].headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        response, status = error_response(status, HTTP_CODES.get(status, "http_error"), error.description or error.name)
        for name, value in error.get_headers():  # e.g. a 405's Allow
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("Unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred; see the server log")
