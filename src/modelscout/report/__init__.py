"""Renderers of a decision. results.json is the contract; every other format is rendered
from that same dictionary, so a report can be regenerated from results.json alone."""

from modelscout.report.json import SCHEMA_VERSION, build_results, read_results
from modelscout.report.write import write_reports

__all__ = ["SCHEMA_VERSION", "build_results", "read_results", "write_reports"]
