"""Dependencies of the code index routes: the parse pool that the lifespan started."""

from typing import Annotated

from fastapi import Depends, Request

from api.code.index.parsing import ParsePool


async def get_parser(request: Request) -> ParsePool:
    parser: ParsePool = request.state.parser
    return parser


ParserDep = Annotated[ParsePool, Depends(get_parser)]
