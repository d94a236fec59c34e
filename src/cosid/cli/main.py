"""`cosictl`: get and watch the resources of a cosid daemon, the way talosctl does.

Errors are one line on stderr, `cosictl: CODE: message`, and exit status 1; Ctrl-C ends a
watch quietly with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

import grpc

from cosid.cli.commands import Selection, WatchEndedError, delete, get, watch
from cosid.cli.jsonpath import JsonPathError
from cosid.cli.output import FORMATS
from cosid.client import DEFAULT_ENDPOINT, ENDPOINT_ENV, Client, EndpointError, resolve_endpoint

INTERRUPTED = 130
"""The shell's status for a command ended by SIGINT."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosictl", description="Read COSI resources from cosid.")
    parser.add_argument(
        "--endpoint",
        help=f"the daemon's socket (default: ${ENDPOINT_ENV}, else {DEFAULT_ENDPOINT})",
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
        "--timeout", type=float, default=60.0, help="seconds to wait for the undo (default: 60)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    selection = Selection(args.type, args.id, args.namespace, getattr(args, "output", "table"))
    try:
        endpoint = resolve_endpoint(args.endpoint)
    except EndpointError as error:
        _fail(str(error))
    try:
        with Client.connect(endpoint) as client:
            if args.command == "get":
                get(client, selection, sys.stdout)
            elif args.command == "delete":
                delete(client, selection, args.timeout, sys.stdout)
            else:
                watch(client, selection, args.bootstrap, sys.stdout)
    except grpc.RpcError as error:
        _fail(describe_rpc_error(error, endpoint))
    except (JsonPathError, WatchEndedError) as error:
        _fail(str(error))
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`). Point stdout at /dev/null so that the interpreter's
        # final flush does not fail again on the way out, as the Python docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def describe_rpc_error(error: grpc.RpcError, endpoint: str) -> str:
    """`CODE: message`; an unreachable daemon also names the endpoint that was tried."""
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"cosid at {endpoint} is unavailable: {message}"
    return f"{code.name}: {message}"


def _fail(message: str) -> NoReturn:
    sys.exit(f"cosictl: {message}")


if __name__ == "__main__":
    main()
