"""Every test runs under pytest-timeout: a hang fails with a traceback instead of stalling the whole run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_the_suite_has_a_per_test_timeout(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    limit = float(pytestconfig.getini("timeout"))
    assert 300 <= limit <= 1800, f"per-test timeout {limit} s: too short for real-engine tests or no guard"
    assert pytestconfig.getini("timeout_func_only") is False  # fixtures that hang are caught too


def test_a_hanging_test_fails_with_a_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_hangs():
            time.sleep(60)
        """
    )
    result = pytester.runpytest_subprocess("-p", "timeout", "--timeout=1", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([">*time.sleep(60)", "*Failed: Timeout*"])
