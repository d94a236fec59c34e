"""The deny lists: exact targets, and targets at or below a path; a bad entry is a
configuration error."""

from __future__ import annotations

import pytest

from cosid.daemon.config import MountsConfig
from cosid.drivers.mounts import MountDeniedError
from cosid.drivers.mounts.policy import TargetPolicy

DEFAULTS = MountsConfig()


@pytest.fixture
def policy() -> TargetPolicy:
    return TargetPolicy(DEFAULTS.deny, DEFAULTS.deny_below)


@pytest.mark.parametrize(
    ("target", "list_name"),
    [
        ("/", "domains.mounts.deny"),
        ("/proc", "domains.mounts.deny_below"),
        ("/proc/sys", "domains.mounts.deny_below"),
        ("/sys/fs/cgroup", "domains.mounts.deny_below"),
        ("/dev", "domains.mounts.deny_below"),
        ("/run/cosid", "domains.mounts.deny_below"),
        ("/run/cosid/sub", "domains.mounts.deny_below"),
    ],
)
def test_denied_targets(policy: TargetPolicy, target: str, list_name: str) -> None:
    with pytest.raises(MountDeniedError) as raised:
        policy.check(target)
    assert raised.value.reason == "DeniedTarget"
    assert raised.value.target == target
    assert list_name in str(raised.value)


@pytest.mark.parametrize("target", ["/mnt", "/run", "/run/cosid2", "/procfs", "/devices", "/srv"])
def test_allowed_targets(policy: TargetPolicy, target: str) -> None:
    policy.check(target)


def test_entries_are_normalised_and_checked() -> None:
    policy = TargetPolicy(["/srv/"], ["/data/"])
    assert (policy.deny, policy.deny_below) == (frozenset({"/srv"}), frozenset({"/data"}))
    with pytest.raises(MountDeniedError):
        policy.check("/data/x")
    policy.check("/srv/x")
    with pytest.raises(ValueError, match="mount deny list entry 'relative' must be an absolute"):
        TargetPolicy(deny_below=["relative"])


def test_denying_below_the_root_denies_everything() -> None:
    with pytest.raises(MountDeniedError):
        TargetPolicy(deny_below=["/"]).check("/mnt")
