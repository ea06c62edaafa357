"""Where the tabs go: one ``Sink`` interface, one module per destination."""

from etl.sinks.base import LoadInfo, RunRecord, Sink, TabWrite
from etl.sinks.local import LocalSink
from etl.sinks.memory import MemorySink

__all__ = ["LoadInfo", "LocalSink", "MemorySink", "RunRecord", "Sink", "TabWrite"]
