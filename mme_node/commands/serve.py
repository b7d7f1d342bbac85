"""``mme-node serve``: run the node under uvicorn, saying where it is and what to do next.

The port is taken before the long start-up (opening the store, compiling
HPO on a first run, indexing patients), so a port already in use is an
error at once; the socket then queues the first requests until the node is
ready. Once ready, a banner tells the operator what this node is: its
absolute data dir, store, HPO release, URL and the next step.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import multiprocessing
import os
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import uvicorn
from uvicorn.supervisors import Multiprocess

from mme_node import __version__
from mme_node.app import create_app
from mme_node.commands._program import command_name
from mme_node.errors import MMEError
from mme_node.node import DEMO_OWNER, Node, start_node
from mme_node.security.tokens import Role
from mme_node.server import server_options
from mme_node.settings import Settings

BACKLOG = 2048
WORKER_HEALTHCHECK_SECONDS = 60
"""How long a worker may leave the supervisor's health check unanswered before it is killed and
started again. uvicorn's 5 s default killed workers still importing or loading the index on a
busy machine (load average 9 on 2 cores): each restart began the start-up again."""


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser("serve", help="run the node's HTTP server")
    parser.add_argument("--host", help="address to listen on (setting host, MME_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (setting port, MME_PORT)")
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (setting workers, MME_WORKERS; "
        "default: one per CPU core)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="load the 50 MME benchmark patients as test patients (owner 'demo') on start-up",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings = settings.replace(host=args.host)
    if args.port is not None:
        settings = settings.replace(port=args.port)
    if args.demo:
        settings = settings.replace(demo=True)
    if args.workers is not None:
        settings = settings.replace(workers=args.workers)
    workers = settings.worker_count()
    listener = listening_socket(settings.host, settings.port)
    url = f"http://{_url_host(settings.host)}:{listener.getsockname()[1]}"
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger(__name__).info(
        "mme-node %s starting on %s with data dir %s", __version__, url, settings.data_dir
    )

    if workers > 1:
        run_workers(settings, workers, listener, url)
        return 0

    async def print_banner(node: Node) -> None:
        print(await startup_banner(node, url), flush=True)

    config = uvicorn.Config(
        create_app(settings, on_ready=print_banner, freeze=True),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
        **server_options(settings),
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def run_workers(settings: Settings, workers: int, listener: socket.socket, url: str) -> None:
    """Serve with ``workers`` processes accepting on ``listener``, until stopped.

    A short-lived process loads the demo patients (once, not once per
    worker) and composes the banner, so that this one, which only supervises
    the workers, stays small. Without demo patients to load first, the
    workers start meanwhile (a restart is not one process start longer) and
    the banner follows when it is ready. Each worker starts afresh with
    these settings (passed as ``MME_*`` variables), opens the store, loads or
    builds the match index (:mod:`mme_node.matching.snapshot`: one process
    builds it, the others load what it saved) and follows the change log.
    """
    os.environ.update(settings.replace(demo=False).environment())
    config = uvicorn.Config(
        "mme_node.app:app_from_environment",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        **server_options(settings, in_workers=True),
    )
    supervisor = Multiprocess(config, sockets=[listener])
    banner = Banner(settings, url, workers, on_failure=supervisor.should_exit.set)
    if settings.demo:
        banner.wait()
    supervisor.run()
    banner.wait()


class Banner:
    """The start-up banner of ``serve --workers``, prepared in a short-lived process.

    A thread of the supervisor waits for that process and prints the banner;
    if preparing fails (a bad setting, an unreadable store), ``on_failure``
    is called (it stops the workers) and :meth:`wait` raises the error.
    """

    def __init__(
        self, settings: Settings, url: str, workers: int, on_failure: Callable[[], None]
    ) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._prepare, args=(settings, url, workers, on_failure), daemon=True
        )
        self._thread.start()

    def _prepare(
        self, settings: Settings, url: str, workers: int, on_failure: Callable[[], None]
    ) -> None:
        spawn = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as preparing:
                banner = preparing.submit(prepared_banner, settings, url).result()
        except BaseException as error:
            self._error = error
            on_failure()
            return
        print(banner.replace("(Ctrl+C to stop)", f"with {workers} workers (Ctrl+C to stop)"))
        sys.stdout.flush()

    def wait(self) -> None:
        """Until the banner is printed; the error if preparing failed."""
        self._thread.join()
        if self._error is not None:
            raise self._error


def prepared_banner(settings: Settings, url: str) -> str:
    """Open the node without serving (demo patients loaded if asked); its start-up banner."""

    async def prepare() -> str:
        node = await start_node(settings, serving=False)
        try:
            return await startup_banner(node, url)
        finally:
            await node.stop()

    return asyncio.run(prepare())


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; ``MMEError`` if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise MMEError(
                f"port {port} on {host} is already in use (another mme-node?): stop that "
                "process, or choose another port with --port or MME_PORT"
            ) from error
        raise MMEError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    return listener


async def startup_banner(node: Node, url: str) -> str:
    """What an operator needs once the node is up: its data, what it serves, the next step."""
    settings = node.settings
    patients = await node.store.count()
    health = await node.store.health()
    clients = node.tokens.list()
    submitters = [c for c in clients if c.role is Role.SUBMITTER and c.active]
    lines = [
        f"mme-node {__version__} is running on {url} (Ctrl+C to stop)",
        f"  data dir     {settings.data_dir}",
        f"  store        {health.kind}, {patients} patients"
        + ("" if health.ok else f" (NOT OK: {health.detail})"),
        f"  HPO release  {node.release.version} ({len(node.release.ontology)} terms)",
        f"  API          {url}/openapi.json describes every route",
    ]
    if settings.demo:
        lines.append(
            f"  demo         the 50 MME benchmark patients, owner {DEMO_OWNER!r}, are test "
            'patients: only queries with "test": true see them'
        )
    if submitters:
        lines.append("  next step    submit a patient: POST /api/patients (README, First steps)")
    else:
        lines.append(
            "  next step    no submitter yet; in another shell: "
            f"export TOKEN=$({command_name()} tokens create --name my-clinic --role submitter"
            " --quiet)"
        )
    return "\n".join(lines)


def _url_host(host: str) -> str:
    """The host as a URL shows it: a wildcard address is reached on loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
