"""The command line. Maps inboxd's errors to messages and exit codes.

Exit codes: 0 success, 1 a server or runtime problem, 2 a configuration, FAQ or model problem.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from inboxd import commands
from inboxd.commands.common import EXIT_CONFIG, EXIT_RUNTIME
from inboxd.errors import ConfigError, InboxdError, ModelError
from inboxd.logs import setup_logging

log = logging.getLogger("inboxd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inboxd", description="Support-inbox triage: answers frequent questions, "
        "acknowledges and queues the rest for people, and keeps every ticket's deadlines.")
    _add_common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands.REGISTRY:
        register(sub)
    for command in set(sub.choices.values()):  # `inboxd check -c x.toml` = `inboxd -c x.toml check`
        _add_common_options(command, after_command=True)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, after_command: bool = False) -> None:
    """The options every command takes, before or after its name (after it without defaults,
    so that an option given before the name is kept)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    parser.add_argument("-c", "--config", type=Path, default=default(None),
                        help="configuration file (default: $INBOXD_CONFIG or ./inboxd.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="only warnings and errors")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"inboxd: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ModelError as exc:
        print(f"inboxd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except InboxdError as exc:
        print(f"inboxd: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (`inboxd tickets | head`)
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
