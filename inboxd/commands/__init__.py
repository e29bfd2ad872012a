"""The subcommands; each module registers its own with ``register(subparsers)``."""

from __future__ import annotations

from inboxd.commands import demo, mailbox, model, tickets

REGISTRY = [mailbox.register_run, mailbox.register_once, model.register_train,
            model.register_classify, model.register_eval, tickets.register, mailbox.register_check,
            demo.register]
