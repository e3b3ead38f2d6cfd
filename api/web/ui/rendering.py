"""Rendering of the web UI: the templates, their filters and `render` (page or HTMX fragment).

A normal request gets the whole page; an HTMX request (`HX-Request`) gets the block named by its
`HX-Target` when the template has one, else the page's `content` block. Responses say
`Vary: HX-Request` so caches keep the two apart.
"""

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from api.core.database import PRINCIPAL_SCOPE_KEY

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[3] / "templates")


def highlight(text: str, query: str | None) -> Markup:
    """Escape `text` and mark the query's words (two letters or more) in it."""
    escaped = escape(text)
    words = sorted({w for w in re.findall(r"\w{2,}", query or "")}, key=len, reverse=True)
    if not words:
        return escaped
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return Markup(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", str(escaped)))


def compact_json(value: Any) -> str:
    """JSON for reading (autoescaping makes it safe; `tojson` would show `<` as \\u003c)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


# Our language names as highlight.js knows them; anything else is shown as plain text.
HLJS_LANGUAGES = {
    **{name: name for name in ("python", "javascript", "typescript", "go", "rust", "java")},
    **{name: name for name in ("c", "cpp", "csharp", "ruby", "php")},
    "tsx": "typescript",
}


def hljs_language(language: str) -> str:
    """The highlight.js name of one of our languages (`plaintext` when it has none)."""
    return HLJS_LANGUAGES.get(language, "plaintext")


def unix_time(moment: datetime) -> int:
    """Seconds since the epoch, as chart libraries take time."""
    return int(moment.timestamp())


TEMPLATES.env.filters.update(
    highlight=highlight,
    compact_json=compact_json,
    pretty_json=pretty_json,
    unix_time=unix_time,
    hljs_language=hljs_language,
)


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    # The tenant the page shows (the access check's principal; none on the public sign-in page).
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    tenant = None if principal is None else principal.tenant_name
    operator = principal is not None and principal.is_operator
    context = {"request": request, "tenant": tenant, "operator": operator, **context}
    # A history restore (back button after a cache miss) replaces the whole body: it gets the page.
    fragment = request.headers.get("HX-Request") == "true"
    if fragment and request.headers.get("HX-History-Restore-Request") != "true":
        template = TEMPLATES.get_template(name)
        # A request aimed at a named block (hx-target="#results") gets that block only.
        block = request.headers.get("HX-Target") or ""
        block = block if block in template.blocks else "content"
        html = "".join(template.blocks[block](template.new_context(context)))
        response = HTMLResponse(html, status_code=status_code)
    else:
        response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    return response
