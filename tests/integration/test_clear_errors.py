"""Foreseeable bad input ends in a clear error and its exit code, never a crash (issue 24): a variable
unset, a key file that holds no key, a CRM that cannot be reached, a proxy's page in place of JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.cli import EXIT_CONFIG
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRM_OPS, *args], capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(200, 24) as sb:
        yield sb


@pytest.mark.parametrize("command", ["pull", "run"])
def test_an_unset_token_variable_is_a_config_error_before_anything_is_pulled(
    box: Sandbox, tmp_path: Path, command: str
) -> None:
    profile_for(box, tmp_path)
    env = {k: v for k, v in {**os.environ, **box.env}.items() if k != "CRM_OPS_HUBSPOT_TOKEN"}
    done = _run(command, "-c", str(tmp_path / "crm-ops.toml"), env=env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "set CRM_OPS_HUBSPOT_TOKEN" in done.stderr
    assert not (tmp_path / "state" / "snapshots").exists()  # Salesforce was not pulled first


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
