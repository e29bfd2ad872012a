"""What the commands share: exit codes, loading the configuration, printing JSON.

Exit codes: 0 success, 1 a server or runtime problem, 2 a configuration, FAQ or model problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from inboxd.config import Config, load_config
from inboxd.core.clocks import LONGEST_DURATION
from inboxd.errors import InboxdError
from inboxd.logs import setup_logging
from inboxd.store import Store

EXIT_RUNTIME = 1
EXIT_CONFIG = 2
N = TypeVar("N", int, float)


def default_config_path() -> Path:
    return Path(os.environ.get("INBOXD_CONFIG", "inboxd.toml"))


def config_from(args: argparse.Namespace) -> Config:
    """The configuration; its ``[log]`` table takes effect at once."""
    config = load_config(args.config or default_config_path())
    setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False), config.log)
    return config


def existing_store(config: Config) -> Store:
    """The store, which a command that only reads it must not create: a mistyped store.path
    would otherwise show an empty store."""
    if not config.store_path.is_file():
        raise InboxdError(f"{config.store_path}: no store yet; run inboxd first (or check "
                          f"store.path)")
    return Store(config.store_path)


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


MOST_DAYS = LONGEST_DURATION.days  # the longest look back a command takes
LARGEST_ID = 2 ** 63 - 1  # SQLite's largest integer


def number_in(convert: Callable[[str], N], kind: str, low: N,
              high: N | None = None) -> Callable[[str], N]:
    """An argparse ``type``: the text as ``convert`` reads it, from ``low`` (to ``high``) on;
    ``kind`` names what was expected ("a number") when the text is not one."""

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"must be {low:g} or more, got {value:g}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, "
                                             f"got {value:g}")
        return value

    return parse
