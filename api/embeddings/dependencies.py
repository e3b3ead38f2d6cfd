"""Typed FastAPI dependencies for the embedders the start-up context put on the request."""

from typing import Annotated

from fastapi import Depends, Request

from api.embeddings.factory import Embedders
from api.embeddings.protocol import Embedder


async def get_text_embedder(request: Request) -> Embedder:
    embedder: Embedder = request.state.embedders.text
    return embedder


async def get_embedders(request: Request) -> Embedders:
    embedders: Embedders = request.state.embedders
    return embedders


EmbedderDep = Annotated[Embedder, Depends(get_text_embedder)]
EmbeddersDep = Annotated[Embedders, Depends(get_embedders)]
