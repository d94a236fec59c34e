"""Hypothesis strategies for any request message, built by walking its proto descriptor.

Every field gets values of its own wire type (so the message encodes) that are wrong in every
other way: names the daemon knows mixed with NULs, control characters, odd Unicode planes,
traversing paths, invalid regexps, strings at and past the configured limits, extreme and
negative numbers, enum values no enum has, random bytes, and repeated fields far longer than
any limit. The huge variants are never nested inside the long repetitions, so no example
grows past a few megabytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from cosid.resources.catalog import TYPED_APIS
from cosid.server.limits import Limits
from tests.support.daemon import TEST_NAMESPACES

LIMITS: Final = Limits()
"""The test daemon runs with the default limits."""

KINDS: Final = [kind for api in TYPED_APIS for kind in (api.specs, api.statuses)]
NAMES: Final = sorted(
    {str(ns["name"]) for ns in TEST_NAMESPACES}
    | {"meta", "Namespaces.meta.cosi.dev", "ResourceDefinitions.meta.cosi.dev"}
    | {kind.namespace for kind in KINDS}
    | {kind.type for kind in KINDS}
    | {"motd", "hostname", "resolv", "net.ipv4.ip_forward", "loop", "/mnt", "lo", "sysctl"}
)
"""Names the daemon knows (namespaces, types, ids, controllers): garbage near them goes
further into the handlers than garbage alone."""

TRAVERSALS: Final = [
    "..",
    "../",
    "../../etc/passwd",
    "/proc/sys/../../etc",
    "net/ipv4/../../../etc",
    "/proc/self/root/etc",
    "./.",
    "//",
    "%2e%2e%2f",
    "..\\..\\",
]
REGEXPS: Final = [
    "(",
    "[",
    ")",
    "*",
    "+?*",
    "a{2,1}",
    "(?P<",
    "\\",
    "[z-a]",
    "(?<=a)b",
    "\\1",
    "(a+)+$",
    "(a|a)*b",
    "\\p{NoSuchClass}",
    "a{1001}",
    "((((((((((a))))))))))" * 50,
]
CONTROL: Final = st.characters(max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b"]
)
ODD_PLANES: Final = st.characters(min_codepoint=0x10000, exclude_categories=["Cs"])
LENGTHS: Final = sorted(
    {
        LIMITS.max_name_length,
        LIMITS.max_name_length + 1,
        LIMITS.max_id_length,
        LIMITS.max_id_length + 1,
        LIMITS.max_label_value_length + 1,
        4097,
        64 * 1024 + 1,
        LIMITS.max_spec_bytes + 1,
    }
)
"""At and past the configured limits (names, ids, label values, regexps, files, specs)."""
MANY: Final = [LIMITS.max_labels + 1, 1000, LIMITS.max_batch_items + 1]
"""More repetitions than any limit allows; elements are small (see `field_values`)."""

INT_RANGES: Final = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
MAX_DEPTH: Final = 5


def huge(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One piece repeated to a length at or past a limit (cheap to draw however long)."""
    return st.builds(lambda piece, n: (piece * n)[:n], pieces, st.sampled_from(LENGTHS))


def garbage_strings(*, large: bool = True) -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES)
    odd = st.text(CONTROL | ODD_PLANES | st.sampled_from(["\x00", "/", "."]), max_size=8)
    small = [
        name,
        st.text(max_size=24),
        st.text(CONTROL, min_size=1, max_size=8),
        st.text(ODD_PLANES, min_size=1, max_size=8),
        st.sampled_from(TRAVERSALS),
        st.sampled_from(REGEXPS),
        st.builds(lambda a, b, c: a + b + c, name | odd, odd, name | odd),
        st.builds(lambda n: n + "\x00", name),
    ]
    if not large:
        return st.one_of(small)
    pieces: st.SearchStrategy[str] = (
        st.sampled_from(["a", "é", "\U0001d518", "\x00", "../", "\n"]) | name
    )
    return st.one_of(*small, huge(pieces))  # one string in nine is huge: they are slow to send


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.sampled_from(sorted({low, -1 if low < 0 else 0, 0, 1, high})) | st.integers(low, high)


def scalar_values(field: FieldDescriptor, *, large: bool) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return garbage_strings(large=large)
    if kind == FieldDescriptor.TYPE_BYTES:
        random = st.binary(max_size=64)
        return (random | st.binary(min_size=4096, max_size=8192)) if large else random
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats()
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32)
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.sampled_from(known) | integers(-(2**31), 2**31 - 1)
    return integers(*INT_RANGES[kind])


def element_values(field: FieldDescriptor, depth: int, *, large: bool) -> st.SearchStrategy[Any]:
    """Values for one element of the field (the field itself, unless it is repeated)."""
    if field.message_type is not None:
        return messages(field.message_type, depth + 1, large=large)
    return scalar_values(field, large=large)


def field_values(field: FieldDescriptor, depth: int, *, large: bool) -> st.SearchStrategy[Any]:
    """Values for one field as a message's constructor takes them."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (field.message_type.fields_by_name[name] for name in ("key", "value"))
        entry = st.tuples(
            scalar_values(key, large=large), element_values(value, depth, large=large)
        )
        entries = st.lists(entry, max_size=4)
        if large:
            entries |= st.builds(
                lambda n, v: [(f"k{i}", v) for i in range(n)],
                st.sampled_from(MANY),
                element_values(value, depth, large=False),
            )
        return entries.map(dict)
    single = element_values(field, depth, large=large)
    if not field.is_repeated:
        return single
    few = st.lists(single, max_size=4)
    if not large:
        return few
    some = st.lists(single, min_size=1, max_size=4)
    many = st.builds(
        lambda n, element: [element] * n,
        st.sampled_from(MANY),
        element_values(field, depth, large=False),
    )
    return st.one_of(few, some, many)  # one in three repeats past the limits


def deferred_values(field: FieldDescriptor, depth: int, large: bool) -> st.SearchStrategy[Any]:
    """Built when first drawn: a message's strategy does not build every nested one up front."""
    return st.deferred(lambda: field_values(field, depth, large=large))


def messages(
    descriptor: Descriptor, depth: int = 0, *, large: bool = True
) -> st.SearchStrategy[Message]:
    """Messages of this type with any subset of their fields set to garbage."""
    message_class: Callable[..., Message] = GetMessageClass(descriptor)
    if depth >= MAX_DEPTH:
        return st.just(message_class())
    optional = {field.name: deferred_values(field, depth, large) for field in descriptor.fields}
    return st.fixed_dictionaries({}, optional=optional).map(lambda kwargs: message_class(**kwargs))
