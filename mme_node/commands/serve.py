"""``mme-node serve``: run the node under uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from mme_node.app import create_app
from mme_node.settings import Settings


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser("serve", help="run the node's HTTP server")
    parser.add_argument("--host", help="address to listen on (setting host, MME_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (setting port, MME_PORT)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="load the 50 MME benchmark patients as test patients (owner 'demo') on start-up",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings = settings.replace(host=args.host)
    if args.port:
        settings = settings.replace(port=args.port)
    if args.demo:
        settings = settings.replace(demo=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
    )
    return 0
