"""One YAML dumper for every manifest labkit shows, applies or sends to ``kubectl apply -f -``.

Strings that another YAML parser could read as something else are quoted: kubectl reads YAML 1.2,
where ``12e4``, ``0x1f`` or ``0123456789`` (a hex session id) are numbers, and PyYAML's YAML 1.1
would write them bare; ``yes``/``no``/``on``/``off``/``~``/``null`` are quoted too. Multi-line
strings become readable ``|`` blocks.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_NUMBERISH = re.compile(r"[0-9a-fA-FxXoO.+_:-]*[0-9][0-9a-fA-FxXoO.+_:-]*")
_WORDS = frozenset({"", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"})


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    quote = _NUMBERISH.fullmatch(value) or value.lower() in _WORDS
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if quote else None)


_Dumper.add_representer(str, _text)


def to_yaml(objects: list[dict[str, Any]] | dict[str, Any]) -> str:
    """One object, or a multi-document stream of them, as a learner would write it (keys in order)."""
    if isinstance(objects, dict):
        objects = [objects]
    return "---\n".join(yaml.dump(o, Dumper=_Dumper, sort_keys=False) for o in objects)
