"""Secrets never reach a log line, an error message or a notebook output.

Code that handles a password, a token or a private key registers it (:func:`register`); every log
line (:func:`labkit.log.log`) and every labkit error message passes through :func:`redact`, which
replaces registered values and any PEM private-key block with ``***``. Environment variables whose
names say they hold a secret (``*PASSWORD*``, ``*TOKEN*``, …) are masked when a command is shown.
"""

from __future__ import annotations

import re

_secrets: set[str] = set()
SECRET_NAMES = ("PASSWORD", "PASSWD", "PASSPHRASE", "TOKEN", "SECRET", "PRIVATE", "API_KEY", "APIKEY", "CREDENTIAL")
MASK = "***"
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?-----END \1-----", re.S)


def register(*values: str | None) -> None:
    """Treat each value as a secret from now on (values shorter than 4 characters are ignored)."""
    for value in values:
        if value and len(value) >= 4:
            _secrets.add(value)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable (or option) name says it holds a secret."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAMES)


def redact(text: str) -> str:
    """``text`` with every registered secret and every PEM private key replaced by ``***``."""
    if not text:
        return text
    out = _PEM.sub(lambda m: f"-----BEGIN {m.group(1)}-----{MASK}-----END {m.group(1)}-----", text)
    for value in sorted(_secrets, key=len, reverse=True):
        out = out.replace(value, MASK)
    return out
