"""Fault injection: concurrent clients submit signed records while the API server is killed with SIGKILL and
restarted, and the chain node is cut off for a while; then every acknowledged record must be present, anchored
exactly once, and verify. Loopback only, bounded in records and time.

    .venv/bin/python scripts/fault_inject.py --records 5000 --kills 4 [--database-url postgresql+psycopg://...]

Prints: acknowledged=… present=… anchored=… duplicates=… verified=… (exit 0 only when all agree).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bindaas.chain.client import ChainClient, connect  # noqa: E402
from bindaas.client import BindaasClient  # noqa: E402
from bindaas.demo import deploy_authorities, signed_envelopes  # noqa: E402
from bindaas.fhir.datasets import dataset_bundles  # noqa: E402
from tests.helpers import HardhatNode, TcpProxy, free_port  # noqa: E402


class ApiProcess:
    """`bindaas serve` as a child process that can be SIGKILLed and restarted on the same port."""

    def __init__(self, env: dict[str, str], port: int, workers: int = 1) -> None:
        self.env, self.port, self.workers = env, port, workers
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bindaas.cli", "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--log-level", "warning"], env=self.env, cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("API process did not come up")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def submit_until_acknowledged(client: httpx.Client, body: str, deadline: float) -> str | None:
    """Retry through crashes: the same envelope is idempotent, so resubmitting after a lost answer is safe."""
    while time.monotonic() < deadline:
        try:
            response = client.post("/records", content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 202:
            return response.json()["id"]
        if response.status_code >= 500:
            time.sleep(0.2)
            continue
        raise RuntimeError(f"record refused: {response.status_code} {response.text[:200]}")
    return None


def run(*, records: int, kills: int, outage_s: float, database_url: str | None, clients: int = 8,
        workers: int = 1, time_limit_s: float = 900, node: HardhatNode | None = None,
        say=print) -> dict[str, int]:
    own_node = node is None
    node = node or HardhatNode()
    proxy = TcpProxy(node.port)
    data_dir = Path(tempfile.mkdtemp(prefix="bindaas-faults-"))
    try:
        direct, authorities = deploy_authorities(node.url)
        direct.deployment.save(data_dir / "deployment.json")
        env = {**os.environ, "BINDAAS_DATA_DIR": str(data_dir), "BINDAAS_RPC_URL": proxy.url,
               "BINDAAS_FHIR_VALIDATION": "schema", "BINDAAS_ANCHOR_RETRY_S": "0.5",
               "BINDAAS_RECEIPT_TIMEOUT_S": "10",
               "BINDAAS_ANCHOR_TAKEOVER_S": "5", "BINDAAS_TOKEN_TTL_S": "7200"}
        if database_url:
            env["BINDAAS_DATABASE_URL"] = database_url
        bundles = list(dataset_bundles("framingham", limit=min(records, 4240)))
        say(f"signing {records} envelopes (owner + 3 endorsements each)")
        bodies = [e.model_dump_json() for e in
                  signed_envelopes([bundles[i % len(bundles)] for i in range(records)], direct, authorities)]
        api = ApiProcess(env, free_port(), workers=workers)
        api.start()
        # The clients submit as the first authority, signed in once; tokens outlive worker restarts.
        with BindaasClient(api.url, key=authorities[0].key) as signer:
            auth = {"authorization": f"Bearer {signer.sign_in()['access_token']}"}
        deadline = time.monotonic() + time_limit_s
        acknowledged: list[str] = []
        lock = threading.Lock()

        def worker(chunk: list[str]) -> None:
            with httpx.Client(base_url=api.url, timeout=30, headers=auth) as client:
                for body in chunk:
                    rid = submit_until_acknowledged(client, body, deadline)
                    if rid:
                        with lock:
                            acknowledged.append(rid)

        chunks = [bodies[i::clients] for i in range(clients)]
        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [pool.submit(worker, chunk) for chunk in chunks]
            rng = random.Random(0)
            for k in range(kills):
                time.sleep(rng.uniform(1.0, 3.0))
                api.kill()
                say(f"kill -9 #{k + 1} after {len(acknowledged)} acknowledged")
                if k == kills // 2 and outage_s > 0:
                    proxy.cut()
                    say(f"chain cut off for {outage_s} s")
                    api.start()
                    time.sleep(outage_s)
                    proxy.restore()
                else:
                    api.start()
            for f in futures:
                f.result()
        say(f"{len(acknowledged)} acknowledged; waiting for anchoring")
        with httpx.Client(base_url=api.url, timeout=30, headers=auth) as client:
            while time.monotonic() < deadline:
                counts = client.get("/health").json()["records"]
                if counts.get("anchored", 0) >= len(set(acknowledged)) and not counts.get("accepted"):
                    break
                time.sleep(0.5)
            present = anchored = verified = 0
            for rid in set(acknowledged):
                response = client.get(f"/records/{rid}/status")  # metadata: no audit events, no content
                if response.status_code != 200:
                    continue
                present += 1
                anchored += response.json()["status"] == "anchored"
                verified += client.get(f"/records/{rid}/verify").json()["verdict"] == "valid"
            stored = client.get("/health").json()["records"]
        api.stop()
        chain = ChainClient(connect(node.url), direct.deployment)
        events = chain.anchor.events.BatchAnchored.get_logs(from_block=direct.deployment.deployed_block)
        on_chain = sum(e["args"]["recordCount"] for e in events)
        stored_total = sum(stored.values())
        return {"acknowledged": len(set(acknowledged)), "present": present, "anchored": anchored,
                "duplicates": on_chain - stored.get("anchored", 0), "verified": verified,
                "stored": stored_total, "batches_on_chain": len(events)}
    finally:
        proxy.cut()
        if own_node:
            node.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--outage-s", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="API processes sharing the database")
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(records=args.records, kills=args.kills, outage_s=args.outage_s, database_url=args.database_url,
                 clients=args.clients, workers=args.workers, say=lambda m: print(f"• {m}", file=sys.stderr, flush=True))
    print(json.dumps(result) if args.json else " ".join(f"{k}={v}" for k, v in result.items()))
    ok = result["acknowledged"] == result["present"] == result["anchored"] == result["verified"]
    return 0 if ok and result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
