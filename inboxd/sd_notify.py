"""Readiness for systemd's ``Type=notify`` (sd_notify(3)), with the standard library alone.

systemd names a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the
abstract namespace); the service sends it lines such as ``READY=1``, ``RELOADING=1`` and
``STOPPING=1``. Without the variable (not started by systemd) :func:`notify` does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*states: str) -> bool:
    """Tell systemd ``states`` (``"READY=1"``, ``"STATUS=..."``); True when it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(states).encode(), address)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ["NOTIFY_SOCKET"], exc)
        return False
    return True
