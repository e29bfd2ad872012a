"""The log on stderr: plain text lines, or one JSON object per line for journald and log
shippers (``[log] format = "json"``).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the fields a
log call passes with ``extra=`` (:data:`FIELDS`: ``uid``, ``ticket``, ``decision``) and, for an
error with a traceback, ``exception``. inboxd's log calls name messages by UID and ticket and
never pass a password or a message's text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from inboxd.config import LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("uid", "ticket", "decision")  # what a log call may add with extra={...}
NOISY = ("apscheduler", "imapclient", "aiosmtplib", "mail.log")
_HANDLER: list[logging.Handler | None] = [None]  # the handler this module installed


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(verbose: int = 0, quiet: bool = False,
                  settings: LogSettings | None = None) -> None:
    """Send the log to stderr in the configured format. The level is -q or -v when given, else
    ``log.level``, else info; the libraries' chatter needs -vv."""
    settings = settings or LogSettings()
    if quiet:
        level = logging.WARNING
    elif verbose:
        level = logging.DEBUG
    else:
        level = getattr(logging, (settings.level or "info").upper())
    if verbose < 2:
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    root = logging.getLogger()
    if any(h is not _HANDLER[0] for h in root.handlers):
        return  # someone else set up the log (a test runner, an embedding program)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    if _HANDLER[0] is not None:
        root.removeHandler(_HANDLER[0])
    _HANDLER[0] = handler
    root.addHandler(handler)
    root.setLevel(level)
