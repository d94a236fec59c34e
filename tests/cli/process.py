"""Running the real `cosictl` console script as a subprocess, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cosid.client import ENDPOINT_ENV

COSICTL = Path(sys.executable).parent / "cosictl"
RUN_TIMEOUT = 10.0


def environment(endpoint: str | None) -> dict[str, str]:
    """This process's environment with $COSID_ENDPOINT set to `endpoint`, or removed.

    PYTHONUNBUFFERED goes too: cosictl must flush each watch line itself, as it does for a user.
    """
    unwanted = {ENDPOINT_ENV, "PYTHONUNBUFFERED"}
    env = {key: value for key, value in os.environ.items() if key not in unwanted}
    if endpoint is not None:
        env[ENDPOINT_ENV] = endpoint
    return env


def cosictl(
    *args: str, env_endpoint: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """A finished run of `cosictl ARGS`, with `stdin` as its standard input."""
    return subprocess.run(
        [str(COSICTL), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment(env_endpoint),
        timeout=RUN_TIMEOUT,
        check=False,
    )
