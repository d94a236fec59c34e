"""`cosictl`: get and watch the resources of a cosid daemon, the way talosctl does, and apply
manifests of specs through the typed services, the way kubectl does.

Errors are a line on stderr, `cosictl: CODE: message` (then a line per field or document the
daemon refused, if any), and exit status 1 (2 for `diff`, whose 1 means "differs"); Ctrl-C
ends a watch quietly with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

import grpc

from cosid.cli import gen
from cosid.cli.apply import apply, diff
from cosid.cli.commands import Selection, WatchEndedError, delete, get, watch
from cosid.cli.jsonpath import JsonPathError
from cosid.cli.manifest import ManifestError
from cosid.cli.output import FORMATS
from cosid.cli.refusals import BatchRefusedError
from cosid.cli.selector import parse_selector
from cosid.client import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    Client,
    ClientTlsError,
    EndpointError,
    TypedClient,
    dial,
    resolve_endpoint,
    resolve_tls,
)
from cosid.client.tls import CA_ENV, CERT_ENV, KEY_ENV
from cosid.state.query import MATCH_ALL

FAILED = 1
INTERRUPTED = 130
"""The shell's status for a command ended by SIGINT."""
DIFFERENT = 1
"""`diff`'s status when applying would change something (as diff(1) and kubectl diff)."""
DIFF_FAILED = 2
"""`diff`'s status when it could not tell (its 1 means "different")."""
DEFAULT_TIMEOUT = 60.0
"""Seconds `delete` waits for the undo, and `apply --wait` for the specs to be made true."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosictl", description="Read COSI resources from cosid, and apply specs."
    )
    parser.add_argument(
        "--endpoint",
        help=(
            f"the daemon's socket, or tcp://HOST:PORT (default: ${ENDPOINT_ENV}, "
            f"else {DEFAULT_ENDPOINT})"
        ),
    )
    parser.add_argument(
        "--cert", type=Path, help=f"TCP: this client's certificate (default: ${CERT_ENV})"
    )
    parser.add_argument("--key", type=Path, help=f"TCP: its private key (default: ${KEY_ENV})")
    parser.add_argument(
        "--ca", type=Path, help=f"TCP: the CA of the daemon's certificate (default: ${CA_ENV})"
    )
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "type", metavar="TYPE", help="a type, short name or alias (e.g. ns, rd, namespaces)"
    )
    selection.add_argument("id", metavar="ID", nargs="?", help="one resource (default: all)")
    selection.add_argument("-n", "--namespace", help="default: the type's default namespace")
    selection.add_argument(
        "-o", "--output", choices=FORMATS, default="table", help="output format (default: table)"
    )
    selection.add_argument(
        "-l",
        "--selector",
        type=parse_selector,
        default=MATCH_ALL,
        help="only resources whose labels match: KEY=VALUE, KEY!=VALUE, KEY, !KEY, "
        "comma-separated, all must hold (e.g. table=main)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("get", parents=[selection], help="print resources")
    watch_parser = commands.add_parser(
        "watch", parents=[selection], help="print changes as they happen, until Ctrl-C"
    )
    watch_parser.add_argument(
        "--bootstrap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print what exists now before the changes (default: yes)",
    )
    delete_parser = commands.add_parser(
        "delete", help="undo a resource and remove it (waits until its controllers undid it)"
    )
    delete_parser.add_argument("type", metavar="TYPE", help="a type, short name or alias")
    delete_parser.add_argument("id", metavar="ID", help="the resource to delete")
    delete_parser.add_argument("-n", "--namespace", help="default: the type's default namespace")
    delete_parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the undo (default: {DEFAULT_TIMEOUT:g})",
    )
    manifest = argparse.ArgumentParser(add_help=False)
    manifest.add_argument(
        "-f",
        "--filename",
        required=True,
        metavar="FILE",
        help="YAML documents shaped as `get -o yaml` prints them; - reads stdin",
    )
    apply_parser = commands.add_parser(
        "apply",
        parents=[manifest],
        help="store the specs of a manifest (validated all together first: all or nothing)",
    )
    mode = apply_parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="print what would change, with diffs; store nothing"
    )
    mode.add_argument(
        "--wait",
        action="store_true",
        help="return once every spec is made true; exit 1 if one fails or time runs out",
    )
    apply_parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long --wait waits, for the whole file (default: {DEFAULT_TIMEOUT:g})",
    )
    commands.add_parser(
        "diff",
        parents=[manifest],
        help="print the diff of what apply would change; exit 0 if nothing, 1 if something",
    )
    gen.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    failed = DIFF_FAILED if args.command == "diff" else FAILED
    if args.command == "gen":
        try:
            gen.generate(args, sys.stdout)
        except gen.GenError as error:
            _fail(str(error), failed)
        return
    try:
        endpoint = resolve_endpoint(args.endpoint)
        channel = dial(endpoint, resolve_tls(args.cert, args.key, args.ca))
    except (EndpointError, ClientTlsError) as error:
        _fail(str(error), failed)
    try:
        with channel:
            status = run(args, channel)
    except grpc.RpcError as error:
        _fail(describe_rpc_error(error, endpoint), failed)
    except BatchRefusedError as error:
        headline = error.headline or describe_rpc_error(error.error, endpoint)
        _fail("\n".join([headline, *error.lines]), failed)
    except (JsonPathError, WatchEndedError, ManifestError) as error:
        _fail(str(error), failed)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`). Point stdout at /dev/null so that the interpreter's
        # final flush does not fail again on the way out, as the Python docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(failed)
    if status:
        sys.exit(status)


def run(args: argparse.Namespace, channel: grpc.Channel) -> int:
    """Run the command; its exit status (errors raise)."""
    client = Client(channel)
    if args.command == "apply":
        wait = args.timeout if args.wait else None
        apply(
            client,
            TypedClient(channel),
            args.filename,
            dry_run=args.dry_run,
            wait=wait,
            stdout=sys.stdout,
        )
        return 0
    if args.command == "diff":
        return DIFFERENT if diff(client, TypedClient(channel), args.filename, sys.stdout) else 0
    selection = Selection(
        args.type,
        args.id,
        args.namespace,
        getattr(args, "output", "table"),
        getattr(args, "selector", MATCH_ALL),
    )
    if args.command == "get":
        get(client, selection, sys.stdout)
    elif args.command == "delete":
        delete(client, selection, args.timeout, sys.stdout)
    else:
        watch(client, selection, args.bootstrap, sys.stdout)
    return 0


def describe_rpc_error(error: grpc.RpcError, endpoint: str) -> str:
    """`CODE: message`; an unreachable daemon also names the endpoint that was tried."""
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"cosid at {endpoint} is unavailable: {message}"
    return f"{code.name}: {message}"


def _fail(message: str, status: int) -> NoReturn:
    print(f"cosictl: {message}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
