"""`python -m tests.vm shell`: boot the test VM with its console on this terminal and a root
shell on it, cosid running as in the tests; its gRPC port is forwarded to the host (printed
first) so cosictl and grpcurl can talk to it. Ctrl-A X quits."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tests.vm.kit import kit
from tests.vm.machine import Machine


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.vm", description=__doc__)
    parser.add_argument("command", choices=["shell"])
    parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cosid-vm-"))
    try:
        machine = Machine(kit(), workdir, {"log_level": "debug"})
        print(f"cosid's gRPC (admin socket) on the host: {machine.grpc_target}", file=sys.stderr)
        print(f"  e.g. grpcurl -plaintext {machine.grpc_target} list", file=sys.stderr)
        return machine.shell()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
