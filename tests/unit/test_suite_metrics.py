"""A component declares its own metrics on its Suite: the harness's schema is not edited for a new component."""

from __future__ import annotations

import pytest

from labkit.bench import registry, schema
from labkit.bench.registry import Suite


def test_a_metric_a_suite_declares_is_found_and_an_undeclared_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = Suite("demo", "demo", "a demo suite", lambda request, prof: [], {},
                  metrics={"widgets_per_s": ("1/s", True)})
    monkeypatch.setattr(registry, "suites", lambda: {"demo": suite})
    assert schema.metric_info("widgets_per_s") == ("1/s", True)
    assert schema.metric_info("throughput_bps") == schema.METRICS["throughput_bps"]
    with pytest.raises(KeyError, match="declared nowhere"):
        schema.metric_info("gadgets_per_s")
