"""The official SDK's sample apps 1 (order worker) and 2 (data pipeline),
as programs written for ``agentwrit`` (importing ``agentwrit_rs as
agentwrit``), run as a user runs them: a subprocess with the
``AGENTWRIT_*`` variables, its output compared with the samples' expected
output (identifiers that differ per run matched by pattern)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from agentwrit_rs.testing import DevBroker

SAMPLES = Path(__file__).parent / "samples"
ID = r"[0-9a-f]{16}"


def run(program: str, broker: DevBroker, *args: str) -> list[str]:
    creds = broker.universal_credentials()
    env = {
        **os.environ,
        "AGENTWRIT_BROKER_URL": broker.url,
        "AGENTWRIT_CLIENT_ID": creds.client_id,
        "AGENTWRIT_CLIENT_SECRET": creds.client_secret,
    }
    done = subprocess.run(
        [sys.executable, str(SAMPLES / program), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def match(lines: list[str], expected: list[str]) -> None:
    assert len(lines) == len(expected), "\n".join(lines)
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), f"{line!r} !~ {pattern!r}"


def test_order_worker() -> None:
    with DevBroker(issuer="agentwrit") as broker:
        lines = run("order_worker.py", broker, "--customer", "cust-7291", "--order", "ord-4823")
    sub = rf"spiffe://agentwrit\.local/agent/order-worker/process-ord-4823/{ID}"
    scope = re.escape("['read:data:customer-cust-7291', 'write:data:order-ord-4823']")
    match(
        lines,
        [
            "Processing order ord-4823 for customer cust-7291",
            "=" * 55,
            "",
            f"Agent created: {sub}",
            f"  Scope:   {scope}",
            "  Expires: 300s",
            r"  Token:   eyJ[A-Za-z0-9_-]{27}\.\.\.",
            "",
            "Token is valid. Claims:",
            "  Issuer:  agentwrit",
            f"  Subject: {sub}",
            f"  Scope:   {scope}",
            "  Task:    process-ord-4823",
            "  Orch:    order-worker",
            r"  JTI:     [0-9a-f]+",
            "",
            re.escape("[READ] Customer profile for cust-7291: John Doe, Premium tier"),
            re.escape("[WRITE] Order ord-4823 confirmed for customer cust-7291"),
            re.escape("[BLOCKED] Cannot access customer cust-9999 — scope isolation working"),
            re.escape("[BLOCKED] Cannot write order ord-0000 — scope isolation working"),
            "",
            re.escape("Agent released. Token is now dead at the broker."),
            re.escape('Confirmed: token rejected — "token is invalid or expired"'),
        ],
    )


def tenant(name: str, tid: str, kind: str, extract: str) -> list[str]:
    scope = re.escape(f"['read:analytics:{tid}', 'write:reports:{tid}']")
    return [
        re.escape(f"── {name} ({tid}) ──"),
        f"   Data type: {kind}",
        rf"   Agent:    spiffe://agentwrit\.local/agent/nightly-pipeline/etl-{tid}-[0-9a-z-]+/{ID}",
        f"   Scope:    {scope}",
        "   Expires:  300s",
        re.escape(f"   [EXTRACT] Pulled {kind}: {{{extract}, ") + r".+\}",
        re.escape("   [TRANSFORM] Processed data for report"),
        re.escape(f"   [LOAD]     Report written to reports/{tid}/latest.json"),
        re.escape(f"   [RELEASE]  Agent released for {tid}"),
        "",
    ]


def test_data_pipeline() -> None:
    with DevBroker(issuer="agentwrit") as broker:
        lines = run("data_pipeline.py", broker)
    held = re.escape("['read:analytics:hospital', 'write:reports:hospital']")
    match(
        lines,
        [
            "Nightly Analytics Pipeline",
            "=" * 55,
            "",
            *tenant(
                "Metro Health System",
                "hospital",
                "patient analytics",
                "'patient_visits': '12,847'",
            ),
            *tenant(
                "First National Bank",
                "bank",
                "financial analytics",
                "'transactions': '2.4M'",
            ),
            *tenant(
                "ShopWave Corp",
                "retail",
                "sales analytics",
                "'orders': '184,220'",
            ),
            re.escape("── Cross-Tenant Isolation Test ──"),
            "",
            f"Hospital agent scope: {held}",
            "",
            re.escape("  [BLOCKED] Hospital agent cannot read bank data"),
            re.escape("            Required: ['read:analytics:bank']"),
            f"            Held:     {held}",
            re.escape("  [BLOCKED] Hospital agent cannot write retail reports"),
            re.escape("            Required: ['write:reports:retail']"),
            f"            Held:     {held}",
            re.escape("  [ALLOWED] Hospital agent can read its own data ✓"),
            "",
            "Cross-tenant isolation verified.",
            "",
            "Pipeline complete. All tenants processed with isolated scopes.",
        ],
    )


def test_a_program_written_for_the_official_sdk_runs_unchanged(tmp_path: Path) -> None:
    # xtask/interop/python_lifecycle.py is the repository's own program for
    # `agentwrit` 0.3.0 (run by `cargo xtask interop-python` against the real
    # SDK). Here `agentwrit` is agentwrit_rs under that name, nothing else.
    program = Path(__file__).parents[3] / "xtask" / "interop" / "python_lifecycle.py"
    assert program.is_file()
    alias = tmp_path / "agentwrit"
    alias.mkdir()
    (alias / "__init__.py").write_text(
        "from agentwrit_rs import *  # noqa: F403\nfrom agentwrit_rs import __version__\n"
    )
    (alias / "errors.py").write_text("from agentwrit_rs.errors import *  # noqa: F403\n")
    (alias / "models.py").write_text("from agentwrit_rs.models import *  # noqa: F403\n")
    with DevBroker() as broker:
        creds = broker.universal_credentials()
        env = {
            **os.environ,
            "PYTHONPATH": str(tmp_path),
            "AGENTWRIT_BROKER_URL": broker.url,
            "AGENTWRIT_CLIENT_ID": creds.client_id,
            "AGENTWRIT_CLIENT_SECRET": creds.client_secret,
        }
        done = subprocess.run(
            [sys.executable, str(program)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert done.stdout.count("  ok  ") >= 10
