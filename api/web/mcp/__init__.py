"""The MCP server: the memory and code services as tools and resources for AI agents.

`python -m api.web.mcp` serves it over stdio; `api.main` mounts it at /mcp (Streamable HTTP).
Not named `api/mcp`: one `mcp` (the SDK) is enough to tell apart in imports and tracebacks.
"""
