"""The end-to-end demo: deploy, sign, submit over HTTP, anchor, verify, read with and without the patient's
consent, see the access log, tamper, detect."""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from bindaas.api.app import create_app
from bindaas.api.server import running_server
from bindaas.api.services import build_services
from bindaas.chain.access import ENROL_PER_TX, AccessChain
from bindaas.chain.client import ChainClient, connect, deploy
from bindaas.client import ApiError, BindaasClient
from bindaas.config import Settings
from bindaas.crypto.mldsa import PrivateKey
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.fhir.datasets import dataset_bundles
from bindaas.ledger.envelope import Envelope, build_envelope, endorse
from bindaas.store import repository


@dataclass
class Authority:
    address: str
    key: PrivateKey


def deploy_authorities(rpc_url: str | None, *, count: int = 3, threshold: int = 0
                       ) -> tuple[ChainClient, list[Authority]]:
    """Make ``count`` authorities (node accounts + fresh ML-DSA-65 keys) and deploy the contracts with them."""
    w3 = connect(rpc_url)
    authorities = [Authority(address, PrivateKey.generate()) for address in w3.eth.accounts[:count]]
    deployment = deploy(w3, authorities=[a.address for a in authorities],
                        public_keys=[a.key.public_key().raw for a in authorities], threshold=threshold)
    return ChainClient(w3, deployment), authorities


def enroll_patients(chain: ChainClient, keys: list[PrivateKey]) -> None:
    """Enrol ``keys`` as patients on chain (as the deployment's first authority), many per transaction, each with a
    fresh ML-KEM-768 key: an owner must be an enrolled identity before it can file records."""
    AccessChain(chain).enroll_many(keys=[(k.public_key().raw, KemPrivateKey.generate().public_key) for k in keys],
                                   role="patient")


def signed_envelope(bundle: dict[str, Any], chain: ChainClient, authorities: list[Authority],
                    owner: PrivateKey | None = None) -> Envelope:
    """Owner-sign ``bundle`` and have every authority endorse it. Without ``owner`` (an enrolled key), a fresh
    patient key is made and enrolled on chain first."""
    if owner is None:
        owner = PrivateKey.generate()
        enroll_patients(chain, [owner])
    envelope = build_envelope(bundle, owner=owner, chain_id=chain.chain_id, registry=chain.deployment.registry)
    for authority in authorities:
        envelope = endorse(envelope, authority_key=authority.key, authority=authority.address)
    return envelope


def signed_envelopes(bundles: list[dict[str, Any]], chain: ChainClient,
                     authorities: list[Authority]) -> list[Envelope]:
    """One enrolled patient per bundle (fresh keys, enrolled in batches), each owner-signing its record, every
    authority endorsing."""
    owners = [PrivateKey.generate() for _ in bundles]
    enroll_patients(chain, owners)
    return [signed_envelope(bundle, chain, authorities, owner=owner) for bundle, owner in zip(bundles, owners)]


def consent_walkthrough(record_id: str, patient: BindaasClient, clinician: BindaasClient, other: BindaasClient,
                        say: Callable[[str], None]) -> dict[str, Any]:
    """The patient grants one clinician read access on chain; that clinician reads, the other is refused; the
    patient sees both on the access log."""
    patient.set_consent(clinician.key_id)
    say(f"patient {patient.key_id[:18]}… granted clinician {clinician.key_id[:18]}… read access (signed, on chain)")
    opened = clinician.export(record_id)["bundle"]["resourceType"]
    say(f"consented clinician read the record: 200, {opened} decrypted with its own ML-KEM-768 key")
    try:
        other.record(record_id)
        refused = None
    except ApiError as exc:
        refused = exc.status
    say(f"non-consented clinician was refused: {refused}")
    deadline = time.monotonic() + 30  # audit batches are anchored within a batch delay, plus a block on a PoA chain
    while True:
        log = patient.access_log(patient.key_id, verify=True)["events"]
        if all(e["status"] == "anchored" for e in log) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    verified = sum(1 for e in log if e["verified"]["ok"] and e["status"] == "anchored")
    say(f"patient's access log: {len(log)} events ({', '.join(e['action'] + ('' if e['success'] else ' REFUSED') for e in log)}), "
        f"{verified} anchored and verified on chain")
    return {"consented_read_status": 200 if opened == "Bundle" else None, "non_consented_read_status": refused,
            "access_log_events": len(log), "access_log_verified": verified}


