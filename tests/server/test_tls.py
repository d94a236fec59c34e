"""Who a TCP caller is: the role its certificate's organisations name, and its common name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosid.cli.pki import make_ca, make_client_certificate
from cosid.server.roles import Role
from cosid.server.tls import CallerCertificate, role_named_by, role_organisation

READER, OPERATOR, ADMIN = Role.READER, Role.OPERATOR, Role.ADMIN


@pytest.mark.parametrize(
    ("organisations", "role"),
    [
        ([], None),
        (["os:reader"], READER),
        (["os:operator"], OPERATOR),
        (["os:admin"], ADMIN),
        (["os:reader", "os:admin", "os:operator"], ADMIN),
        (["os:operator", "os:reader"], OPERATOR),
        (["Example Ltd", "os:reader"], READER),
        (["os:root", "OS:ADMIN", "os:admin ", "admin", "os:"], None),
    ],
)
def test_the_highest_role_named_counts(organisations: list[str], role: Role | None) -> None:
    assert role_named_by(organisations) == role


@given(st.lists(st.sampled_from(list(Role))), st.lists(st.text(max_size=12)))
def test_other_organisations_never_add_a_role(roles: list[Role], others: list[str]) -> None:
    unnamed = [o for o in others if o not in {role_organisation(r) for r in Role}]
    named = [role_organisation(role) for role in roles]
    assert role_named_by([*unnamed, *named]) == max(roles, default=None)


def test_the_role_and_name_are_read_from_a_cosictl_certificate() -> None:
    ca = make_ca("test CA")
    pair = make_client_certificate(ca, "alice", [Role.READER, Role.OPERATOR])

    caller = CallerCertificate.from_certificate(pair.certificate)

    assert caller == CallerCertificate(common_name="alice", role=Role.OPERATOR)
    unnamed = make_client_certificate(ca, "bob", [])
    assert CallerCertificate.from_certificate(unnamed.certificate).role is None
