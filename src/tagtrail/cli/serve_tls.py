"""``serve``'s check of its TLS files before anything starts: what is wrong, in one line.

granian reads the files itself (ssl in its main process, rustls in each worker), and a missing,
unreadable or garbled file ended the start in a traceback ("PEM lib (_ssl.c:3905)")."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


def tls_problem(cert: Path, key: Path) -> str | None:
    """Why ``cert`` and ``key`` cannot serve HTTPS, or None if they can."""
    try:
        cert_pem = cert.read_bytes()
        key_pem = key.read_bytes()
    except OSError as exc:
        which = "certificate" if exc.filename == str(cert) else "key"
        return f"cannot read the TLS {which} {exc.filename}: {(exc.strerror or str(exc)).lower()}"
    try:
        x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        return f"the TLS certificate {cert} holds no PEM certificate"
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:  # cryptography's word for "needs a password"
        return f"the TLS key {key} is encrypted; serve needs it unencrypted"
    except (ValueError, UnsupportedAlgorithm):
        return f"the TLS key {key} holds no PEM private key"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"the TLS key {key} is not the key of the certificate {cert}"
        return f"cannot use the TLS certificate {cert} with the key {key}: {exc.reason or exc}"
    return None