def prediction_walkthrough(record_id: str, bundles: list[dict[str, Any]], authority: BindaasClient,
                           clinician: BindaasClient, say: Callable[[str], None]) -> dict[str, Any]:
    """Train a DNN-2F on the records just verified; the consented clinician gets one patient's risk in words; a
    patient outside the model's population is refused with the reason."""
    model = authority.request("POST", "/models/train", json={"task": "chd-10y", "kind": "dnn2f", "device": "cpu"},
                              timeout=600)
    population = model["config"]["population"]
    say(f"trained DNN-2F {model['id'][:18]}… on {model['training_records']} verified records (AUROC "
        f"{model['metrics']['auroc']:.2f} on its held-out 20%); registered on chain in block {model['block']}")
    answer = clinician.request("POST", "/predict", json={"record_id": record_id})
    top = ", ".join(f"{c['feature']} {c['value']:g} ({c['contribution']:+.3f})" for c in answer["top_contributions"][:3])
    imputed = ", ".join(answer["imputed"]) or "nothing"
    sentence = (f"10-year coronary heart disease risk {answer['probability']:.0%} (model threshold "
                f"{answer['threshold']:.0%}); the model applies to {answer['applies_to']}; imputed: {imputed}; "
                f"what moved it most: {top}")
    say(f"consented clinician asked for the patient's risk: {sentence}")
    child = json.loads(json.dumps(bundles[1]))
    for entry in child["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "2012"  # 8 years old at the 2020 visit
    try:
        clinician.request("POST", "/predict", json={"bundle": child})
        refusal = None
    except ApiError as exc:
        refusal = exc.problem["detail"]
    say(f"a child's bundle was refused: {refusal}")
    return {"model_id": model["id"], "model_population": population, "prediction_probability": answer["probability"],
            "prediction_imputed": answer["imputed"], "prediction_top_contributions": answer["top_contributions"][:3],
            "prediction_out_of_distribution": answer["out_of_distribution"], "prediction_sentence": sentence,
            "refused_prediction_reason": refusal}


def run_demo(*, rpc_url: str | None = None, patients: int = 200, dataset: str = "framingham",
             data_dir: Path | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole path and return the figures the CLI prints."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="bindaas-demo-"))
    settings = Settings(data_dir=data_dir, rpc_url=rpc_url)
    chain, authorities = deploy_authorities(rpc_url)
    chain_name = "embedded (py-evm)" if chain.embedded else rpc_url
    say(f"chain {chain_name}, id {chain.chain_id}: registry {chain.deployment.registry}, "
        f"anchor {chain.deployment.anchor}, {len(authorities)} authorities, policy {chain.policy()['threshold']}-of-"
        f"{len(authorities)}")

    bundles = list(dataset_bundles(dataset, limit=patients))
    say(f"converted {len(bundles)} {dataset} patients to FHIR R4 bundles; signing (owner + "
        f"{len(authorities)} ML-DSA-65 endorsements each)")
    people = {role: (PrivateKey.generate(), KemPrivateKey.generate()) for role in ("patient", "clinician", "other")}
    owners = [PrivateKey.generate() for _ in bundles[1:]]
    enroll_patients(chain, owners)
    say(f"enrolled {len(owners)} patients' keys on chain ({ENROL_PER_TX} per transaction): only enrolled owners "
        f"may file records")

    services = build_services(settings, chain)
    app = create_app(settings, services=services)
    with running_server(app) as base_url, BindaasClient(base_url, key=authorities[0].key) as client:
        say(f"API at {base_url}; signed in as authority {client.sign_in()['key_id'][:18]}… (ML-DSA-65 challenge)")
        for role, (key, kem) in people.items():
            client.enroll(role="patient" if role == "patient" else "clinician", public_key=key.public_key().raw,
                          kem_public_key=kem.public_key)
        patient, clinician, other = (BindaasClient(base_url, key=k, kem_key=m) for k, m in people.values())
        say("enrolled on chain: 1 patient, 2 clinicians (ML-DSA-65 + ML-KEM-768 keys); submitting over HTTP")
        envelopes = [signed_envelope(bundle, chain, authorities, owner=owner)
                     for bundle, owner in zip(bundles, [people["patient"][0], *owners])]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            receipts = list(pool.map(client.submit, envelopes))
        submitted_s = time.perf_counter() - started
        ids = [r["id"] for r in receipts]
        client.wait_anchored(ids, timeout_s=120)
        anchored_s = time.perf_counter() - started
        say(f"{len(ids)} records accepted in {submitted_s:.2f} s, all anchored after {anchored_s:.2f} s")

        verdicts = [client.verify(rid)["verdict"] for rid in ids]
        verified = verdicts.count("valid")
        say(f"verified {verified}/{len(ids)} records against the chain")

        access = consent_walkthrough(ids[0], patient, clinician, other, say)
        predicted = prediction_walkthrough(ids[0], bundles, client, clinician, say)
        for person in (patient, clinician, other):
            person.close()

        with services.sessions() as session:
            batches = [b for b in repository.list_batches(session) if b.kind == "records"]
            anchored = repository.count_by_status(session).get("anchored", 0)
            victim = repository.get_record(session, record_id=ids[0])
            assert victim is not None
            payload = bytearray(victim.payload)
            payload[len(payload) // 2] ^= 0x01  # one bit of the encrypted payload
            repository.update_record(session, record_id=ids[0], values={"payload": bytes(payload)})
            session.commit()
        report = client.verify(ids[0])
        tamper_detected = report["verdict"] == "invalid"
        say(f"flipped one bit of stored record {ids[0][:18]}… (encrypted at rest): verdict {report['verdict']}, "
            f"failed check '{report['failed_check']}'")

    gas = [b.gas_used for b in batches if b.gas_used]
    return {
        "chain": chain_name, "chain_id": chain.chain_id, "registry": chain.deployment.registry,
        "records_submitted": len(ids), "records_anchored": anchored, "records_verified": verified,
        "batches": len(batches), **access, **predicted, "tamper_detected": tamper_detected, "tamper_failed_check": report["failed_check"],
        "submit_records_per_s": round(len(ids) / submitted_s, 1),
        "submit_to_all_anchored_s": round(anchored_s, 2),
        "gas_per_batch": round(sum(gas) / len(gas)) if gas else None,
        "gas_per_record": round(sum(gas) / len(ids)) if gas else None,
        "data_dir": str(data_dir),
    }
