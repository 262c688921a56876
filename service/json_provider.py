"""Flask's JSON through orjson: explained matches are large, and the standard encoder was a tenth of a request."""

from __future__ import annotations

import json
from typing import Any, cast

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider


def _encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # e.g. an integer past 64 bits in a record's metadata: the standard encoder takes it
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")


class OrjsonProvider(DefaultJSONProvider):
    """Serialises with orjson (UTF-8, keys in insertion order); reads with the standard parser."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return _encode(obj).decode("utf-8")

    def response(self, *args: Any, **kwargs: Any) -> Any:
        # Flask types `_app` as its sans-IO App, whose Response takes a status first; the app is a Flask.
        app = cast(Flask, self._app)
        return app.response_class(_encode(self._prepare_response_obj(args, kwargs)), mimetype=self.mimetype)
