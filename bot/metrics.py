"""Prometheus metrics, one registry per running app (so tests may build many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _DepthCollector(Collector):
    """Reads queue depths from the database at scrape time, so every process reports truth."""

    def __init__(self, read: Callable[[], dict[str, dict[str, int]]]):
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = self.read()
        outbox = GaugeMetricFamily(
            "advisor_bot_outbox_depth", "Outbox messages by status", labels=["status"]
        )
        for status, n in sorted(depths.get("outbox", {}).items()):
            outbox.add_metric([status], n)
        yield outbox
        inbox = GaugeMetricFamily("advisor_bot_inbox_pending", "Callbacks stored, not yet handled")
        inbox.add_metric([], depths.get("inbox", {}).get("pending", 0))
        yield inbox


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.callbacks = Counter(
            "advisor_bot_callbacks",
            "WeCom callbacks by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.sends = Counter(
            "advisor_bot_wecom_sends",
            "WeCom send attempts by errcode",
            ["errcode"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "advisor_bot_callback_ack_seconds",
            "Time from request to acknowledgement",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

    def watch_depths(self, read: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.registry.register(_DepthCollector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
