"""Anyone can verify a record without trusting the server: the Python and JavaScript verifiers run every shared
conformance vector against a Hardhat node and agree with each other, with each vector's expected verdict, and with
the server's own /verify when the same fault is put into its store."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import update

from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.mldsa import unb64
from bindaas.store import repository
from bindaas.store.models import BatchRow, RecordRow
from bindaas.verifier import JsonRpcReader, TrustRoot, verify_receipt
from bindaas.verifier.procedure import path_directions
from tests.helpers import ROOT, rewrite_payload

pytestmark = pytest.mark.hardhat
_spec = importlib.util.spec_from_file_location("conformance_vectors", ROOT / "scripts" / "conformance_vectors.py")
vectors_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vectors_script)


@pytest.fixture
def chain_url(hardhat_node):
    return hardhat_node.url


@pytest.fixture
def vectors(service, tmp_path):
    made = vectors_script.make_vectors(service.url, service.chain, service.authorities)
    vectors_script.write_vectors(made, tmp_path / "vectors")
    return {v["name"]: v for v in made}, tmp_path / "vectors"


def _summary(report: dict) -> tuple:
    return report["verdict"], report["failed_check"], [(c["name"], c["ok"]) for c in report["checks"]]


def _python(vector, url) -> dict:
    return verify_receipt(vector["receipt"], vector["bundle"], rpc=JsonRpcReader(url),
                          trust=TrustRoot.from_json(vector["trust"])).to_json()


def test_both_verifiers_give_every_vector_its_expected_verdict_and_agree_check_by_check(vectors, hardhat_node):
    made, folder = vectors
    assert {"valid-patient-owner", "valid-clinician-owner", "digest", "owner-signature", "owner-identity",
            "endorsement-0", "endorsement-1", "endorsement-2", "policy", "merkle-proof", "anchor-missing",
            "wrong-trust-root", "not-final", "receipt-format"} <= set(made)
    out = subprocess.run(["node", "js/verifier/cli.mjs", "--vectors", str(folder), "--rpc", hardhat_node.url],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    javascript = json.loads(out.stdout)
    assert set(javascript) == set(made)
    for name, vector in made.items():
        expected = (vector["expect"]["verdict"], vector["expect"]["failed_check"])
        python = _python(vector, hardhat_node.url)
        assert (python["verdict"], python["failed_check"]) == expected, (name, python)
        assert _summary(javascript[name]) == _summary(python), name


def test_the_cli_exits_zero_only_for_a_valid_record(vectors, hardhat_node, tmp_path):
    made, _ = vectors
    for name, code in (("valid-patient-owner", 0), ("owner-identity", 1)):
        for part in ("receipt", "bundle", "trust"):
            (tmp_path / f"{part}.json").write_text(json.dumps(made[name][part]))
        python = subprocess.run([str(ROOT / ".venv" / "bin" / "bindaas"), "verify-receipt", str(tmp_path / "receipt.json"),
                                 "--bundle", str(tmp_path / "bundle.json"), "--rpc", hardhat_node.url,
                                 "--trust", str(tmp_path / "trust.json")], capture_output=True, text=True, timeout=60)
        javascript = subprocess.run(["node", "js/verifier/cli.mjs", str(tmp_path / "receipt.json"), "--bundle",
                                     str(tmp_path / "bundle.json"), "--rpc", hardhat_node.url, "--trust",
                                     str(tmp_path / "trust.json")], cwd=ROOT, capture_output=True, text=True,
                                    timeout=60)
        assert (python.returncode, javascript.returncode) == (code, code), (python.stderr, javascript.stderr)
        assert json.loads(python.stdout)["verdict"] == json.loads(javascript.stdout)["verdict"]


def _tamper(service, record_id: str, tamper: dict) -> None:
    """Put the vector's fault into the server's own store (or settings)."""
    kind = tamper["kind"]
    values: dict = {}
    if kind == "bundle":
        rewrite_payload(service.services, record_id, lambda _: canonical_json(tamper["bundle"]).decode())
    elif kind == "owner":
        values = {"owner_public_key": unb64(tamper["owner"]["public_key"], field="owner"),
                  "owner_signature": unb64(tamper["owner"]["signature"], field="owner")}
    elif kind == "endorsements":
        values = {"endorsements": [{k: e[k] for k in ("key_id", "authority", "signature")}
                                   for e in tamper["endorsements"]]}
    elif kind in ("proof", "batch"):
        with service.services.sessions() as session:
            row = session.query(RecordRow).filter_by(id=record_id).one()
            size = tamper.get("size") or session.get(BatchRow, row.batch_id).size
            index = 0 if kind == "batch" else row.leaf_index
            path = tamper.get("path") or [step["sibling"] for step in tamper["proof"]]
            values = {"proof": [{"sibling": s, "position": "left" if left else "right"}
                                for s, left in zip(path, path_directions(index, size))]}
            if kind == "batch":
                session.execute(update(BatchRow).where(BatchRow.id == row.batch_id).values(root=tamper["root"]))
                session.commit()
    elif kind == "confirmations":
        service.services.settings.confirmations = tamper["confirmations"]
    if values:
        with service.services.sessions() as session:
            repository.update_record(session, record_id=record_id, values=values)
            session.commit()


@contextmanager
def _restored(service, record_id: str):
    """Undo a tamper afterwards: the vectors share their records."""
    columns = ("payload", "owner_public_key", "owner_signature", "endorsements", "proof")
    with service.services.sessions() as session:
        row = session.query(RecordRow).filter_by(id=record_id).one()
        saved = {c: getattr(row, c) for c in columns}
        batch_id, root = row.batch_id, session.get(BatchRow, row.batch_id).root
    try:
        yield
    finally:
        service.services.settings.confirmations = 0
        with service.services.sessions() as session:
            repository.update_record(session, record_id=record_id, values=saved)
            session.execute(update(BatchRow).where(BatchRow.id == batch_id).values(root=root))
            session.commit()


def test_the_servers_verify_agrees_with_the_independent_verifiers(vectors, service):
    made, _ = vectors
    compared = []
    for name, vector in made.items():
        if vector["tamper"] is None:  # trust-root and receipt-format faults exist only outside the server
            continue
        record_id = vector["receipt"]["record_id"]
        with _restored(service, record_id):
            _tamper(service, record_id, vector["tamper"])
            report = service.client.verify(record_id)
        assert (report["verdict"], report["failed_check"]) == (vector["expect"]["verdict"],
                                                               vector["expect"]["failed_check"]), (name, report)
        compared.append(name)
    assert len(compared) == 12


def test_an_independent_verification_over_loopback_takes_under_100_ms(vectors, hardhat_node):
    made, _ = vectors
    rpc = JsonRpcReader(hardhat_node.url)
    vector = made["valid-patient-owner"]
    trust = TrustRoot.from_json(vector["trust"])
    times = []
    for _ in range(20):
        started = time.perf_counter()
        assert verify_receipt(vector["receipt"], vector["bundle"], rpc=rpc, trust=trust).verdict == "valid"
        times.append(time.perf_counter() - started)
    assert sorted(times)[len(times) // 2] < 0.1
