"""Outbound fan-out: total time against the slowest peer and the sum of all peers.

Eight fake MME peers listen on 127.0.0.1 (raw asyncio servers in a background
thread), each answering after its own latency between 50 and 200 ms with five
MME benchmark patients. One patient is matched against all of them with
:func:`mme_node.peers.match_peers` several times over one shared client.

A concurrent fan-out should cost about the slowest peer plus a few
milliseconds (validation of 40 results), far below the sum that a sequential
loop would pay. Run: ``python bench/fanout_bench.py [--repetitions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

import httpx

from mme_node.formats.schemas import load_patient
from mme_node.peers import Peer, match_peers

PEER_COUNT = 8
MIN_LATENCY = 0.050
MAX_LATENCY = 0.200
RESULTS_PER_PEER = 5


def benchmark_patients() -> list[dict[str, Any]]:
    text = resources.files("mme_node").joinpath("data/benchmark_patients.json").read_text()
    patients: list[dict[str, Any]] = json.loads(text)
    return patients


def answer_body(patients: Sequence[dict[str, Any]]) -> bytes:
    results = [
        {"score": {"patient": round(0.9 - 0.1 * rank, 2)}, "patient": patient}
        for rank, patient in enumerate(patients[:RESULTS_PER_PEER])
    ]
    return json.dumps({"results": results}).encode()


class FakePeers:
    """Keep-alive HTTP/1.1 servers, one per latency, each sleeping it before answering."""

    def __init__(self, latencies: Sequence[float], body: bytes) -> None:
        self.latencies = latencies
        self.body = body
        self.ports: list[int] = []
        self._servers: list[asyncio.Server] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakePeers:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _shut_down(self) -> None:
        """Stop listening; connections end on their own once the client has closed them."""
        for server in self._servers:
            server.close()
        connections = asyncio.all_tasks() - {asyncio.current_task()}
        if connections:
            await asyncio.wait(connections, timeout=1.0)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        for latency in self.latencies:
            server = self._loop.run_until_complete(
                asyncio.start_server(self._handler(latency), "127.0.0.1", 0)
            )
            self._servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])
        self._ready.set()
        self._loop.run_forever()

    def _handler(
        self, latency: float
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/vnd.ga4gh.matchmaker.v1.0+json\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    request_head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in request_head.decode("latin-1").split("\r\n"):
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value)
                    await reader.readexactly(length)
                    await asyncio.sleep(latency)
                    writer.write(head + self.body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        return serve


async def run(repetitions: int) -> None:
    patients = benchmark_patients()
    query, _ = load_patient(patients[0])
    step = (MAX_LATENCY - MIN_LATENCY) / (PEER_COUNT - 1)
    latencies = [MIN_LATENCY + step * i for i in range(PEER_COUNT)]
    with FakePeers(latencies, answer_body(patients[1:])) as fake:
        peers = [
            Peer(name=f"peer{i}", base_url=f"http://127.0.0.1:{port}", token="FAKE-bench")
            for i, port in enumerate(fake.ports)
        ]
        print(
            f"{PEER_COUNT} peers, latency {MIN_LATENCY * 1000:.0f}-{MAX_LATENCY * 1000:.0f} ms, "
            f"{RESULTS_PER_PEER} results each; times in ms"
        )
        print(f"{'run':>4}  {'total':>7}  {'slowest':>7}  {'sum':>7}  {'overhead':>8}")
        totals, overheads = [], []
        async with httpx.AsyncClient() as client:
            for repetition in range(1, repetitions + 1):
                started = time.perf_counter()
                outcomes = await match_peers(
                    peers, shown={peer.name: query for peer in peers}, client=client
                )
                total = (time.perf_counter() - started) * 1000
                if any(outcome.error for outcome in outcomes):
                    raise SystemExit(f"a peer failed: {[o.error for o in outcomes if o.error]}")
                slowest = max(outcome.elapsed_ms for outcome in outcomes)
                summed = sum(outcome.elapsed_ms for outcome in outcomes)
                print(
                    f"{repetition:>4}  {total:7.1f}  {slowest:7.1f}  {summed:7.1f}  "
                    f"{total - MAX_LATENCY * 1000:8.1f}"
                )
                totals.append(total)
                overheads.append(total - MAX_LATENCY * 1000)
        print(
            f"median total {statistics.median(totals):.1f} ms; median overhead over the "
            f"slowest peer's latency {statistics.median(overheads):.1f} ms; "
            f"sum of latencies {sum(latencies) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repetitions", type=int, default=10)
    asyncio.run(run(parser.parse_args().repetitions))


if __name__ == "__main__":
    main()
