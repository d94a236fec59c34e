"""A test VM: QEMU booting the kit's Debian kernel with systemd as PID 1 and cosid installed as
the real units from systemd/, driven by the host through two forwarded TCP ports.

- gRPC: a host port forwarded to the guest's cosid-grpc.socket, relayed by
  systemd-socket-proxyd to cosid's admin unix socket (cosid itself serves unix sockets only).
- The agent: a host port forwarded to cosid-agent.socket; each connection runs one command
  in the guest (tests/vm/agent.py), so tests check the guest's kernel without cosid.
- The console (kernel and systemd messages) goes to `console.log` in the work directory:
  every failure to boot quotes its end.

TCG is the default accelerator: KVM is listed on the development machine but hung when
tried, so it is used only when COSID_VM_ACCEL=kvm asks for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.debian import REPOSITORY
from tests.vm import initramfs
from tests.vm.kit import Kit

GUEST_FILES = Path(__file__).parent / "guest"
UNITS = REPOSITORY / "systemd"
GRPC_PORT = 50051
AGENT_PORT = 50052
CONFIG_PATH = "/etc/cosid/config.yaml"
BOOT_TIMEOUT = float(os.environ.get("COSID_VM_BOOT_TIMEOUT", "300"))
MEMORY_MB = 1536
KERNEL_COMMAND_LINE = (
    "console=ttyS0 panic=-1 loglevel=4 systemd.show_status=error systemd.unit=cosid-vm.target"
)


class VmError(Exception):
    """The VM did not start, or stopped answering; the message ends with its console."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class Machine:
    def __init__(self, kit: Kit, workdir: Path, config: dict[str, Any]) -> None:
        self.kit = kit
        self.workdir = workdir
        self.config = config
        """Settings over the shipped example config (systemd/etc/cosid/config.yaml)."""
        self.state = workdir / "state"
        self.console = workdir / "console.log"
        self.grpc_port = _free_port()
        self.agent_port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        """Boot, and return once the agent answers and cosid is active (READY=1 was sent)."""
        command = self._command(("-serial", f"file:{self.console}"), KERNEL_COMMAND_LINE)
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=(self.workdir / "qemu.log").open("wb")
        )
        self.wait_active("cosid.service")

    def shell(self) -> int:
        """Boot with the console on this terminal and a root shell on it (Ctrl-A X quits
        QEMU); returns QEMU's exit code."""
        line = f"{KERNEL_COMMAND_LINE} systemd.wants=serial-getty@ttyS0.service"
        return subprocess.run(self._command(("-serial", "mon:stdio"), line)).returncode

    def _command(self, console: tuple[str, str], kernel_command_line: str) -> list[str]:
        """QEMU's command line, the layers and the initramfs made for it."""
        config_layer = self.workdir / "config-layer"
        _build_config_layer(config_layer, self.config)
        self.state.mkdir(exist_ok=True)
        initramfs.build(
            self.kit.busybox,
            self.kit.packages / "usr" / "lib" / "modules" / self.kit.release,
            self.workdir / "initramfs.img",
        )
        shares = {
            initramfs.SHARES["host"]: (Path("/"), True),
            initramfs.SHARES["kernel"]: (self.kit.packages, True),
            initramfs.SHARES["config"]: (config_layer, True),
            initramfs.STATE_SHARE: (self.state, False),
            initramfs.CHECKOUT_SHARE: (REPOSITORY, True),
        }
        command = [
            "qemu-system-x86_64",
            *("-machine", "q35", "-accel", os.environ.get("COSID_VM_ACCEL", "tcg")),
            *("-cpu", "max", "-smp", "2", "-m", str(MEMORY_MB)),
            *("-nographic", "-nodefaults", "-no-user-config"),
            *("-kernel", str(self.kit.kernel), "-initrd", str(self.workdir / "initramfs.img")),
            *("-append", kernel_command_line),
            *console,
            *("-netdev", self._netdev(), "-device", "virtio-net-pci,netdev=net0"),
        ]
        for tag, (path, readonly) in shares.items():
            options = f"local,id={tag},path={path},security_model=none,multidevs=remap"
            command += ["-fsdev", options + (",readonly=on" if readonly else "")]
            command += ["-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]
        return command

    def _netdev(self) -> str:
        forwards = [
            f"hostfwd=tcp:127.0.0.1:{host}-:{guest}"
            for host, guest in ((self.grpc_port, GRPC_PORT), (self.agent_port, AGENT_PORT))
        ]
        return ",".join(("user,id=net0,restrict=on", *forwards))

    def run(self, *argv: str, input: str | None = None, timeout: float = 60) -> Result:
        """Run a command in the guest through the agent."""
        request = json.dumps({"argv": argv, "input": input, "timeout": timeout})
        with socket.create_connection(("127.0.0.1", self.agent_port), timeout=timeout + 10) as s:
            s.sendall(request.encode() + b"\n")
            answer = s.makefile("rb").readline()
        if not answer:
            raise ConnectionError("the agent did not answer")
        return Result(**json.loads(answer))

    def check(self, *argv: str, input: str | None = None, timeout: float = 60) -> str:
        """Run a command in the guest; its stdout, or VmError with its words."""
        result = self.run(*argv, input=input, timeout=timeout)
        if result.returncode != 0:
            raise VmError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
        return result.stdout

    def wait_active(self, unit: str, timeout: float = BOOT_TIMEOUT) -> None:
        """Wait for the agent to answer and `unit` to be active (for a Type=notify service:
        READY=1 sent); VmError with the console's end if it is not in time."""
        deadline = time.monotonic() + timeout
        state = "no answer from the agent"
        while time.monotonic() < deadline:
            self._check_running()
            try:
                state = self.run("systemctl", "is-active", unit, timeout=10).stdout.strip()
            except OSError:
                time.sleep(1)
                continue
            if state == "active":
                return
            if state == "failed":
                break
            time.sleep(0.5)
        raise VmError(f"{unit} is not active after {timeout:.0f} s ({state})\n{self.tail()}")

    def reconfigure(self, settings: dict[str, Any]) -> None:
        """Restart cosid with `settings` over the config it booted with (e.g. another driver:
        `{"domains": {"dns": {"driver": "resolved"}}}`); `{}` goes back to that config."""
        config = _merged(_merged(_example_config(), self.config), settings)
        self.check("tee", CONFIG_PATH, input=yaml.safe_dump(config))
        self.check("systemctl", "restart", "cosid.service", timeout=BOOT_TIMEOUT)
        self.wait_active("cosid.service")

    def boot_id(self) -> str:
        return self.check("cat", "/proc/sys/kernel/random/boot_id").strip()

    def reboot(self) -> None:
        """Reboot the guest (QEMU keeps running) and wait for cosid to be active again."""
        before = self.boot_id()
        with contextlib.suppress(ConnectionError):  # the shutdown may stop the agent first
            self.run("systemctl", "reboot", "--no-block")
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                if self.boot_id() != before:
                    break
            except (OSError, VmError):
                continue
        else:
            raise VmError(f"the guest did not come back from its reboot\n{self.tail()}")
        self.wait_active("cosid.service")

    def stop(self) -> None:
        """Power off (cleanly if the guest answers, else the process is killed)."""
        if self._process is None:
            return
        try:
            self.run("systemctl", "poweroff", "--no-block", timeout=5)
            self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        self._process = None

    def _check_running(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            qemu = (self.workdir / "qemu.log").read_text(errors="replace")
            raise VmError(f"QEMU exited with {self._process.returncode}: {qemu}\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The end of the console, for error messages."""
        if not self.console.exists():
            return "(no console output)"
        text = self.console.read_text(errors="replace").splitlines()[-lines:]
        return "--- console ---\n" + "\n".join(text)


def _build_config_layer(target: Path, config: dict[str, Any]) -> None:
    """The guest's own files over the host's root: tests/vm/guest, and cosid's units and
    example config from systemd/ installed as a package would install them, with `config`'s
    settings over the example's."""
    shutil.copytree(GUEST_FILES, target)
    etc = target / "etc"
    for unit in sorted([*UNITS.glob("*.service"), *UNITS.glob("*.socket")]):
        shutil.copy2(unit, etc / "systemd" / "system" / unit.name)
    for suffix, directory in (("tmpfiles", "tmpfiles.d"), ("sysusers", "sysusers.d")):
        for file in UNITS.glob(f"*.{suffix}"):
            (etc / directory).mkdir(exist_ok=True)
            shutil.copy2(file, etc / directory / f"{file.stem}.conf")
    config_file = target / CONFIG_PATH.lstrip("/")
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(_merged(_example_config(), config)))


def _merged(base: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` over `base`, mappings merged key by key (`{"domains": {"dns": ...}}` keeps
    the example's other domains)."""
    merged = dict(base)
    for key, value in settings.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            value = _merged(below, value)
        merged[key] = value
    return merged


def _example_config() -> dict[str, Any]:
    """The example config shipped with the units."""
    example: dict[str, Any] = yaml.safe_load((UNITS / CONFIG_PATH.lstrip("/")).read_text())
    return example


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
