"""Authentication-Results parsing and the trust rule, as tables of literal headers."""

from __future__ import annotations

import pytest

from inboxd.core.auth import (AuthResults, MethodResult, auth_headers, parse_auth_results,
                              verify_sender)

PARSED = [
    ("mx.example.com; dkim=pass header.d=example.com",
     AuthResults("mx.example.com", (MethodResult("dkim", "pass", {"header.d": "example.com"}),))),
    ("MX.Example.COM 1; spf=pass smtp.mailfrom=agent@example.com; dkim=none",
     AuthResults("mx.example.com", (
         MethodResult("spf", "pass", {"smtp.mailfrom": "agent@example.com"}),
         MethodResult("dkim", "none", {})))),
    ("mx.example.com; dkim=pass (2048-bit key; secure) header.d=example.com "
     "header.i=@example.com header.s=sel header.b=\"abc;def\"",
     AuthResults("mx.example.com", (MethodResult("dkim", "pass", {
         "header.d": "example.com", "header.i": "@example.com", "header.s": "sel",
         "header.b": "abc;def"}),))),
    ("mx.example.com (nested (comment); here); dkim = pass reason=\"good sig\" header.d = a.b",
     AuthResults("mx.example.com", (MethodResult("dkim", "pass", {"header.d": "a.b"}),))),
    ("mx.example.com; dkim/1=fail header.d=example.com",
     AuthResults("mx.example.com", (MethodResult("dkim", "fail", {"header.d": "example.com"}),))),
    ("mx.example.com; none", AuthResults("mx.example.com", ())),
    ("mx.example.com", AuthResults("mx.example.com", ())),
    ("dkim=pass header.d=example.com", None),
    ("", None),
    ("; dkim=pass", None),
]


@pytest.mark.parametrize("value, expected", PARSED, ids=[p[0][:40] for p in PARSED])
def test_parse(value: str, expected: AuthResults | None) -> None:
    assert parse_auth_results(value) == expected


MX = "mx.example.com"
TRUST = [
    # headers (topmost first), sender's domain, trusted?
    (["mx.example.com; dkim=pass header.d=example.com"], "example.com", True),
    (["mx.example.com; dkim=pass header.i=@example.com"], "example.com", True),
    (["mx.example.com; dkim=pass header.i=agent@example.com"], "example.com", True),
    (["mx.example.com; spf=pass smtp.mailfrom=agent@example.com"], "example.com", True),
    (["mx.example.com; spf=pass smtp.mailfrom=example.com"], "example.com", True),
    (["mx.example.com; dkim=fail header.d=example.com; spf=pass smtp.mailfrom=a@example.com"],
     "example.com", True),
    (["Mx.Example.Com; DKIM=Pass header.d=Example.COM"], "example.com", True),
    # not trusted
    ([], "example.com", False),
    (["mx.example.com; dkim=fail header.d=example.com"], "example.com", False),
    (["mx.example.com; dkim=pass header.d=other.example"], "example.com", False),
    (["mx.example.com; dkim=pass header.d=mail.example.com"], "example.com", False),
    (["mx.example.com; dkim=pass header.d=example.com.evil.test"], "example.com", False),
    (["mx.example.com; spf=pass smtp.mailfrom=agent@evil.test"], "example.com", False),
    (["mx.example.com; spf=softfail smtp.mailfrom=agent@example.com"], "example.com", False),
    (["mx.example.com; dmarc=pass header.from=example.com"], "example.com", False),
    (["other.mx.test; dkim=pass header.d=example.com"], "example.com", False),
    # only the topmost header of our server counts: a forged pass below a real fail is ignored
    (["mx.example.com; dkim=fail header.d=example.com; spf=fail smtp.mailfrom=a@example.com",
      "mx.example.com; dkim=pass header.d=example.com"], "example.com", False),
    # another server's header above ours changes nothing
    (["relay.other.test; dkim=fail header.d=example.com",
      "mx.example.com; dkim=pass header.d=example.com"], "example.com", True),
    (["not a header at all", "mx.example.com; spf=pass smtp.mailfrom=example.com"],
     "example.com", True),
]


@pytest.mark.parametrize("headers, domain, trusted", TRUST, ids=[str(i) for i in range(len(TRUST))])
def test_verify_sender(headers: list[str], domain: str, trusted: bool) -> None:
    verdict = verify_sender(headers, MX, domain)
    assert verdict.trusted is trusted
    assert verdict.detail


def test_headers_are_read_topmost_first_and_unfolded() -> None:
    raw = (b"Authentication-Results: mx.example.com;\r\n\tdkim=pass header.d=example.com\r\n"
           b"From: agent@example.com\r\n"
           b"Authentication-Results: mx.example.com; dkim=fail\r\n\r\nbody\r\n")
    assert auth_headers(raw) == ["mx.example.com; dkim=pass header.d=example.com",
                                 "mx.example.com; dkim=fail"]
    assert auth_headers(b"") == []
