"""The command line: `stack up|down|status|start|stop|kill|env|ferretdb-source`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as USAGE
from .ferretdb import FerretDB
from .host import StackError
from .kafka import KAFKA_DEFAULT_PRINCIPAL, KAFKA_PRINCIPALS
from .stack import COMPONENTS, Stack


def parse_only(value: str) -> list[str]:
    """Comma-separated component names."""
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="stack",
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "install and start what is not running, wait until all answer"),
        ("down", "stop the processes this script started"),
        ("status", "show each component: running, pid, port, answering"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--only", type=parse_only, help="comma-separated: mariadb,kafka,ferretdb(,postgres)")
    for name, text in (("start", "start"), ("stop", "stop (SIGTERM)"), ("kill", "SIGKILL")):
        sub = commands.add_parser(name, help=f"{text} one component")
        sub.add_argument("name", choices=list(COMPONENTS))
    env = commands.add_parser("env", help="print MYSQL_URL, Kafka's address and credentials, and MONGO_URL")
    env.add_argument(
        "--principal",
        choices=KAFKA_PRINCIPALS,
        default=KAFKA_DEFAULT_PRINCIPAL,
        help=f"whose Kafka credentials (default: {KAFKA_DEFAULT_PRINCIPAL}, for tests and tools)",
    )
    sub = commands.add_parser("ferretdb-source", help="write FerretDB's patched source, as it is built, into DIR")
    sub.add_argument("dir", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    """Entry point."""
    args = parse_args(argv)
    os.umask(0o077)  # every file and folder it makes, and those its servers make, are the owner's alone
    try:
        stack = Stack()
        if args.command == "env":
            stack.env(args.principal)
            return 0
        if args.command == "status":
            return 0 if stack.status(args.only) else 3
        if args.command == "ferretdb-source":
            ferretdb = stack.components["ferretdb"]
            assert isinstance(ferretdb, FerretDB)
            ferretdb.write_source(args.dir)
            return 0
        with stack.locked():
            if args.command == "up":
                stack.up(args.only)
            elif args.command == "down":
                stack.down(args.only)
            elif args.command == "start":
                stack.up([args.name])
            elif args.command == "stop":
                stack.down([args.name])
            elif args.command == "kill":
                stack.down([args.name], signal.SIGKILL)
    except StackError as error:
        print(f"stack: error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
