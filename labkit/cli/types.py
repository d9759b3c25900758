"""argparse types shared by the CLI's parsers: a bad value is a clear usage error (exit 2), never a traceback."""

from __future__ import annotations

import argparse


def port(text: str) -> int:
    """An argparse type: a TCP port, 1-65535 (anything else is a clear usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: use 1-65535, e.g. 8899") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port: use 1-65535, e.g. 8899")
    return value
