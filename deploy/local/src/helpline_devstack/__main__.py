"""Command line: ``python -m helpline_devstack kafka|postgres ACTION [options]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from helpline_devstack.kafka import KafkaError, KafkaNode
from helpline_devstack.postgres import PostgresError, PostgresServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpline_devstack")
    servers = parser.add_subparsers(dest="server", required=True)

    kafka_opts = argparse.ArgumentParser(add_help=False)
    kafka_opts.add_argument("--home", type=Path, default=Path(".helpline/kafka"))
    kafka_opts.add_argument("--port", type=int, default=9092)
    kafka_opts.add_argument("--controller-port", type=int, default=9093)
    kafka = servers.add_parser("kafka", help="single-node KRaft broker")
    kafka_actions = kafka.add_subparsers(dest="action", required=True)
    start = kafka_actions.add_parser("start", parents=[kafka_opts])
    start.add_argument("--timeout", type=float, default=90)
    kafka_actions.add_parser("stop", parents=[kafka_opts])
    kafka_actions.add_parser("status", parents=[kafka_opts])
    topics = kafka_actions.add_parser("topics", parents=[kafka_opts])
    topics.add_argument("names", nargs="+", metavar="NAME")
    topics.add_argument("--partitions", type=int, default=1)

    pg_opts = argparse.ArgumentParser(add_help=False)
    pg_opts.add_argument("--home", type=Path, default=Path(".helpline/postgres"))
    pg_opts.add_argument("--port", type=int, default=25432)
    postgres = servers.add_parser("postgres", help="private PostgreSQL cluster")
    pg_actions = postgres.add_subparsers(dest="action", required=True)
    pg_actions.add_parser("start", parents=[pg_opts])
    pg_actions.add_parser("stop", parents=[pg_opts])
    createdb = pg_actions.add_parser("createdb", parents=[pg_opts])
    createdb.add_argument("name")
    run = servers.add_parser("run", help="Kafka, a mail sink and the five services (make run)")
    run.add_argument("--home", type=Path, default=Path(".helpline"))
    return parser


def _kafka(args: argparse.Namespace) -> int:
    node = KafkaNode(args.home, port=args.port, controller_port=args.controller_port)
    if args.action == "start":
        began = time.monotonic()
        node.start(timeout=args.timeout)
        print(f"kafka ready on {node.bootstrap_servers} ({time.monotonic() - began:.1f}s)")
    elif args.action == "stop":
        node.stop()
    elif args.action == "status":
        running = node.is_running()
        print(f"kafka on {node.bootstrap_servers}: {'running' if running else 'stopped'}")
        return 0 if running else 1
    else:
        node.create_topics(args.names, partitions=args.partitions)
    return 0


def _postgres(args: argparse.Namespace) -> int:
    server = PostgresServer(args.home, port=args.port)
    if args.action == "start":
        server.start()
        print(f"postgres ready on 127.0.0.1:{server.port} (data in {server.data_dir})")
    elif args.action == "stop":
        server.stop()
    else:
        print(server.create_database(args.name))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the devstack command line."""
    args = _parser().parse_args(argv)
    try:
        if args.server == "run":
            from helpline_devstack.run import run

            return run(args.home)
        return _kafka(args) if args.server == "kafka" else _postgres(args)
    except (KafkaError, PostgresError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
