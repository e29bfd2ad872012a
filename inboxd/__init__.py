"""inboxd: a support-inbox triage daemon."""

__version__ = "0.1.0"
