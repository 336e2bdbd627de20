"""The TLS certificates that HTTPS servers present to the ``http`` session, as blackbox_exporter reports them.

For each HTTPS connection the session makes: the earliest notAfter of the chain the server presented (the
server's own certificate and every intermediate it sent; an expiring intermediate breaks the site as surely),
the TLS version and the issuer of the server's certificate. The chain is read as presented, verified or not:
with ``verify=False`` too. When verification fails the handshake, the journey fails with it, and the chain is
fetched once more over a connection that does not verify, so that its expiry is still known.

Usage::

    found = presented(connection)        # after a handshake: Certificate(host="shop.example:443", ...) or None
"""

from __future__ import annotations

import _ssl
import calendar
import hashlib
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from runner.handoff.observations import Certificate, KnownChain
from runner.handoff.results import safe_text

MAX_CHAINS = 256  # decoded chains kept per process
PROBE_TIMEOUT_SECONDS = 5.0  # the re-fetch of a chain that failed verification, when the request had none
MAX_ISSUER_CHARS = 100
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NAME_FIELDS = ("commonName", "organizationName", "organizationalUnitName")


def host_of(conn: Any) -> str:
    """``host:port`` as the journey asked for it (the origin, not a proxy), an IPv6 address in brackets."""
    host = str(getattr(conn, "_tunnel_host", None) or conn.host)
    port = getattr(conn, "_tunnel_port", None) or conn.port or 443
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def presented(conn: Any) -> Certificate | None:
    """The chain the server presented on ``conn``'s TLS connection, or None where it cannot be read."""
    return _from_socket(host_of(conn), conn.sock)


def failed_verification(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a certificate that failed verification."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def probe(conn: Any) -> Certificate | None:
    """The chain fetched again without verifying it (not through a proxy); None if that fails too."""
    if getattr(conn, "_tunnel_host", None):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else PROBE_TIMEOUT_SECONDS
    name = getattr(conn, "server_hostname", None) or conn.host
    try:
        with (
            socket.create_connection((conn.host.strip("[]"), conn.port), timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            return _from_socket(host_of(conn), tls)
    except (OSError, ValueError):
        return None


def _from_socket(host: str, sock: Any) -> Certificate | None:
    # The chain as presented: public from Python 3.13 on (as DER), on the private SSL object before that.
    chain_of = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    if chain_of is None:
        return None
    try:
        chain = chain_of()
        version = sock.version() or ""
        if not chain:
            return None
        digest = hashlib.sha1(b"".join([cert.public_bytes(_ssl.ENCODING_DER) for cert in chain]), usedforsecurity=False)
        key = digest.digest()
        known = _CHAINS.get(key)
        if known is None:
            found = certificate(host, [decoded(cert, issuer=n == 0) for n, cert in enumerate(chain)], version, key)
            if found is not None:
                learn([found.known])
            return found
    except (OSError, ValueError):
        return None
    return Certificate(host, known[1], version, known[2], key)


# Chains decoded, by a digest of the chain as presented (each certificate's DER): the same bytes decode the same.
# A new connection's chain costs 17 us to look up and 60 to 70 to decode (bench section 13). Per process,
# handed by the runner from one cycle to the next (``learn``), so a cycle's workers decode only what is new.
_CHAINS: dict[bytes, KnownChain] = {}


def learn(known: Iterable[KnownChain]) -> None:
    """Chains decoded elsewhere (the runner's last cycles), kept like the ones decoded here."""
    for chain in known:
        if len(_CHAINS) >= MAX_CHAINS:
            del _CHAINS[next(iter(_CHAINS))]  # the oldest
        _CHAINS[chain[0]] = chain


def decoded(cert: Any, issuer: bool) -> tuple[float | None, str]:
    """A certificate's notAfter (Unix time) and, if asked for (the server's own), its issuer."""
    info = cert.get_info()
    not_after = not_after_seconds(info["notAfter"]) if info.get("notAfter") else None
    return not_after, issuer_name(info.get("issuer", ())) if issuer else ""


def not_after_seconds(text: str) -> float:
    """``Jan  5 12:00:00 2027 GMT`` (OpenSSL's notAfter) as Unix time; ``ssl.cert_time_to_seconds`` without its
    ``strptime``, which costs 50 us the first time in a process."""
    try:
        month, day, clock, year, zone = text.split()
        hours, minutes, seconds = clock.split(":")
        if zone != "GMT":
            raise ValueError(zone)
        fields = (int(year), MONTHS.index(month) + 1, int(day), int(hours), int(minutes), int(seconds))
    except ValueError:
        return float(ssl.cert_time_to_seconds(text))  # anything else: as the standard library reads it
    return float(calendar.timegm(fields))


def certificate(
    host: str, chain: Sequence[tuple[float | None, str]], version: str, digest: bytes = b""
) -> Certificate | None:
    """A ``Certificate`` from the chain's decoded (notAfter, issuer) pairs, the server's own first; None when no
    certificate of it has a notAfter."""
    expiries = [not_after for not_after, _ in chain if not_after is not None]
    return Certificate(host, min(expiries), version, chain[0][1], digest) if expiries else None


def issuer_name(issuer: Iterable[Iterable[tuple[str, str]]]) -> str:
    """The issuer's common name, else its organization (or unit); "" when it has none of them."""
    fields = {key: value for rdn in issuer for key, value in rdn}
    for key in NAME_FIELDS:
        if fields.get(key):
            return safe_text(str(fields[key]))[:MAX_ISSUER_CHARS]
    return ""
