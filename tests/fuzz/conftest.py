"""One real daemon for the whole fuzz run, the hypothesis profile, and the after-check of
every fuzz test: the daemon still serves and logged no unexpected error."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.calls import Caller
from tests.support.daemon import Daemon, running_daemon

PROFILE = "fuzz"
DEFAULT_EXAMPLES = 10
"""Per RPC and test: the whole suite stays well under a minute; FUZZ_EXAMPLES goes deeper."""

settings.register_profile(
    PROFILE,
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", DEFAULT_EXAMPLES)),
    deadline=None,
    derandomize=True,  # the same examples every run: a failure in CI reproduces locally
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the suite-wide autouse check; ours are session-wide
    ],
)


@pytest.fixture(scope="session")
def fuzzed_daemon() -> Iterator[Daemon]:
    """The daemon every fuzz test sends to, sandboxed since some fuzzed specs are valid."""
    with running_daemon(sandbox=True, resync_seconds=None) as started:
        yield started


@pytest.fixture(scope="session")
def caller(fuzzed_daemon: Daemon) -> Iterator[Caller]:
    """A channel to the daemon's admin socket, so no call is refused for its role alone."""
    opened = Caller(fuzzed_daemon.endpoint)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _daemon_unharmed(fuzzed_daemon: Daemon, caller: Caller) -> Iterator[None]:
    """After each test the daemon runs, serves, and logged no unexpected error while it ran."""
    logged_before = len(fuzzed_daemon.log_records())
    yield
    assert fuzzed_daemon.process is not None
    assert fuzzed_daemon.process.poll() is None, f"cosid died:\n{fuzzed_daemon.output()[-4000:]}"
    assert caller.serving(), "cosid's health is no longer SERVING"
    logged = fuzzed_daemon.log_records()[logged_before:]
    unexpected = [record for record in logged if record.get("event") == "unexpected error"]
    assert not unexpected, f"cosid logged unexpected errors: {unexpected[:3]}"
