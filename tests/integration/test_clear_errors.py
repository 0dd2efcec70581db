"""Foreseeable bad input ends in a clear error and its exit code, never a crash (issue 24): a variable
unset, a key file that holds no key, a CRM that cannot be reached, a proxy's page in place of JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_ops.cli import EXIT_API, EXIT_CONFIG, EXIT_OPERATIONAL
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``crm-ops`` in this process (tests.command): these tests are of its arguments, output and codes."""
    return crm_ops(*args, env=env)


def _child(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``crm-ops`` in a process of its own, for an import hook (sitecustomize) that must not touch ours."""
    return subprocess.run([CRM_OPS, *args], capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(200, 24) as sb:
        yield sb


@pytest.mark.parametrize(
    ("command", "variable"), [("pull", "CRM_OPS_HUBSPOT_TOKEN"), ("run", "CRM_OPS_SF_JWT_KEY_FILE")]
)
def test_an_unset_secret_variable_is_a_config_error_before_anything_is_pulled(
    box: Sandbox, tmp_path: Path, command: str, variable: str
) -> None:
    from tests.pulling import jwt_profile

    jwt_profile(box, tmp_path)  # Salesforce signs in by JWT: its key file comes from a variable
    env = {k: v for k, v in {**os.environ, **box.env}.items() if k != variable}
    done = _run(command, "-c", str(tmp_path / "crm-ops.toml"), env=env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert f"set {variable}" in done.stderr
    assert not (tmp_path / "state" / "snapshots").exists()  # the other CRM was not pulled first


def _bad_keys(folder: Path) -> dict[str, tuple[Path, str]]:
    """Key files that hold no usable key, and the words the error must say about each."""
    import trustme
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = trustme.CA()
    cert = folder / "server.crt"
    cert.write_bytes(ca.cert_pem.bytes())  # the connected app's certificate given for its key
    empty = folder / "empty.pem"
    empty.write_bytes(b"")
    curve = folder / "ec.pem"
    curve.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return {
        "certificate": (cert, "holds a certificate, not a private key"),
        "empty": (empty, "is empty"),
        "folder": (folder, "cannot be read: Is a directory"),
        "missing": (folder / "nowhere.pem", "cannot be read: No such file or directory"),
        "not rsa": (curve, "holds a private key that is not RSA"),
    }


@pytest.mark.parametrize("kind", ["certificate", "empty", "folder", "missing", "not rsa"])
def test_a_jwt_key_file_without_a_private_key_is_a_config_error_in_pull_and_a_fail_in_doctor(
    box: Sandbox, tmp_path: Path, kind: str
) -> None:
    from tests.pulling import jwt_profile

    jwt_profile(box, tmp_path)
    path, words = _bad_keys(tmp_path)[kind]
    env = {**os.environ, **box.env, "CRM_OPS_SF_JWT_KEY_FILE": str(path)}
    config = str(tmp_path / "crm-ops.toml")
    pulled = _run("pull", "-c", config, "-s", "salesforce", env=env)
    assert pulled.returncode == EXIT_CONFIG, pulled.stderr
    assert f"the JWT key file {path} (CRM_OPS_SF_JWT_KEY_FILE) {words}" in pulled.stderr
    assert "RSA private key in PEM" in pulled.stderr and "Traceback" not in pulled.stderr
    doctor = _run("doctor", "-c", config, env=env)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    failed = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert any(str(path) in line and words in " ".join(doctor.stdout.split()) for line in failed), (
        doctor.stdout
    )


def test_a_jwt_key_file_that_cannot_be_read_names_itself(box: Sandbox, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode: an unreadable file needs another user")
    from tests.pulling import jwt_profile

    jwt_profile(box, tmp_path)
    key = tmp_path / "key.pem"
    key.write_text(Path(box.env["CRM_OPS_SF_JWT_KEY_FILE"]).read_text())
    key.chmod(0)
    env = {**os.environ, **box.env, "CRM_OPS_SF_JWT_KEY_FILE": str(key)}
    pulled = _run("pull", "-c", str(tmp_path / "crm-ops.toml"), "-s", "salesforce", env=env)
    assert pulled.returncode == EXIT_CONFIG, pulled.stderr
    assert (
        f"the JWT key file {key} (CRM_OPS_SF_JWT_KEY_FILE) cannot be read: Permission denied" in pulled.stderr
    )


SF_CALLS = {  # a call of each path, and the request the proxy's page answers in its place
    "describe": r"GET /services/data/v[\d.]+/sobjects/Contact/describe",
    "pull page": r"GET /services/data/v[\d.]+/query",
    "write": r"PATCH /services/data/v[\d.]+/composite/sobjects",
    "org": r"GET /services/data/v[\d.]+/limits",
}
HS_CALLS = {
    "describe": r"GET /crm/v3/properties/contacts",
    "pull page": r"GET /crm/v3/objects/contacts\?",
    "write": r"POST /crm/v3/objects/contacts/batch/update",
    "org": r"GET /account-info/v3/details",
}


@contextmanager
def _fronted(box: Sandbox, folder: Path, system: str, page_on: str) -> Iterator[tuple[Path, str]]:
    """``profile_for`` with one CRM's URL pointed at a front answering ``page_on`` with a sign-in page;
    yields the config and the front's host."""
    from tests.pagefront import page_front

    sf = system == "salesforce"
    profile_for(box, folder)
    config = folder / "crm-ops.toml"
    url = box.env["CRM_OPS_SF_INSTANCE_URL" if sf else "CRM_OPS_HUBSPOT_BASE_URL"]
    ca = folder / "front-ca.pem"
    with page_front(url, box.env["CRM_OPS_SF_CA_BUNDLE"], page_on, ca if sf else None) as front:
        text = config.read_text().replace(url, front)
        config.write_text(text.replace(box.env["CRM_OPS_SF_CA_BUNDLE"], str(ca)) if sf else text)
        yield config, front.split("://")[1]


def _call(conn: object, system: str, call: str, record_id: str) -> object:
    from crm_ops.connectors.base import Change

    c: Any = conn
    if call == "describe":
        return c.describe("Contact")
    if call == "pull page":
        return list(c.pull("Contact", since=None, until=datetime.now(UTC), cursor=None))
    if call == "write":
        return c.push("Contact", [Change(record_id, {"first_name": "Ada"})])
    return c.limits() if system == "salesforce" else c.account_info()


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
@pytest.mark.parametrize("call", list(SF_CALLS))
def test_a_proxy_page_in_place_of_json_is_a_crm_error_naming_host_status_and_type(
    box: Sandbox, tmp_path: Path, system: str, call: str
) -> None:
    from crm_ops.config import load_profile
    from crm_ops.errors import ApiError
    from crm_ops.pull import connect
    from tests.pagefront import PAGE_SECRET

    page_on = (SF_CALLS if system == "salesforce" else HS_CALLS)[call]
    contacts = (
        box.data.salesforce["Contact"]["Id"] if system == "salesforce" else box.data.hubspot["contacts"]["id"]
    )
    with _fronted(box, tmp_path, system, page_on) as (config, host):
        conn = connect(load_profile(config, "sandbox"), system)
        try:
            with pytest.raises(ApiError) as raised:
                _call(conn, system, call, str(contacts[0]))
        finally:
            conn.close()
    message = str(raised.value)
    assert f"{host} answered 200 with text/html, not the API's JSON" in message
    assert "Acme Web Gateway: sign in" in message and raised.value.code == "NOT_JSON"
    assert PAGE_SECRET not in message and box.env["CRM_OPS_HUBSPOT_TOKEN"] not in message


def test_a_proxy_page_answering_a_write_outside_the_client_library_is_a_crm_error(
    box: Sandbox, tmp_path: Path
) -> None:
    from crm_ops.config import load_profile
    from crm_ops.connectors.base import Change
    from crm_ops.errors import ApiError
    from crm_ops.pull import connect

    contacts = box.data.hubspot["contacts"]
    record = str(contacts.filter(contacts["email"].is_not_null())["id"][0])
    with _fronted(box, tmp_path, "hubspot", r"POST /communication-preferences/") as (config, host):
        conn: Any = connect(load_profile(config, "sandbox"), "hubspot")
        try:
            with pytest.raises(ApiError, match=f"{host} answered 200 with text/html"):
                conn.push("Contact", [Change(record, {"email_opt_out": True})])
        finally:
            conn.close()


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
def test_pull_behind_a_proxy_page_exits_3_naming_the_host(box: Sandbox, tmp_path: Path, system: str) -> None:
    from tests.pagefront import PAGE_SECRET

    with _fronted(box, tmp_path, system, "/") as (config, host):
        done = _run("pull", "-c", str(config), "-s", system, env={**os.environ, **box.env})
    assert done.returncode == EXIT_API, done.stderr
    assert f"{host} answered 200 with text/html" in done.stderr
    assert "Traceback" not in done.stderr and PAGE_SECRET not in done.stderr


DISK_FULL = """
import polars as pl

_sink = pl.LazyFrame.sink_parquet


def _full(self, path, *args, **kwargs):
    if "/snapshots/" in str(path):  # what polars raises when the disk fills under a snapshot
        open(path, "wb").write(b"PAR1 half")
        raise pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
        )
    return _sink(self, path, *args, **kwargs)


pl.LazyFrame.sink_parquet = _full
"""


def test_a_disk_full_under_the_snapshot_exits_8_naming_it_and_the_next_pull_resumes(
    box: Sandbox, tmp_path: Path
) -> None:
    profile_for(box, tmp_path)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(DISK_FULL)
    env = {**os.environ, **box.env}
    config = str(tmp_path / "crm-ops.toml")
    full = _child(
        "pull",
        "-c",
        config,
        "-s",
        "hubspot",
        "-e",
        "Contact",
        env={**env, "PYTHONPATH": f"{hook}:{env.get('PYTHONPATH', '')}"},
    )
    assert full.returncode == EXIT_OPERATIONAL, full.stderr
    snapshots = tmp_path / "state" / "snapshots" / "hubspot" / "Contact"
    assert f"No space left on device writing {snapshots}/" in full.stderr and "resumes" in full.stderr
    assert "Traceback" not in full.stderr
    assert list(snapshots.iterdir()) == []  # the half-written file is gone, its space given back
    again = _run("pull", "-c", config, "-s", "hubspot", "-e", "Contact", env=env)
    assert again.returncode == 0, again.stderr
    assert '"resumed": true' in again.stderr, again.stderr
    assert len(list(snapshots.iterdir())) == 1


@pytest.mark.parametrize(
    ("summary", "findings"),
    [
        ("[1, 2, 3]", b"PAR1 cut short"),  # valid JSON of the wrong shape; a truncated Parquet file
        ('{"run_id": "x"}', None),  # keys missing
        ("{not json", "other columns"),  # a Parquet file of another schema
    ],
)
def test_damaged_files_of_an_earlier_run_are_warned_and_skipped(
    box: Sandbox, tmp_path: Path, summary: str, findings: bytes | str | None
) -> None:
    import polars as pl

    profile_for(box, tmp_path)
    env = {**os.environ, **box.env}
    config = str(tmp_path / "crm-ops.toml")
    first = _run("run", "-c", config, env=env)
    assert first.returncode in (0, 1), first.stderr
    (earlier,) = [p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir()]
    (earlier / "summary.json").write_text(summary)
    if isinstance(findings, bytes):
        (earlier / "findings.parquet").write_bytes(findings)
    elif findings is not None:
        pl.DataFrame({"rule": ["x"], "count": [1]}).write_parquet(earlier / "findings.parquet")
    second = _run("run", "-c", config, env=env)
    assert second.returncode == first.returncode, second.stderr
    assert "Traceback" not in second.stderr
    assert '"event": "run.history_skipped"' in second.stderr
    assert str(earlier / "summary.json") in second.stderr
    if findings is not None:
        assert str(earlier / "findings.parquet") in second.stderr
    index = (tmp_path / "state" / "runs" / "index.html").read_text()
    assert "1 runs, newest first" in index  # the damaged run left out, this one listed


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 nothing listens on during the test: bound and never listening, so a
    connection to it is refused and no other process (a second pytest worker's server) can take it."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.mark.parametrize(("command", "after"), [("pull", None), ("run", 2)])
def test_an_unreachable_crm_gives_up_in_seconds_naming_the_host_and_skips_its_other_entities(
    box: Sandbox, tmp_path: Path, command: str, after: int | None, closed_port: int
) -> None:
    import time

    port = closed_port
    profile_for(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    text = config.read_text()
    text = text.replace(box.env["CRM_OPS_SF_INSTANCE_URL"], f"https://127.0.0.1:{port}")
    text = text.replace(box.env["CRM_OPS_HUBSPOT_BASE_URL"], "https://nonexistent.invalid")
    if after is not None:  # the profile's bound (the default: 20 s a host)
        for system in ("salesforce", "hubspot"):
            text = text.replace(
                f"[profiles.sandbox.{system}]\n",
                f"[profiles.sandbox.{system}]\nunreachable_after = {after}\n",
            )
    config.write_text(text)
    started = time.monotonic()
    done = _run(command, "-c", str(config), env={**os.environ, **box.env})
    took = time.monotonic() - started
    assert done.returncode == EXIT_API, done.stderr
    assert f"cannot reach 127.0.0.1:{port}: the connection was refused" in done.stderr
    assert "cannot reach nonexistent.invalid" in done.stderr and "does not resolve (DNS)" in done.stderr
    assert "Traceback" not in done.stderr
    # each host given up on once, after about unreachable_after, its other entities not tried
    assert done.stderr.count('"event": "pull.system_unreachable"') == 2
    assert '"event": "pull.entity_failed"' not in done.stderr
    assert took < (2 * 20 + 15 if after is None else 15), took


def test_the_sandbox_env_file_and_config_file_give_values_init_and_doctor_accept(tmp_path: Path) -> None:
    import time

    from crm_ops.sandbox.server import read_env_file

    env_file, config = tmp_path / "sandbox.env", tmp_path / "crm-ops.toml"
    serve = [CRM_OPS, "sandbox", "serve", "--records", "150", "--env-file", str(env_file)]
    proc = subprocess.Popen([*serve, "--config-file", str(config)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
        sandbox = read_env_file(env_file)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRM_OPS")}, **sandbox}
        served = _run("doctor", "-c", str(config), env=env)
        assert served.returncode == 0, served.stdout + served.stderr
        # the README's first-org steps with the env file's values: the login URL, as in life, for JWT
        init = _run(
            "init", "-c", str(tmp_path / "org.toml"),
            "--login-url", sandbox["CRM_OPS_SF_LOGIN_URL"],
            "--username", sandbox["CRM_OPS_SF_USERNAME"],
            "--client-id", sandbox["CRM_OPS_SF_CLIENT_ID"],
            "--ca-bundle", sandbox["CRM_OPS_SF_CA_BUNDLE"],
            "--hubspot-url", sandbox["CRM_OPS_HUBSPOT_BASE_URL"],
            env=env,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        doctor = _run("doctor", "-c", str(tmp_path / "org.toml"), "-p", "prod", env=env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "signed in as" in doctor.stdout and "with jwt" in doctor.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_jwt_audience_the_org_does_not_take_is_named_as_such(box: Sandbox, tmp_path: Path) -> None:
    from tests.pulling import jwt_profile

    jwt_profile(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        config.read_text().replace('audience = "login"', 'audience = "https://elsewhere.example"')
    )
    doctor = _run("doctor", "-c", str(config), env={**os.environ, **box.env})
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "audience is invalid; the JWT's aud must be the login host" in " ".join(doctor.stdout.split())
