"""The VM stage: one boot of the test VM serves every test in this directory.

The VM cannot be skipped: if it cannot be prepared or booted, every test here fails with the
reason (apt's words, QEMU's, or the end of the guest's console). `COSID_KEEP_TEST_DIRS=1`
keeps the work directory (console.log, qemu.log, the guest's state) for a look afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm.kit import kit
from tests.vm.machine import Machine

_failures: list[str] = []


@pytest.fixture(scope="session")
def vm() -> Iterator[Machine]:
    """The booted VM with cosid active (READY=1 sent), shared by the stage's tests."""
    if _failures:
        pytest.fail(_failures[0], pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="cosid-vm-"))
    machine = None
    try:
        machine = Machine(kit(), workdir, {"log_level": "debug"})
        machine.start()
    except Exception as error:
        _failures.append(f"cannot start the test VM: {error}")
        if machine is not None:
            machine.stop()
        pytest.fail(_failures[0], pytrace=False)
    try:
        yield machine
    finally:
        machine.stop()
        if os.environ.get("COSID_KEEP_TEST_DIRS") is None:
            shutil.rmtree(workdir, ignore_errors=True)
