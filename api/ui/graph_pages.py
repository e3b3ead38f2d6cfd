"""The web UI's code graph: a function's neighbourhood, its code, paths between functions."""

from fastapi import APIRouter

router = APIRouter(prefix="/code")
