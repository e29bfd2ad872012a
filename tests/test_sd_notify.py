"""systemd readiness: the lines inboxd sends to the datagram socket named by $NOTIFY_SOCKET."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from inboxd.sd_notify import notify


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_ready_and_status_reach_the_socket(notify_socket: socket.socket) -> None:
    assert notify("READY=1", "STATUS=watching INBOX")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=watching INBOX"


def test_abstract_socket_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"inboxd-test-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("STOPPING=1")
        assert sock.recv(4096) == b"STOPPING=1"


def test_nothing_without_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert notify("READY=1") is False  # logged, never raised
