"""The end-to-end demo on the built-in phantom (``cxrgraph demo``)."""

from cxrgraph.demo.pipeline import DemoSettings, run_demo
from cxrgraph.demo.report import DemoReport

__all__ = ["DemoReport", "DemoSettings", "run_demo"]
