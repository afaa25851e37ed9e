"""The server's logging: one line per record on standard error, JSON (the default) or text.

Several workers share one standard error, so each line goes out in a single ``write`` (a
StreamHandler writes the message and the newline separately, through a buffer that may split a
long line): lines of two workers never interleave. A record's ``fields`` (a dict passed as
``extra={"fields": ...}``, as the access log does) become keys of its JSON object, or
``key=value`` pairs after the text line's message.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]
_LEVELS = {"debug", "info", "warning", "error", "critical"}
_LEVEL_NAMES = {getattr(logging, name.upper()): name for name in _LEVELS}


_second: list[Any] = [-1, ""]  # the last second formatted, and its text: one strftime a second


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds, as the registry's other times are written."""
    seconds = int(created)
    if _second[0] != seconds:
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a record: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` (a traceback on the lines after)."""

    def format(self, record: logging.LogRecord) -> str:
        text = (
            f"{_timestamp(record.created)} {record.levelname.lower()} {record.name}: "
            f"{record.getMessage()}"
        )
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += "".join(f" {key}={_text_value(value)}" for key, value in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _text_value(value: object) -> str:
    if value is None:
        return "-"
    shown = str(value)
    return json.dumps(shown) if (" " in shown or '"' in shown or not shown) else shown


class LineHandler(logging.Handler):
    """Writes each formatted record and its newline to a file descriptor in one call."""

    def __init__(self, fd: int = 2) -> None:
        super().__init__()
        self._fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            while data:  # a regular file or pipe takes it whole; a full pipe may take a part
                data = data[os.write(self._fd, data) :]
        except Exception:
            self.handleError(record)


class _Direct:
    """Where ``configure`` sends lines, for ``write_fields``'s shortcut."""

    def __init__(self, fd: int, log_format: LogFormat) -> None:
        self.fd = fd
        self.json = log_format == "json"


_direct: _Direct | None = None


def write_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """Log ``message`` with ``fields`` as the configured handler would, without building a
    LogRecord once ``configure`` set the output: the access log writes a line per request,
    and the logging module's record (caller lookup included) cost more than the request's
    own work on a manifest GET. Elsewhere (tests, the CLI) an ordinary record."""
    if not logger.isEnabledFor(level):
        return
    direct = _direct
    if direct is None:
        logger.log(level, message, extra={"fields": fields})
        return
    created = time.time()
    name = _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower()
    if direct.json:
        record: dict[str, Any] = {"time": _timestamp(created), "level": name}
        record["logger"] = logger.name
        record["message"] = message
        record.update(fields)
        data = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    else:
        values = "".join(f" {key}={_text_value(value)}" for key, value in fields.items())
        text = f"{_timestamp(created)} {name} {logger.name}: {message}{values}\n"
        data = text.encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(direct.fd, data) :]
    except OSError:
        pass  # as logging.Handler.handleError: a lost log line never fails the request


def configure(level: str, log_format: LogFormat = "json", fd: int = 2) -> None:
    """Send every record at ``level`` or above to ``fd`` (standard error), one line each.

    Alembic announces its dialect on every database open ("Context impl SQLiteImpl."), in
    each worker: that is for debugging a migration, so it shows only at the debug level."""
    name = level.lower() if level.lower() in _LEVELS else "info"
    handler = LineHandler(fd)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name.upper())
    logging.getLogger("alembic").setLevel(logging.DEBUG if name == "debug" else logging.WARNING)
    # A library's dictConfig/fileConfig (disable_existing_loggers, their default) silences
    # every logger that existed then, the access log's among them: ours speak again.
    for logger_name, logger in logging.root.manager.loggerDict.items():
        if logger_name.startswith("tagtrail") and isinstance(logger, logging.Logger):
            logger.disabled = False
    global _direct
    _direct = _Direct(fd, log_format)
