"""`cosictl apply` and `cosictl diff` against a real daemon in --sandbox: manifests mixing the
sysctl, hostname and MOTD domains, the results checked through the typed services and from
outside (the kernel inside the daemon's namespaces, the files under its private root).

One daemon serves the module. Each test works on its own sysctl keys; hostname and MOTD are
singletons, so a test that checks them sets them itself first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import BaseModel

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.client import TypedClient
from cosid.resources import hostname, motd, sysctl
from cosid.resources.typed import TypedApi
from tests.cli.process import cosictl
from tests.daemon.test_hostname_motd import daemon_hostname, etc
from tests.daemon.test_sysctl import kernel_value
from tests.support.daemon import Daemon, running_daemon

SITE = """\
metadata:
  type: sysctl
spec:
  key: net.ipv4.ip_forward
  value: 1
---
metadata:
  type: hostname
  labels:
    role: web
spec:
  hostname: node-1
---
metadata:
  type: MotdSpecs.motd.cosi.dev
spec:
  text: Welcome to node-1
---
metadata:
  type: sysctl
spec:
  key: net.core.somaxconn
  value: 1024
"""


@pytest.fixture(scope="module")
def node() -> Iterator[Daemon]:
    """A daemon in --sandbox for the module, re-checking state every 0.2 s."""
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


@pytest.fixture
def typed(node: Daemon) -> Iterator[TypedClient]:
    with grpc.insecure_channel(node.endpoint) as channel:
        yield TypedClient(channel)


def run(node: Daemon, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return cosictl(*args, env_endpoint=node.endpoint, stdin=stdin)


def ok(node: Daemon, *args: str, stdin: str = "") -> str:
    """stdout of a run that must succeed quietly."""
    done = run(node, *args, stdin=stdin)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def refused(node: Daemon, *args: str, stdin: str = "") -> str:
    """stderr of a run that must fail with status 1 and print nothing on stdout."""
    done = run(node, *args, stdin=stdin)
    assert (done.returncode, done.stdout) == (1, ""), done
    return done.stderr


def manifest(tmp_path: Path, text: str, name: str = "site.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def sysctl_document(key: str, value: str, version: int | None = None) -> str:
    version_line = "" if version is None else f"\n  version: {version}"
    return f"metadata:\n  type: sysctl{version_line}\nspec:\n  key: {key}\n  value: '{value}'\n"


def motd_document(text: str) -> str:
    return f"metadata:\n  type: motd\nspec:\n  text: {text}\n"


def stored(typed: TypedClient, key: str) -> Any:
    """The stored sysctl (a Sysctl message); None if there is no spec."""
    try:
        return typed.get(sysctl.API, key)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return None


def store(typed: TypedClient, api: TypedApi, spec: BaseModel, **labels: str) -> Any:
    """Apply one spec straight through its typed service (quicker than running cosictl) and
    wait until it is true; the item as stored."""
    item = api.resource(metadata=common_pb2.ObjectMeta(labels=labels), spec=api.spec_message(spec))
    return typed.apply(api, [item], wait=5.0).items[0]  # type: ignore[attr-defined]


@pytest.fixture
def motd_before(typed: TypedClient) -> Any:
    """The MOTD "before", stored: what a refused manifest must leave as it is."""
    return store(typed, motd.API, motd.MotdSpec(text="before"))


def test_apply_with_wait_makes_a_mixed_manifest_true(
    node: Daemon, typed: TypedClient, tmp_path: Path
) -> None:
    site = manifest(tmp_path, SITE)

    output = ok(node, "apply", "-f", site, "--wait")

    assert output == (
        "sysctl/net.ipv4.ip_forward created\n"
        "sysctl/net.core.somaxconn created\n"
        "hostname/hostname created\n"
        "motd/motd created\n"
        "waited: every item is ready\n"
    )
    assert kernel_value(node, "net.ipv4.ip_forward") == "1"
    assert kernel_value(node, "net.core.somaxconn") == "1024"
    assert daemon_hostname(node) == "node-1"
    assert (etc(node) / "motd").read_text() == "Welcome to node-1\n"
    labels = typed.get(hostname.API, "hostname").metadata.labels  # type: ignore[attr-defined]
    assert dict(labels) == {"role": "web"}

    assert ok(node, "apply", "-f", site) == (
        "sysctl/net.ipv4.ip_forward unchanged\n"
        "sysctl/net.core.somaxconn unchanged\n"
        "hostname/hostname unchanged\n"
        "motd/motd unchanged\n"
    )


def test_dry_run_prints_the_diff_and_stores_nothing(
    node: Daemon, typed: TypedClient, tmp_path: Path
) -> None:
    syn_retries = manifest(tmp_path, sysctl_document("net.ipv4.tcp_syn_retries", "4"))

    output = ok(node, "apply", "-f", syn_retries, "--dry-run")

    assert output == (
        "sysctl/net.ipv4.tcp_syn_retries created (dry run)\n"
        "--- sysctl/net.ipv4.tcp_syn_retries (stored)\n"
        "+++ sysctl/net.ipv4.tcp_syn_retries (applied)\n"
        "@@ -0,0 +1,4 @@\n"
        "+spec:\n"
        "+  key: net.ipv4.tcp_syn_retries\n"
        "+  value: '4'\n"
        "+  ignore_errors: false\n"
    )
    assert stored(typed, "net.ipv4.tcp_syn_retries") is None


def test_diff_exits_1_with_the_changes_and_0_when_there_are_none(
    node: Daemon, typed: TypedClient, tmp_path: Path
) -> None:
    fin_timeout = "net.ipv4.tcp_fin_timeout"
    store(typed, sysctl.API, sysctl.SysctlSpec(key=fin_timeout, value="30"))

    same = run(node, "diff", "-f", manifest(tmp_path, sysctl_document(fin_timeout, "30")))
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")

    changed = run(node, "diff", "-f", manifest(tmp_path, sysctl_document(fin_timeout, "31")))
    assert (changed.returncode, changed.stderr) == (1, "")
    assert changed.stdout.startswith(
        f"--- sysctl/{fin_timeout} (stored)\n+++ sysctl/{fin_timeout} (applied)\n"
    )
    assert "\n-  value: '30'\n+  value: '31'\n" in changed.stdout
    assert stored(typed, fin_timeout).spec.value == "30"


def test_diff_exits_2_when_it_cannot_tell(node: Daemon, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    done = run(node, "diff", "-f", missing)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"cosictl: cannot read {missing}: ")


def test_what_get_prints_applies_unchanged(node: Daemon, typed: TypedClient) -> None:
    store(typed, sysctl.API, sysctl.SysctlSpec(key="net.ipv4.tcp_keepalive_probes", value="5"))
    store(typed, hostname.API, hostname.HostnameSpec(hostname="node-2"), role="db")
    store(typed, motd.API, motd.MotdSpec(text="Welcome to node-2"))
    printed = "".join(
        ok(node, "get", *target, "-o", "yaml")
        for target in (["sysctl", "net.ipv4.tcp_keepalive_probes"], ["hostname"], ["motd"])
    )

    assert ok(node, "apply", "-f", "-", stdin=printed) == (
        "sysctl/net.ipv4.tcp_keepalive_probes unchanged\n"
        "hostname/hostname unchanged\n"
        "motd/motd unchanged\n"
    )


def test_one_bad_document_stores_nothing_of_the_file(
    node: Daemon, typed: TypedClient, tmp_path: Path, motd_before: Any
) -> None:
    documents = [
        motd_document("from the bad file"),
        sysctl_document("net.ipv4.ip_default_ttl", "99"),
        sysctl_document("net..x", "1"),
    ]
    bad = manifest(tmp_path, "---\n".join(documents), "bad.yaml")

    assert refused(node, "apply", "-f", bad) == (
        f"cosictl: INVALID_ARGUMENT: {bad} has 1 invalid field:\n"
        f"  {bad}: document 3: spec.key: must not have empty components\n"
    )
    assert typed.get(motd.API, "motd").spec == motd_before.spec  # type: ignore[attr-defined]
    assert stored(typed, "net.ipv4.ip_default_ttl") is None


def test_a_stale_version_is_aborted_and_changes_nothing(
    node: Daemon, typed: TypedClient, tmp_path: Path, motd_before: Any
) -> None:
    key = "net.ipv4.tcp_keepalive_time"
    before = store(typed, sysctl.API, sysctl.SysctlSpec(key=key, value="600"))
    # Version 1 is the create: the controllers adding their finalizers moved it on since.
    stale = manifest(
        tmp_path, "---\n".join([motd_document("stale"), sysctl_document(key, "700", 1)])
    )

    message = refused(node, "apply", "-f", stale)

    after = stored(typed, key)
    assert message == (
        f"cosictl: ABORTED: Sysctl {key}: expected version 1, "
        f"but it is at version {after.metadata.version}\n"
    )
    assert after.spec == before.spec
    assert typed.get(motd.API, "motd").spec == motd_before.spec  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("type_name", "resolved"),
    [
        ("Greetings.example.org", "Greetings.example.org"),
        ("sysctlstatus", "SysctlStatuses.sysctl.cosi.dev"),
    ],
    ids=["opaque", "status"],
)
def test_a_type_without_a_typed_service_is_refused_before_anything_is_sent(
    node: Daemon, typed: TypedClient, motd_before: Any, type_name: str, resolved: str
) -> None:
    text = f"{motd_document('unsent')}---\nmetadata:\n  type: {type_name}\nspec:\n  a: b\n"

    message = refused(node, "apply", "-f", "-", stdin=text)

    assert message.startswith(
        f"cosictl: stdin: document 2: metadata.type: {resolved} has no typed service; "
        "cosictl applies SysctlSpecs.sysctl.cosi.dev (sysctl), "
    )
    assert message.count("\n") == 1
    assert typed.get(motd.API, "motd").spec == motd_before.spec  # type: ignore[attr-defined]


def test_a_wait_that_fails_names_the_item_and_why(
    node: Daemon, typed: TypedClient, tmp_path: Path
) -> None:
    key = "net.ipv4.no_such_parameter"
    unsupported = manifest(tmp_path, sysctl_document(key, "1"))

    message = refused(node, "apply", "-f", unsupported, "--wait", "--timeout", "5")

    why = f"NotSupported: sysctl {key}: not supported by this kernel"
    assert message == (
        f"cosictl: FAILED_PRECONDITION: stored, but 1 of 1 failed to apply; sysctl: {why}\n"
        f"  sysctl/{key}: {why}\n"
    )
    typed.delete(sysctl.API, key, timeout=10)
    assert stored(typed, key) is None
