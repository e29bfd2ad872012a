"""Shared fixtures: one real Dovecot and one aiosmtpd relay per test session.

Tests that touch mail ask for ``fresh_dovecot`` / ``fresh_smtp``: the same servers, with every
mailbox emptied and the SMTP log cleared first, so tests stay independent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import DOVECOT_BINARY, Dovecot, SmtpServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedding cache for the whole session (and the processes it starts): every model
    trained in the tests embeds the same background messages and FAQ examples only once."""
    from inboxd.model.embedding_cache import PATH_ENV

    path = Path(os.environ.get("INBOXD_TEST_EMBEDDING_CACHE")
                or tmp_path_factory.mktemp("embeddings") / "cache.sqlite")
    saved = os.environ.get(PATH_ENV)
    os.environ[PATH_ENV] = str(path)
    yield path
    if saved is None:
        os.environ.pop(PATH_ENV, None)
    else:
        os.environ[PATH_ENV] = saved


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not os.access(DOVECOT_BINARY, os.X_OK):
        pytest.fail(f"Dovecot is not installed ({DOVECOT_BINARY} is missing); the tests need "
                    f"a real IMAP server: run `bash tests/run.sh`, which installs it",
                    pytrace=False)
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def smtp_server(dovecot: Dovecot) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_dovecot(dovecot: Dovecot) -> Dovecot:
    """The session's Dovecot with all mailboxes emptied."""
    dovecot.reset_all()
    return dovecot


@pytest.fixture
def fresh_smtp(smtp_server: SmtpServer, fresh_dovecot: Dovecot) -> SmtpServer:
    """The session's SMTP relay with no recorded mail and no refusals; mailboxes emptied."""
    smtp_server.reset()
    return smtp_server
