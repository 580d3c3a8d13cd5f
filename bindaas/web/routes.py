"""Serves the web app at ``/app``: the page and its two assets, each with a strict Content-Security-Policy (no
inline script or style, nothing from elsewhere but the JSON-RPC node an auditor names, no framing)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from bindaas.errors import NotFound

router = APIRouter(include_in_schema=False)
STATIC = resources.files("bindaas.web").joinpath("static")
MEDIA = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
# connect-src admits any http(s) origin: the auditor's JSON-RPC node is one the auditor chooses.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self' http: https:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


def _asset(name: str) -> Response:
    if name not in MEDIA:
        raise NotFound(f"no asset {name!r}", field="name")
    return Response(STATIC.joinpath(name).read_bytes(), media_type=MEDIA[name], headers=HEADERS)


@router.get("/app")
def page_redirect() -> RedirectResponse:
    return RedirectResponse("/app/")


@router.get("/app/")
def page() -> Response:
    """The single page."""
    return _asset("index.html")


@router.get("/app/static/{name}")
def asset(name: str) -> Response:
    """The bundle and the stylesheet."""
    return _asset(name)
