"""The web configuration file every Prometheus exporter reads (the exporter-toolkit format): TLS, basic auth and
extra response headers, for everything the runner serves but /healthz.

Usage::

    web = load_web_config("web.yml", "--web-config")   # ConfigError naming the file, the key and the fix
    context = tls_context(web)                          # None: plain HTTP
    app = access.guard(app, web)                        # runner/web/access.py: basic auth and the headers

The file is read once, at start-up; unlike the toolkit, changes need a restart. Relative file names are taken
from the configuration file's folder, as the toolkit does, and keys the toolkit does not know are errors, as
there. Keys the toolkit knows that this server cannot honour are errors too, never silently ignored.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from runner.errors import ConfigError
from runner.settings.strict_yaml import StrictLoader, yaml_problem

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# The toolkit's fixed list: only these may be set, and the enumerated ones only to these values.
HEADER_VALUES: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
MAX_FILE_BYTES = 1 << 20
TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")
TLS_OPTIONAL_KEYS = ("prefer_server_cipher_suites",)
HTTP_KEYS = ("http2", "headers")
# Keys of the toolkit's format this server does not honour, and what to do instead.
UNSUPPORTED = {
    "rate_limit": "rate limiting is not supported; remove it",
    "tls_server_config.cert": "give the certificate as a file in cert_file instead",
    "tls_server_config.key": "give the key as a file in key_file instead",
    "tls_server_config.client_ca": "give the CA certificate as a file in client_ca_file instead",
    "tls_server_config.cipher_suites": "Go's suite names do not apply here (OpenSSL's defaults do); remove it",
    "tls_server_config.curve_preferences": "Go's curve names do not apply here (OpenSSL's defaults do); remove it",
    "tls_server_config.client_allowed_sans": "it is not supported; remove it and issue client certificates from a "
    "CA of their own in client_ca_file",
}
BCRYPT_HASH = re.compile(r"\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}")  # group 1: the cost


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """``tls_server_config``, file names already resolved against the configuration file's folder."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True
    source: str = "--web-config"

    def context(self) -> ssl.SSLContext:
        """A server-side SSLContext; ConfigError if a file is missing or the certificate and key do not match."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        context.maximum_version = TLS_VERSIONS[self.max_version]
        if self.prefer_server_cipher_suites:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        for key, path in (("cert_file", self.cert_file), ("key_file", self.key_file)):
            if not path.is_file():
                self._fail(f"tls_server_config.{key} {str(path)!r} is not a readable file")
        try:
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_passphrase)
        except _EncryptedKey:
            self._fail(
                f"tls_server_config.key_file {str(self.key_file)!r} is encrypted and the format has no passphrase; "
                "decrypt it with: openssl pkey -in KEY -out KEY.plain"
            )
        except (OSError, ValueError) as exc:
            self._fail(
                f"tls_server_config: cert_file {str(self.cert_file)!r} and key_file {str(self.key_file)!r} are not "
                f"a PEM certificate and its private key ({_reason(exc)})"
            )
        if self.client_ca_file:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except (OSError, ValueError) as exc:
                self._fail(
                    f"tls_server_config.client_ca_file {str(self.client_ca_file)!r} holds no PEM certificate "
                    f"({_reason(exc)})"
                )
        context.verify_mode = CLIENT_AUTH_TYPES[self.client_auth_type]
        return context

    def _fail(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {message}")


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the file asks for: TLS (None: plain HTTP), headers for every response, and users with bcrypt hashes."""

    tls: TLSSettings | None = None
    headers: tuple[tuple[str, str], ...] = ()
    users: tuple[tuple[str, bytes], ...] = ()


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey  # without this callback OpenSSL would prompt for a passphrase on the terminal


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)


def load_web_config(value: str, source: str = "--web-config") -> WebConfig | None:
    """Read and check the file named ``value`` (None for ""), certificates and keys included; ConfigError naming
    the first problem."""
    if not value:
        return None
    path = Path(value)
    where = f"{source} {value!r}"
    try:
        with path.open("rb") as file:
            text = file.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, or not UTF-8
        raise ConfigError(f"{where}: cannot read the web configuration file: {_reason(exc)}") from None
    if len(text) > MAX_FILE_BYTES:
        _fail(where, f"the web configuration file is larger than {MAX_FILE_BYTES} bytes; is it the right file?")
    try:
        document = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader that rejects duplicate keys)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {yaml_problem(exc)}") from None
    top = _mapping(document, "the top level", TOP_KEYS, where)
    tls = _tls(
        _mapping(top.get("tls_server_config"), "tls_server_config", (*TLS_KEYS, *TLS_OPTIONAL_KEYS), where),
        path.parent,
        where,
    )
    http = _mapping(top.get("http_server_config"), "http_server_config", HTTP_KEYS, where)
    if not isinstance(http.get("http2", True), bool):
        _fail(where, f"http_server_config.http2 must be true or false, got {http['http2']!r}")
    config = WebConfig(
        tls=tls,
        headers=_headers(http.get("headers"), where),
        users=_users(top.get("basic_auth_users"), where),
    )
    if tls:
        tls.context()  # a missing file or a key that does not match the certificate fails now, not at a scrape
    return config


