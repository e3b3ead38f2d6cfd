"""The web UI's code pages: repositories, indexing from the browser, code search."""

from fastapi import APIRouter

router = APIRouter(prefix="/code")
