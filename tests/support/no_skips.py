"""A pytest plugin for scripts/test: a skip is a failure.

scripts/test installs or starts everything the suite needs (PostgreSQL, Chromium), so a test
that still skips is missing something, and a run that reports it as a mere "s" would look like
a pass. Loaded with `-p tests.support.no_skips`; a plain `pytest` keeps its ordinary skips.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest


def _failed_instead(report: pytest.TestReport | pytest.CollectReport) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped, and scripts/test allows no skips: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):  # an xfail is an expectation, not a skip
        _failed_instead(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped:  # a whole module skipped (pytest.skip(allow_module_level=True))
        _failed_instead(report)
    return report
