"""Replay of every hardening reproduction (issue 12) against a real ``mme-node serve``.

    python bench/hardening_replay.py [--hpo-dir DIR] [--slow-seconds 20] [--skip-huge]

A node is started as a subprocess on 127.0.0.1 (its own data dir, a shared
compiled HPO release), tokens are created through the command line, and each
reproduction is sent to it while a prober thread asks ``GET /health`` every
50 ms. For each one the script prints what the node answered (statuses,
elapsed time, what it kept) and the worst ``/health`` latency seen while it
ran. A reproduction that wedges the node (no ``/health`` answer for 5 s
afterwards) gets the node killed and restarted before the next one.

Nothing is asserted: the output is the evidence for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's real-node helper

from hpo import ReleaseLibrary  # noqa: E402
from tests.federation.node_process import NodeProcess  # noqa: E402

MME = "application/vnd.ga4gh.matchmaker.v1.0+json"
CONTACT = {"name": "Dr Replay", "href": "mailto:replay@example.org"}
PHENOTYPIC_ABNORMALITY = "HP:0000118"
PROBE_EVERY = 0.05
WEDGED_AFTER = 5.0


# ---------------------------------------------------------------- the /health prober


class HealthProber:
    """Asks ``/health`` in a loop on its own connection; remembers each answer's latency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, float, int]] = []  # (finished at, seconds, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=70)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60.0) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = http.get("/health").status_code
                except httpx.HTTPError:
                    status = 0
                finished = time.perf_counter()
                self.samples.append((finished, finished - started, status))
                self._stop.wait(PROBE_EVERY)

    def worst_between(self, start: float, end: float) -> float:
        """The longest /health wait that overlapped ``[start, end]``, in seconds."""
        overlapping = [
            seconds
            for finished, seconds, _ in self.samples
            if finished >= start and finished - seconds <= end
        ]
        return max(overlapping, default=0.0)


# ---------------------------------------------------------------- the node


