"""Components the chapters install (network now; storage, monitoring, … later), as plans of steps."""

from __future__ import annotations

from typing import Any


def to_yaml(objs: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML, multi-line strings as readable ``|`` blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return "---\n".join(yaml.dump(o, Dumper=Dumper, sort_keys=False) for o in objs)
