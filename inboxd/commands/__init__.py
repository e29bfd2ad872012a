"""The subcommands; each module registers its own with ``register(subparsers)``."""

from __future__ import annotations

from inboxd.commands import (demo, forget, gaps, health, login, mailbox, model, report, ticket,
                             tickets)

REGISTRY = [mailbox.register_run, mailbox.register_once, model.register_train,
            model.register_classify, model.register_eval, tickets.register, ticket.register,
            mailbox.register_check, login.register, demo.register, gaps.register, report.register,
            forget.register, health.register]
