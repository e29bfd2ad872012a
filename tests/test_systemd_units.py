"""The systemd units of contrib/systemd: `systemd-analyze verify` finds nothing to say about
them, and they carry what running inboxd as a service needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "contrib" / "systemd"
INSTALLED_AT = "/opt/inboxd/bin/inboxd"  # where the README installs inboxd
REQUIRED = ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
            "User=inboxd", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
            "NoNewPrivileges=yes", "StateDirectory=inboxd")

analyze = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed "
                                   "(tests/run.sh installs Debian's systemd package)")


def verify(folder: Path, *names: str) -> tuple[int, str]:
    result = subprocess.run([str(analyze), "verify", "--man=no", *(str(folder / n) for n in names)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, (result.stdout + result.stderr).strip()


def installed_copy(tmp_path: Path, name: str, change: tuple[str, str] = ("", "")) -> None:
    """The unit as installed, with this test's inboxd where the README installs it."""
    text = (UNITS / name).read_text(encoding="utf-8")
    assert INSTALLED_AT in text
    text = text.replace(INSTALLED_AT, str(Path(sys.executable).parent / "inboxd"))
    (tmp_path / name).write_text(text.replace(*change) if change[0] else text, encoding="utf-8")


@needs_systemd
def test_units_verify_without_a_word(tmp_path: Path) -> None:
    for name in ("inboxd.service", "inboxd@.service"):
        installed_copy(tmp_path, name)
    assert verify(tmp_path, "inboxd.service", "inboxd@shop.service") == (0, "")


@needs_systemd
def test_verify_reports_a_misspelt_key(tmp_path: Path) -> None:
    """The check above can fail: systemd only warns about an unknown key."""
    installed_copy(tmp_path, "inboxd.service", ("ProtectSystem=", "ProtectSystm="))
    code, out = verify(tmp_path, "inboxd.service")
    assert "Unknown key 'ProtectSystm'" in out


@pytest.mark.parametrize("name", ["inboxd.service", "inboxd@.service"])
def test_units_run_inboxd_as_a_hardened_notify_service(name: str) -> None:
    lines = (UNITS / name).read_text(encoding="utf-8").splitlines()
    for directive in REQUIRED:
        assert any(line.startswith(directive) for line in lines), f"{name} lacks {directive}"
    config = "/etc/inboxd/%i.toml" if "@" in name else "/etc/inboxd/inboxd.toml"
    assert f"Environment=INBOXD_CONFIG={config}" in lines
