"""The web page at / (static files served by the app: no CDN) and human API docs at /api/docs."""

from __future__ import annotations

from html import escape
from importlib import resources
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, abort, current_app, redirect, send_file, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from service.openapi import openapi_document
from service.staff_session import current_staff

web = Blueprint("web", __name__, static_folder="static", static_url_path="/static")

# The CJK font of the page (style.css, `@font-face "techmatch CJK"`), for a machine that has none of
# its own: Noto Sans SC 2.004 (OFL 1.1), the SC subset OTF of notofonts/noto-cjk, as the PyPI package
# pinned in pyproject.toml ships it. The URL names the font's version, so that it can be cached for
# good: a new font (a new pin) gets a new name here and in style.css.
CJK_FONT_PACKAGE = "pylopdf_fonts_zh_cn"
CJK_FONT_FILE = "NotoSansSC-Regular.otf"
CJK_FONT_URL = "/static/fonts/noto-sans-sc-v2.004.otf"
ONE_YEAR = 365 * 24 * 3600


def cjk_font_path() -> Path | None:
    """The font file, or None where the package is not installed (the page then falls back to system fonts)."""
    try:
        path = Path(str(resources.files(CJK_FONT_PACKAGE).joinpath(CJK_FONT_FILE)))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


@web.get("/")
def index() -> ResponseReturnValue:
    """The public page; with ``public_pages`` off, only for signed-in staff."""
    if not current_app.extensions["techmatch"].settings.public_pages and current_staff() is None:
        return redirect(url_for("staff.sign_in", next="/staff/"))
    return send_from_directory(web.static_folder or "static", "index.html")


@web.get(CJK_FONT_URL)
def cjk_font() -> ResponseReturnValue:
    path = cjk_font_path()
    if path is None:
        abort(404)
    response = send_file(path, mimetype="font/otf", max_age=ONE_YEAR, conditional=True, etag=True)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return cast(str, schema["$ref"]).rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " or ".join(_schema_name(option) for option in schema["oneOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return str(schema.get("type", "object"))


def _field_rows(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, spec in schema.get("properties", {}).items():
        kinds = spec.get("anyOf", [spec])
        kind = " | ".join(_schema_name(option) for option in kinds)
        rows.append(
            f"<tr><td><code>{escape(name)}</code>{' *' if name in required else ''}</td><td>{escape(kind)}</td>"
            f"<td>{escape(spec.get('description', ''))}</td></tr>"
        )
    return "".join(rows)


@web.get("/api/docs")
def docs() -> ResponseReturnValue:
    document = openapi_document(current_app.extensions["techmatch"].settings)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>techmatch API</title><link rel='stylesheet' href='/static/style.css'></head><body><main>",
        f"<h1>{escape(document['info']['title'])} API {escape(document['info']['version'])}</h1>",
        f"<p>{escape(document['info']['description'])} Machine-readable: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>.</p>",
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation["security"] == [{"ApiKey": []}]
            parts.append(f"<section class='match'><h3><code>{method.upper()} {escape(path)}</code></h3>")
            parts.append(f"<p>{escape(operation['summary'])}{' — needs an API key' if secured else ''}</p>")
            if operation.get("parameters"):
                parts.append(
                    "<p>Parameters: "
                    + ", ".join(f"<code>{escape(p['name'])}</code> ({p['in']})" for p in operation["parameters"])
                    + "</p>"
                )
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                parts.append(f"<p>Body: {escape(_schema_name(body))}</p>")
            success = next(code for code in operation["responses"] if code.startswith("2"))
            content = operation["responses"][success]["content"]
            schema = content.get("application/json", {}).get("schema")
            returns = _schema_name(schema) if schema else " or ".join(content)
            parts.append(
                f"<p>Returns ({success}): {escape(returns)}; errors: "
                + ", ".join(code for code in operation["responses"] if code != success)
                + "</p></section>"
            )
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<section class='match'><h3 id='{escape(name)}'>{escape(name)}</h3>")
        if schema.get("description"):
            parts.append(f"<p>{escape(schema['description'])}</p>")
        parts.append(f"<table>{_field_rows(schema)}</table></section>")
    parts.append("</main></body></html>")
    return "".join(parts), 200, {"Content-Type": "text/html; charset=utf-8"}
