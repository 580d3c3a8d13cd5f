"""Completeness of the record store: every anchored record batch must still hold exactly the records its on-chain
root and count commit to. A deleted record, or one whose id, acceptance block, proof or content was changed, is
named by batch, leaf index and record id; /verify of one record cannot notice a record that is gone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from bindaas.chain.client import ChainClient
from bindaas.crypto.digest import record_digest, record_leaf
from bindaas.crypto.merkle import ProofStep, root_from_proof
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.errors import RecordDamaged
from bindaas.ledger.payload import open_payload
from bindaas.store import repository
from bindaas.store.models import BatchRow, RecordRow


@dataclass(frozen=True)
class RecordProblem:
    batch: str
    leaf_index: int | None
    record_id: str | None
    problem: str

    def sentence(self) -> str:
        return f"batch {self.batch}, leaf {self.leaf_index}, record {self.record_id}: {self.problem}"


def _row_problem(row: RecordRow, batch: BatchRow, service_key: KemPrivateKey) -> str | None:
    try:
        digest = bytes.fromhex(row.id.removeprefix("0x"))
        steps = [ProofStep.from_json(step) for step in row.proof or []]
    except (KeyError, ValueError, TypeError, AttributeError):
        return "its id or proof is malformed"
    if "0x" + root_from_proof(record_leaf(digest, row.accepted_block), steps).hex() != batch.root:
        return "its id, acceptance block or proof changed: it no longer leads to the anchored root"
    if batch.members and row.leaf_index is not None and row.leaf_index < len(batch.members) \
            and batch.members[row.leaf_index] != row.id:
        return f"it sits where {batch.members[row.leaf_index]} was anchored"
    try:
        content_ok = "0x" + record_digest(open_payload(row, service_key), bytes(row.salt)).hex() == row.id
    except (RecordDamaged, ValueError):
        content_ok = False
    return None if content_ok else "its stored content or salt changed: it no longer hashes to its id"


def check_record_batches(session: Session, chain: ChainClient, service_key: KemPrivateKey) -> dict[str, Any]:
    """Check every anchored record batch against the chain; returns counts and the problems found."""
    problems: list[RecordProblem] = []
    batches = [b for b in repository.list_batches(session) if b.kind == "records" and b.status == "anchored"]
    records = 0
    for batch in batches:
        rows = repository.batch_records(session, batch_id=batch.id, ledger=RecordRow)
        records += len(rows)
        anchor = chain.anchor_of(bytes.fromhex(batch.root[2:]))
        if anchor is None:
            problems.append(RecordProblem(batch.root, None, None, "the batch root is not anchored on chain"))
            continue
        present = {row.leaf_index for row in rows}
        for index in range(max(anchor.record_count, batch.size)):
            if index not in present:
                member = batch.members[index] if batch.members and index < len(batch.members) else None
                problems.append(RecordProblem(batch.root, index, member, "deleted: the chain commits to a record "
                                              "at this leaf and the store no longer holds it"))
        for row in rows:
            problem = _row_problem(row, batch, service_key)
            if problem is not None:
                problems.append(RecordProblem(batch.root, row.leaf_index, row.id, problem))
    return {"record_batches": len(batches), "anchored_records": records,
            "record_problems": [asdict(p) for p in problems], "problems": [p.sentence() for p in problems]}
