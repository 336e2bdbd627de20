"""The web configuration file (exporter-toolkit format): what it accepts, and one line naming each problem."""

from __future__ import annotations

import json
import ssl
import subprocess
import textwrap
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.settings.command_line import parse_settings
from runner.settings.web_config import load_web_config, tls_context
from tests.processes import require_binary

PASSWORD = b"correct horse"
# Fixed, so that the parametrized ids are the same in every pytest-xdist worker.
HASH = "$2b$04$tEBKs/xNzoTIdl.xMap8YedbvqcE4fJx8BwWaMJdQOo4TxZXA/zMC"  # bcrypt of PASSWORD, cost 4
TLS = "tls_server_config: {cert_file: server.crt, key_file: server.key"  # the cases below close the brace


def self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its unencrypted key: (cert, key)."""
    openssl = require_binary("openssl", "openssl")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"),
            *("-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def write(folder: Path, text: str, name: str = "web.yml") -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def problem(value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_web_config(value, "--web-config")
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_no_file_means_plain_and_open() -> None:
    assert load_web_config("", "--web-config") is None
    assert tls_context(None) is None


def test_an_empty_file_is_plain_http_without_users(tmp_path: Path) -> None:
    web = load_web_config(write(tmp_path, ""))
    assert web is not None and web.tls is None and web.users == () and web.headers == ()


def test_tls_and_users_with_file_names_relative_to_the_configuration_file(
    tmp_path: Path, certs: tuple[Path, Path]
) -> None:
    config = write(
        tmp_path,
        f"""
        tls_server_config:
          cert_file: {certs[0].name}
          key_file: {certs[1].name}
          min_version: TLS13
        http_server_config:
          http2: false
          headers:
            X-Frame-Options: deny
            Strict-Transport-Security: max-age=31536000
            X-XSS-Protection: ""
        basic_auth_users:
          prometheus: {HASH}
          grafana: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
        """,
    )
    web = load_web_config(config)
    assert web is not None and web.tls is not None
    assert web.tls.cert_file == certs[0] and web.tls.key_file == certs[1]
    assert [name for name, _ in web.users] == ["prometheus", "grafana"]
    assert web.headers == (("X-Frame-Options", "deny"), ("Strict-Transport-Security", "max-age=31536000"))
    context = tls_context(web)
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3 and context.verify_mode == ssl.CERT_NONE


def test_client_certificates_are_required_and_verified_against_the_given_ca(
    tmp_path: Path, certs: tuple[Path, Path]
) -> None:
    config = write(
        tmp_path,
        f"""
        tls_server_config:
          cert_file: {certs[0]}
          key_file: {certs[1]}
          client_auth_type: RequireAndVerifyClientCert
          client_ca_file: {certs[0]}
        """,
    )
    context = tls_context(load_web_config(config))
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED


def test_the_file_may_be_json_and_comes_from_the_option_or_the_environment(
    tmp_path: Path, certs: tuple[Path, Path]
) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps({"basic_auth_users": {"prometheus": HASH}}))
    settings = parse_settings(["--journeys", str(tmp_path)], {"SYNTHETIC_WEB_CONFIG": str(path)})
    assert settings.web_config is not None and settings.web_config.users[0][0] == "prometheus"
    with pytest.raises(ConfigError, match=r"^--web-config \(from env SYNTHETIC_WEB_CONFIG\) '/nonexistent.yml'"):
        parse_settings(["--journeys", str(tmp_path)], {"SYNTHETIC_WEB_CONFIG": "/nonexistent.yml"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tls_config: {}\n", "unknown key 'tls_config' in the top level; expected one of tls_server_config"),
        ("basic_auth_users: {a: 1}\nbasic_auth_users: {}\n", "the key 'basic_auth_users' is given twice"),
        ("tls_server_config: {cert_file: c, key_file: k, ciphers: []}\n", "unknown key 'ciphers' in tls_server_config"),
        ("http_server_config: {gzip: true}\n", "unknown key 'gzip' in http_server_config"),
        ("rate_limit: {interval: 1s, burst: 5}\n", "rate_limit: rate limiting is not supported; remove it"),
        ("tls_server_config: {cert: PEM, key: PEM}\n", "tls_server_config.cert: give the certificate as a file"),
        ("tls_server_config: {cipher_suites: [X]}\n", "tls_server_config.cipher_suites: Go's suite names"),
        ("tls_server_config: {cert_file: server.crt}\n", "needs both cert_file and key_file; key_file is missing"),
        ("tls_server_config: {key_file: server.key}\n", "needs both cert_file and key_file; cert_file is missing"),
        ("tls_server_config: {cert_file: nope.crt, key_file: server.key}\n", "cert_file '{dir}/nope.crt' is not a"),
        ("tls_server_config: {cert_file: server.crt, key_file: server.crt}\n", "are not a PEM certificate and its"),
        (TLS + ", min_version: TLS14}\n", "min_version must"),
        (
            TLS + ", min_version: TLS13, max_version: TLS12}\n",
            "min_version TLS13 is above max_version TLS12",
        ),
        (
            TLS + ", client_auth_type: Always}\n",
            "client_auth_type must be one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
        ),
        (
            TLS + ", client_auth_type: RequireAnyClientCert}\n",
            "RequireAnyClientCert (a certificate asked for but not verified) is not supported",
        ),
        (
            TLS + ", client_auth_type: RequireAndVerifyClientCert}\n",
            "RequireAndVerifyClientCert needs client_ca_file",
        ),
        (
            TLS + ", client_ca_file: server.crt}\n",
            "client_ca_file is set but client_auth_type is NoClientCert",
        ),
        (
            TLS + ", client_ca_file: server.key, client_auth_type: RequireAndVerifyClientCert}\n",
            "client_ca_file '{dir}/server.key' holds no PEM certificate",
        ),
        ("http_server_config: {headers: {Server: x}}\n", "'Server' cannot be set; choose from Strict-Transport"),
        ("http_server_config: {headers: {X-Frame-Options: allow}}\n", "X-Frame-Options must be deny or sameorigin"),
        ("http_server_config: {http2: maybe}\n", "http_server_config.http2 must be true or false, got 'maybe'"),
        ("basic_auth_users: {prometheus: hunter2}\n", "basic_auth_users.prometheus must be a bcrypt hash"),
        ("basic_auth_users: [prometheus]\n", "basic_auth_users must be a mapping of user names to bcrypt hashes"),
        (f"basic_auth_users: {{'a:b': '{HASH}'}}\n", "user name 'a:b' contains ':'"),
        ("- just\n- a list\n", "the top level must be a mapping of keys to values, got list"),
        ("tls_server_config: [\n", "is not valid YAML: "),
    ],
)
def test_each_bad_file_is_one_line_naming_the_problem(
    tmp_path: Path, certs: tuple[Path, Path], text: str, expected: str
) -> None:
    config = write(tmp_path, text)
    message = problem(config)
    assert message.startswith(f"--web-config {config!r}: ") or message.startswith(f"--web-config {config!r} is")
    assert expected.replace("{dir}", str(tmp_path)) in message
    assert "hunter2" not in message  # a plain password given by mistake is not echoed


def test_a_missing_file_and_an_encrypted_key_are_one_line_each(tmp_path: Path, certs: tuple[Path, Path]) -> None:
    assert "cannot read the web configuration file: No such file or directory" in problem(str(tmp_path / "no.yml"))
    openssl = require_binary("openssl", "openssl")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        [openssl, "pkey", "-in", str(certs[1]), "-aes256", "-passout", "pass:secret", "-out", str(encrypted)],
        check=True,
        capture_output=True,
    )
    config = write(tmp_path, f"tls_server_config: {{cert_file: {certs[0]}, key_file: {encrypted}}}\n")
    assert "is encrypted and the format has no passphrase; decrypt it with: openssl pkey" in problem(config)
