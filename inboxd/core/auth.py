"""Authentication-Results headers (RFC 8601) -> was the sender's domain verified?

Only the receiving server's own verdict counts: ``verify_sender`` reads the topmost
Authentication-Results header whose authserv-id is the configured one. Headers are added on top
as a message travels, so that one was written by the receiving server; any header below it
(even one naming the same server) came with the message and may be forged.

The sender's domain is verified by ``dkim=pass`` with ``header.d`` (or ``header.i``) in that
domain, or by ``spf=pass`` with ``smtp.mailfrom`` in that domain; the domains must be equal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesHeaderParser

MAX_HEADER_CHARS = 8_192


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` entry with its properties (``header.d`` -> ``example.com``)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class Verdict:
    trusted: bool
    detail: str  # what vouched for the sender, or why nothing did


def parse_auth_results(value: str) -> AuthResults | None:
    """One header value; None when it names no authserv-id. Never raises."""
    parts = _split(_strip_comments(value[:MAX_HEADER_CHARS]), ";")
    head = parts[0].split() if parts else []
    if not head or "=" in head[0]:
        return None
    results = tuple(r for r in (_method_result(p) for p in parts[1:]) if r is not None)
    return AuthResults(head[0].lower(), results)


def verify_sender(headers: Sequence[str], authserv_id: str, domain: str) -> Verdict:
    """Whether the first header by ``authserv_id`` vouches for ``domain`` (topmost first)."""
    wanted = authserv_id.lower()
    ours = next((r for r in map(parse_auth_results, headers)
                 if r is not None and r.authserv_id == wanted), None)
    if ours is None:
        return Verdict(False, f"no Authentication-Results header from {authserv_id}")
    domain = domain.lower()
    for result in ours.results:
        proof = _proof(result, domain)
        if proof:
            return Verdict(True, f"{proof} by {authserv_id}")
    found = ", ".join(f"{r.method}={r.result}" for r in ours.results) or "no results"
    return Verdict(False, f"{authserv_id} did not verify {domain} ({found})")


def _proof(result: MethodResult, domain: str) -> str | None:
    if result.result != "pass":
        return None
    keys = {"dkim": ("header.d", "header.i"), "spf": ("smtp.mailfrom",)}.get(result.method, ())
    for key in keys:
        value = result.properties.get(key, "")
        if value and value.rpartition("@")[2].lower() == domain:
            return f"{result.method}=pass {key}={value}"
    return None


_PAIR = re.compile(r'([^\s=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def _method_result(part: str) -> MethodResult | None:
    pairs = [(k.lower(), v[1:-1] if v.startswith('"') else v) for k, v in _PAIR.findall(part)]
    if not pairs:
        return None
    (method, result), rest = pairs[0], pairs[1:]
    properties = {k: v for k, v in rest if "." in k and k != "reason"}
    return MethodResult(method.split("/")[0], result.lower(), properties)


def _strip_comments(value: str) -> str:
    """The value without (comments), which may nest; quoted strings are kept as they are."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if not depth:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if not depth:
                out.append(ch)
        elif quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            quoted = ch == '"'
            out.append(ch)
    return " ".join("".join(out).split())


def _split(value: str, separator: str) -> list[str]:
    """``value`` split at ``separator`` outside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if ch == separator and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
    parts.append("".join(current).strip())
    return [p for p in parts if p] if any(parts) else []


def auth_headers(raw: bytes) -> list[str]:
    """Every Authentication-Results header of a raw message, topmost first, unfolded."""
    try:
        headers = BytesHeaderParser(policy=email_policy.compat32).parsebytes(raw)
        values = headers.get_all("Authentication-Results") or []
        return [" ".join(str(v).split()) for v in values]
    except Exception:
        return []
