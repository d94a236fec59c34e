"""Structured logs: one JSON object per line on stderr, for journald and log shippers alike.

Every line names its logger (`cosid.rpc`, `cosid.runtime`...); the audit lines
(`cosid.audit`: mutations and denied calls) can go to a file of their own.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

import structlog
from structlog.typing import EventDict

from cosid.server.rpc import AUDIT_LOGGER


class _NamedPrintLogger(structlog.PrintLogger):
    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(logger: _NamedPrintLogger, method: str, event: EventDict) -> EventDict:
    event["logger"] = logger.name
    return event


def open_audit_log(path: Path) -> TextIO:
    """Appended to, line-buffered, readable by root only (it names who changed what)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return open(fd, "a", buffering=1, encoding="utf-8")


def configure_logging(level: str, audit: TextIO = sys.stderr) -> None:
    def logger_named(name: str = "cosid") -> _NamedPrintLogger:
        return _NamedPrintLogger(audit if name == AUDIT_LOGGER else sys.stderr, name)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=logger_named,
        cache_logger_on_first_use=True,
    )