def tls_context(web: WebConfig | None) -> ssl.SSLContext | None:
    """The server's SSLContext, or None for plain HTTP."""
    return web.tls.context() if web is not None and web.tls is not None else None


def _fail(where: str, message: str) -> NoReturn:
    raise ConfigError(f"{where}: {message}")


def _mapping(value: Any, name: str, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(where, f"{name} must be a mapping of keys to values, got {type(value).__name__} {value!r}")
    for key in value:
        dotted = key if name == "the top level" else f"{name}.{key}"
        if dotted in UNSUPPORTED:
            _fail(where, f"{dotted}: {UNSUPPORTED[dotted]}")
        if key not in allowed:
            _fail(where, f"unknown key {key!r} in {name}; expected one of {', '.join(allowed)}")
    return value


def _text(section: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = section.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        _fail(where, f"tls_server_config.{key} must be a string, got {value!r}")
    return value


def _tls(section: dict[str, Any], folder: Path, where: str) -> TLSSettings | None:
    if not any(section.get(key) for key in ("cert_file", "key_file", "client_ca_file")):
        if section.get("client_auth_type"):
            _fail(where, "tls_server_config.client_auth_type needs cert_file and key_file")
        return None
    cert, key = _text(section, "cert_file", where), _text(section, "key_file", where)
    if not cert or not key:
        _fail(
            where,
            f"tls_server_config needs both cert_file and key_file; {'key_file' if cert else 'cert_file'} is missing",
        )
    auth = _text(section, "client_auth_type", where, "NoClientCert")
    versions = [
        _text(section, name, where, default) for name, default in (("min_version", "TLS12"), ("max_version", "TLS13"))
    ]
    _check_client_auth(auth, bool(section.get("client_ca_file")), where)
    for name, version in zip(("min_version", "max_version"), versions, strict=True):
        if version not in TLS_VERSIONS:
            _fail(where, f"tls_server_config.{name} must be one of {', '.join(TLS_VERSIONS)}, got {version!r}")
    if TLS_VERSIONS[versions[0]] > TLS_VERSIONS[versions[1]]:
        _fail(where, f"tls_server_config.min_version {versions[0]} is above max_version {versions[1]}")
    prefer = section.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        _fail(where, f"tls_server_config.prefer_server_cipher_suites must be true or false, got {prefer!r}")
    ca_file = _text(section, "client_ca_file", where)
    return TLSSettings(
        cert_file=folder / cert,  # an absolute name stays as it is
        key_file=folder / key,
        client_auth_type=auth,
        client_ca_file=folder / ca_file if ca_file else None,
        min_version=versions[0],
        max_version=versions[1],
        prefer_server_cipher_suites=prefer,
        source=where,
    )


def _check_client_auth(auth: str, has_ca: bool, where: str) -> None:
    if auth in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
        _fail(
            where,
            f"tls_server_config.client_auth_type {auth} (a certificate asked for but not verified) is not "
            "supported; use RequireAndVerifyClientCert with client_ca_file",
        )
    if auth not in CLIENT_AUTH_TYPES:
        _fail(where, f"tls_server_config.client_auth_type must be one of {', '.join(CLIENT_AUTH_TYPES)}, got {auth!r}")
    if auth != "NoClientCert" and not has_ca:
        _fail(
            where, f"tls_server_config.client_auth_type {auth} needs client_ca_file, the CA of the client certificates"
        )
    if auth == "NoClientCert" and has_ca:
        _fail(
            where,
            "tls_server_config.client_ca_file is set but client_auth_type is NoClientCert; "
            "set client_auth_type: RequireAndVerifyClientCert",
        )


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        _fail(where, f"http_server_config.headers must be a mapping of header names to values, got {value!r}")
    headers = []
    for name, text in value.items():
        if name not in HEADER_VALUES:
            _fail(where, f"http_server_config.headers: {name!r} cannot be set; choose from {', '.join(HEADER_VALUES)}")
        allowed = HEADER_VALUES[name]
        if not isinstance(text, str) or (allowed and text not in allowed) or any(ch in text for ch in "\r\n"):
            expected = " or ".join(allowed) if allowed else "a single-line string"
            _fail(where, f"http_server_config.headers.{name} must be {expected}, got {text!r}")
        if text:  # blank means unset, as in the toolkit
            headers.append((name, text))
    return tuple(headers)


def _users(value: Any, where: str) -> tuple[tuple[str, bytes], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        _fail(where, f"basic_auth_users must be a mapping of user names to bcrypt hashes, got {value!r}")
    users = []
    for name, hashed in value.items():
        user = str(name)
        if ":" in user:
            _fail(where, f"basic_auth_users: user name {user!r} contains ':', which basic auth cannot carry")
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed):
            _fail(
                where,
                f"basic_auth_users.{user} must be a bcrypt hash such as $2y$10$... (make one with: htpasswd -nBC 10 "
                "'' | tr -d ':\\n'), not a plain password",
            )
        users.append((user, hashed.encode("ascii")))
    return tuple(users)