class ReplayNode:
    """The node under test, restartable when a reproduction wedges it."""

    def __init__(self, root: Path, hpo_dir: Path, extra_env: dict[str, str]) -> None:
        self.process = NodeProcess("replay", root, hpo_dir, extra_env)
        self.process.cli("hpo", "list")
        self.admin = self.process.create_token("curator", "admin")
        self.submitter = self.process.create_token("clinic-a", "submitter")
        self.peer = self.process.create_token("peer-node", "peer")
        self.prober: HealthProber | None = None

    def start(self) -> None:
        self.process.url = ""
        self.process.start()
        self.process.wait_until_up(self.peer)
        self.prober = HealthProber(self.process.url)
        self.prober.start()

    def stop(self) -> None:
        if self.prober is not None:
            self.prober.stop()
        self.process.stop()

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def http(self, token: str, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": token}, timeout=timeout)

    def answers_health(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=WEDGED_AFTER).status_code == 200
        except httpx.HTTPError:
            return False

    def restart(self) -> None:
        self.stop()
        # The port is read from the log: start the new process on an empty one.
        self.process.log_path.unlink()
        self.start()


# ---------------------------------------------------------------- reporting


@dataclass
class Outcome:
    name: str
    what: str
    seconds: float = 0.0
    health_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


def show(outcome: Outcome) -> None:
    print(
        f"{outcome.name:<28} {outcome.seconds:8.2f} s  /health worst {outcome.health_ms:8.0f} ms  "
        f"{outcome.what}",
        flush=True,
    )
    for note in outcome.notes:
        print(f"{'':<30}{note}", flush=True)


ONLY: list[str] = []


def run(node: ReplayNode, name: str, action: Callable[[], tuple[str, list[str]]]) -> None:
    if ONLY and not any(word in name for word in ONLY):
        return
    started = time.perf_counter()
    try:
        what, notes = action()
    except Exception as error:  # a reproduction that breaks the client is itself a finding
        what, notes = f"client error {type(error).__name__}: {error}", []
    ended = time.perf_counter()
    time.sleep(2 * PROBE_EVERY)
    assert node.prober is not None
    outcome = Outcome(name, what, ended - started, 1000 * node.prober.worst_between(started, ended))
    outcome.notes.extend(notes)
    if not node.answers_health():
        outcome.notes.append("node wedged afterwards: killed and restarted")
        node.restart()
    show(outcome)


def statuses(codes: list[int]) -> str:
    counts: dict[int, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return ", ".join(f"{count}x {code}" for code, count in sorted(counts.items()))


# ---------------------------------------------------------------- patients


def phenotype_terms(hpo_dir: Path) -> list[str]:
    ontology = ReleaseLibrary(hpo_dir).active().ontology
    return [ontology.term_id(int(i)) for i in ontology.descendants(PHENOTYPIC_ABNORMALITY)][1:]


def patient(patient_id: str, terms: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": patient_id,
        "contact": CONTACT,
        "features": [{"id": term} for term in terms],
        **extra,
    }


def submit(http: httpx.Client, document: dict[str, Any]) -> int:
    return http.post("/api/patients", json={"patient": document}).status_code


# ---------------------------------------------------------------- 1. work per request


def explanations(
    node: ReplayNode, pool: list[str], sizes: list[int], tag: str
) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        rng = random.Random(12)
        with node.http(node.submitter, timeout=60) as http:
            stored = [
                submit(http, patient(f"{tag}-{i}", rng.sample(pool, size), test=True))
                for i, size in enumerate(sizes)
            ]
            started = time.perf_counter()
            try:
                answer = http.post(f"/api/patients/{tag}-0/match")
                status = f"match {answer.status_code}"
            except httpx.TimeoutException:
                status = "match: no answer within 60 s"
            spent = time.perf_counter() - started
        return f"{status} after {spent:.1f} s", [f"submissions: {statuses(stored)}"]

    return action


def big_match_bodies(node: ReplayNode, pool: list[str], concurrent: int) -> Callable[[], Any]:
    """About 990 KB: 45,000 features in the shortest spelling."""

    def action() -> tuple[str, list[str]]:
        query = patient("big-query", [pool[i % len(pool)] for i in range(45_000)], test=True)
        body = json.dumps({"patient": query}, separators=(",", ":")).encode()
        headers = {"Content-Type": MME, "Accept": MME, "X-Auth-Token": node.peer}

        def one(_: int) -> tuple[int, float]:
            started = time.perf_counter()
            status = httpx.post(f"{node.url}/match", content=body, headers=headers, timeout=120)
            return status.status_code, time.perf_counter() - started

        with concurrent_pool(concurrent) as pool_:
            answers = list(pool_.map(one, range(concurrent)))
        slowest = max(seconds for _, seconds in answers)
        return (
            f"{statuses([s for s, _ in answers])}; body {len(body) // 1000} KB, "
            f"slowest {slowest:.2f} s",
            [],
        )

    return action


@contextmanager
def concurrent_pool(workers: int) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        yield executor


def no_caps(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        genes = [{"gene": {"id": "SCN1A"}} for _ in range(5_000)]
        disorders = [{"id": f"MIM:{100000 + i}"} for i in range(5_000)]
        with node.http(node.submitter) as http:
            codes = [
                submit(http, patient("many-genes", ["HP:0001250"], genomicFeatures=genes)),
                submit(http, patient("many-disorders", ["HP:0001250"], disorders=disorders)),
            ]
        return f"5,000 genomic features, 5,000 disorders: {statuses(codes)}", []

    return action


class _ManyResults(BaseHTTPRequestHandler):
    """A peer that answers every /match with 7,000 results."""

    body = b""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", MME)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def many_peer_results(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        # The shortest valid patients, so that 7,000 fit under the 1 MB answer cap.
        results = [
            {
                "score": {"patient": 0.5},
                "patient": {
                    "id": f"r{i}",
                    "contact": {"name": "R", "href": "mailto:r@x.org"},
                    "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
                },
            }
            for i in range(7_000)
        ]
        _ManyResults.body = json.dumps({"results": results}, separators=(",", ":")).encode()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _ManyResults)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            name = f"generous-{server.server_address[1]}"
            node.process.add_peer(
                name, f"http://127.0.0.1:{server.server_address[1]}", "fake-token-0000", 30
            )
            with node.http(node.submitter) as http:
                submit(http, patient("asker", ["HP:0001250"]))
                answer = http.post("/api/patients/asker/match/external", json={"peers": [name]})
                outcome = answer.json()["peers"][0] if answer.status_code == 200 else {}
                history = http.get("/api/patients/asker/matches").json()["matches"]
            kept = sum(len(m["results"]) for m in history)
            error = (outcome.get("error") or {}).get("message", "none")
            return (
                f"{answer.status_code}; {len(outcome.get('results', []))} results accepted, "
                f"{kept} stored",
                [f"error: {error}"],
            )
        finally:
            server.shutdown()

    return action


# ---------------------------------------------------------------- 2. slow clients


def slow_clients(node: ReplayNode, kind: str, count: int, seconds: float) -> Callable[[], Any]:
    """``count`` connections that send headers/body at 1 byte/s, lie about Content-Length,
    or send nothing; how many did the node close within ``seconds``?"""

    def action() -> tuple[str, list[str]]:
        host, port = node.host_port
        sockets = []
        for _ in range(count):
            connection = socket.create_connection((host, port), timeout=5)
            connection.setblocking(False)
            sockets.append(connection)
        head = f"POST /match HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {node.peer}\r\n"
        body_head = head + f"Content-Type: {MME}\r\nContent-Length: 1000\r\n\r\n"
        scripts = {
            "headers": head.encode(),
            "body": body_head.encode() + b'{"patient": {"id": "slow"' + b" " * 2000,
            "short-body": body_head.encode() + b"{}",
            "idle": b"",
        }
        script = scripts[kind]
        sent_at_once = len(body_head) if kind in ("body", "short-body") else 0
        if kind == "short-body":
            sent_at_once = len(script)
        for connection in sockets:
            _send(connection, script[:sent_at_once])
        closed = [False] * count
        deadline = time.monotonic() + seconds
        position = sent_at_once
        while time.monotonic() < deadline and not all(closed):
            for i, connection in enumerate(sockets):
                if closed[i]:
                    continue
                if position < len(script) and not _send(
                    connection, script[position : position + 1]
                ):
                    closed[i] = True
                    continue
                closed[i] = _closed_by_peer(connection)
            position += 1
            time.sleep(1.0)
        for connection in sockets:
            connection.close()
        return f"{sum(closed)} of {count} closed by the node within {seconds:.0f} s", []

    return action


def _send(connection: socket.socket, data: bytes) -> bool:
    try:
        connection.send(data)
        return True
    except OSError:
        return False


def _closed_by_peer(connection: socket.socket) -> bool:
    try:
        while True:
            data = connection.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


# ---------------------------------------------------------------- 4. inputs that gave 500


def five_hundreds(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        before = node.process.log().count("Traceback")
        found = []
        nested = b'{"patient": ' + b"[" * 1000 + b"]" * 1000 + b"}"
        huge_int = b'{"patient": {"id": "x", "sex": ' + b"9" * 4301 + b"}}"
        surrogate = json.dumps({"patient": patient("\ud800", ["HP:0001250"])}).encode()
        with node.http(node.submitter) as submitter, node.http(node.peer) as peer:
            submitter.post("/api/patients", json={"patient": patient("etag", ["HP:0001250"])})
            mme = {"Content-Type": MME, "Accept": MME}
            plain = {"Content-Type": "application/json"}
            checks: list[tuple[str, Callable[[], httpx.Response]]] = [
                ("offset 2^63", lambda: submitter.get("/api/patients?offset=9223372036854775808")),
                ("nested /match", lambda: peer.post("/match", content=nested, headers=mme)),
                (
                    "nested /api/patients",
                    lambda: submitter.post("/api/patients", content=nested, headers=plain),
                ),
                ("4301 digits", lambda: peer.post("/match", content=huge_int, headers=mme)),
                ("id \\ud800", lambda: peer.post("/match", content=surrogate, headers=mme)),
                (
                    "If-Match 0xB9",
                    lambda: submitter.post(
                        "/api/patients",
                        json={"patient": patient("etag", ["HP:0001250"])},
                        headers={"If-Match": b"\xb9"},  # type: ignore[dict-item]
                    ),
                ),
            ]
            for label, send in checks:
                try:
                    found.append(f"{label} {send().status_code}")
                except httpx.HTTPError as error:
                    found.append(f"{label} {type(error).__name__}")
        found.append(f"aborted upload: {aborted_upload(node)} log lines")
        tracebacks = node.process.log().count("Traceback") - before
        return "; ".join(found), [f"tracebacks logged: {tracebacks}"]

    return action


def aborted_upload(node: ReplayNode) -> int:
    """Send half a body then hang up; how many log lines did the node write about it?"""
    lines_before = len(node.process.log().splitlines())
    host, port = node.host_port
    with socket.create_connection((host, port)) as connection:
        connection.sendall(
            f"POST /api/patients HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {node.submitter}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"patient": {"id": '
        )
        time.sleep(0.3)
    time.sleep(0.5)
    return len(node.process.log().splitlines()) - lines_before


# ---------------------------------------------------------------- 5. throttling


def wrong_tokens(node: ReplayNode, count: int) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        codes = []
        with httpx.Client(base_url=node.url, timeout=30) as http:
            for i in range(count):
                headers = {"X-Auth-Token": f"wrong-token-{i:06d}"}
                codes.append(http.get("/heartbeat", headers=headers).status_code)
        logged = len(re.findall(r"(?i)failed authentication", node.process.log()))
        leaked = node.process.log().count("wrong-token-")
        return statuses(codes), [
            f"failed authentications logged: {logged}, tokens in log: {leaked}"
        ]

    return action


def match_flood(node: ReplayNode, count: int) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        body = {"patient": patient("flood", ["HP:0001250"], test=True)}
        headers = {"Content-Type": MME, "Accept": MME}
        codes = []
        retry_after = None
        with node.http(node.peer) as http:
            for _ in range(count):
                answer = http.post("/match", json=body, headers=headers)
                codes.append(answer.status_code)
                retry_after = retry_after or answer.headers.get("retry-after")
        return statuses(codes), [f"Retry-After: {retry_after}"]

    return action


# ---------------------------------------------------------------- 3, 6, 7, 8


def file_modes(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        data = node.process.database_path.parent
        modes = [f"data dir {data.stat().st_mode & 0o777:o}"]
        for path in sorted(data.iterdir()):
            if path.is_file():
                modes.append(f"{path.name} {path.stat().st_mode & 0o777:o}")
        warned = "warning" in node.process.log().lower() and "permission" in node.process.log()
        return ", ".join(modes), [f"start-up warning about permissions: {warned}"]

    return action


def meaningless(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        variant = {"assembly": "GRCh37", "referenceName": "1", "start": 10**26, "end": 10**26 + 1}
        cases = {
            "HP:0000001 feature": patient("m1", ["HP:0000001"]),
            "inheritance as feature": patient("m2", ["HP:0000006"]),
            "onset = phenotype": patient("m3", ["HP:0001250"], ageOfOnset="HP:0001263"),
            "inheritance = phenotype": patient("m4", ["HP:0001250"], inheritanceMode="HP:0001263"),
            "start 10^26": patient(
                "m5",
                ["HP:0001250"],
                genomicFeatures=[{"gene": {"id": "SCN1A"}, "variant": variant}],
            ),
        }
        with node.http(node.submitter) as http:
            found = [f"{label} {submit(http, document)}" for label, document in cases.items()]
        return "; ".join(found), []

    return action


def openapi_drift(node: ReplayNode) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        with node.http(node.submitter) as http:
            heartbeat = http.get("/heartbeat")
            document = http.get("/openapi.json").json()
            described = document["paths"]["/heartbeat"]["get"]["responses"]
            http.post("/api/patients", json={"patient": patient("drift", ["HP:0001250"])})
            null_peers = http.post("/api/patients/drift/match/external", json={"peers": None})
            put = http.put("/api/patients")
        return (
            f"submitter on /heartbeat {heartbeat.status_code} "
            f"({'documented' if str(heartbeat.status_code) in described else 'undocumented'}, "
            f"{heartbeat.headers.get('content-type')}); "
            f'{{"peers": null}} {null_peers.status_code}; '
            f"PUT /api/patients {put.status_code} Allow: {put.headers.get('allow')}",
            [],
        )

    return action


def hpo_load_empty_json(node: ReplayNode, work: Path) -> Callable[[], Any]:
    def action() -> tuple[str, list[str]]:
        broken = work / "hp.json"
        broken.write_text("{}")
        completed = subprocess.run(
            [sys.executable, "-P", "-m", "mme_node.cli", "hpo", "load", str(broken)],
            env={**os.environ, **node.process.env, "MME_HPO_DIR_OVERRIDE": str(work / "hpo")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = completed.stderr.strip().splitlines()
        return (
            f"exit {completed.returncode}, {len(lines)} lines on stderr",
            [
                f"first: {lines[0][:100] if lines else ''}",
                f"last: {lines[-1][:100] if lines else ''}",
            ],
        )

    return action


# ---------------------------------------------------------------- main


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {datetime.date.today()}, load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpo-dir", type=Path, help="compiled HPO releases to reuse")
    parser.add_argument("--slow-seconds", type=float, default=20.0)
    parser.add_argument("--slow-connections", type=int, default=200)
    parser.add_argument(
        "--skip-huge", action="store_true", help="skip the 5,000 vs 15,000-term explanation"
    )
    parser.add_argument(
        "--only", nargs="*", help="run only reproductions whose name has one of these words"
    )
    args = parser.parse_args()
    ONLY.extend(args.only or [])
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="hardening-replay-") as directory:
        work = Path(directory)
        hpo_dir = args.hpo_dir or work / "hpo"
        pool = phenotype_terms(hpo_dir)
        # Rate limits off for the work reproductions; the throttling ones get their own node.
        node = ReplayNode(work / "node", hpo_dir, {"MME_RATE_LIMIT_MATCH": "0"})
        node.start()
        try:
            rng = random.Random(1)
            run(
                node,
                "explain 250-1,000 terms",
                explanations(node, pool, [rng.randint(250, 1000) for _ in range(6)], "e"),
            )
            run(node, "explain 6 x 500 terms", explanations(node, pool, [500] * 6, "f"))
            run(node, "/match 990 KB, 1 at once", big_match_bodies(node, pool, 1))
            run(node, "/match 990 KB, 4 at once", big_match_bodies(node, pool, 4))
            run(node, "5,000 genes / disorders", no_caps(node))
            run(node, "peer returns 7,000", many_peer_results(node))
            for kind in ("headers", "body", "short-body", "idle"):
                run(
                    node,
                    f"{args.slow_connections} slow: {kind}",
                    slow_clients(node, kind, args.slow_connections, args.slow_seconds),
                )
            run(node, "file modes", file_modes(node))
            run(node, "former 500s", five_hundreds(node))
            run(node, "meaningless input", meaningless(node))
            run(node, "OpenAPI drift", openapi_drift(node))
            run(node, "hpo load {}", hpo_load_empty_json(node, work))
            if not args.skip_huge:
                run(node, "explain 5,000 vs 15,000", explanations(node, pool, [5_000, 15_000], "h"))
        finally:
            node.stop()
        throttled = ReplayNode(work / "throttled", hpo_dir, {})
        throttled.start()
        try:
            run(throttled, "2,000 wrong tokens", wrong_tokens(throttled, 2_000))
            run(throttled, "2,000 /match, one token", match_flood(throttled, 2_000))
        finally:
            throttled.stop()
    print(f"at the end: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
