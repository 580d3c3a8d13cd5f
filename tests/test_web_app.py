"""The web app in a real browser (Debian's Chromium driven by Playwright): a patient signs in with her key file and
grants one clinician access; that clinician opens the record (a clinical summary and the risk); the other is
refused in words; the patient's access log shows both; the auditor verifies the record (independently, against
the Hardhat node's JSON-RPC; through the service, said plainly, on the embedded chain) and, after one stored byte
is changed, sees it invalid with the check named. Keys never leave the page, and a reload forgets them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bindaas.client import CONSENT_TIMEOUT_S
from bindaas.crypto.mldsa import PrivateKey
from bindaas.crypto.sealing import KemPrivateKey
from bindaas.demo import signed_envelope
from bindaas.fhir.datasets import dataset_bundles
from bindaas.store import repository
from tests.conftest import node_url
from tests.helpers import ROOT

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by scripts/test.sh")


@pytest.fixture(params=["embedded", pytest.param("hardhat", marks=pytest.mark.hardhat)])
def chain_url(request):
    return node_url(request)


def _key_file(folder: Path, name: str, key: PrivateKey, kem: KemPrivateKey) -> Path:
    path = folder / f"{name}.json"
    key.save(path)
    kem.save(path)
    return path


def _person(service, folder: Path, name: str, role: str) -> tuple[PrivateKey, Path]:
    key, kem = PrivateKey.generate(), KemPrivateKey.generate()
    service.client.enroll(role=role, public_key=key.public_key().raw, kem_public_key=kem.public_key)
    return key, _key_file(folder, name, key, kem)


def test_the_whole_scenario_in_a_real_browser(service, chain_url, tmp_path):
    shots = Path(os.environ.get("BINDAAS_SCREENSHOTS", tmp_path))
    training = PrivateKey.generate()
    from bindaas.demo import enroll_patients

    enroll_patients(service.chain, [training])
    bundles = list(dataset_bundles("framingham", limit=141))
    service.client.submit_bulk([signed_envelope(b, service.chain, service.authorities, owner=training)
                                for b in bundles[1:]])
    service.services.anchorer.drain()
    assert service.client.http.post("/models/train", json={"kind": "logreg"}, timeout=300).status_code == 201

    patient, patient_file = _person(service, tmp_path, "patient", "patient")
    doctor, doctor_file = _person(service, tmp_path, "doctor", "clinician")
    other, other_file = _person(service, tmp_path, "other", "clinician")
    _, auditor_file = _person(service, tmp_path, "auditor", "auditor")
    record = service.client.submit(signed_envelope(bundles[0], service.chain, service.authorities, owner=patient))["id"]
    service.client.wait_anchored([record], timeout_s=30)
    trust = tmp_path / "trust.json"
    deployment = service.chain.deployment
    trust.write_text(json.dumps({"spec": "bindaas-trust/1", "chain_id": deployment.chain_id, "confirmations": 0,
                                 "contracts": {"authority_registry": deployment.registry, "record_anchor": deployment.anchor,
                                               "identity_registry": deployment.identities}}))

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        response = page.goto(f"{service.url}/app/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")

        def sign_in(path: Path) -> None:
            page.set_input_files("#key-file", str(path))
            page.click("#sign-in")
            page.wait_for_selector("#sign-out")

        def sign_out() -> None:
            page.click("#sign-out")
            page.wait_for_selector("#key-file")
            assert page.evaluate("window.bindaas.key") is None

        sign_in(patient_file)
        page.wait_for_selector("#my-records table")
        assert page.evaluate("window.bindaas.key.keyId") == patient.public_key().key_id
        page.fill("#grantee", doctor.public_key().key_id)
        page.click("#grant")
        # A patient's first grant on Hardhat registers and proves her key on chain first: as long as the Python
        # client waits for it, not Playwright's default 30 s.
        page.wait_for_selector("#patient-status[data-kind=ok]", timeout=CONSENT_TIMEOUT_S * 1000)
        assert "Granted read access" in page.inner_text("#patient-status")
        page.screenshot(path=str(shots / "web-patient.png"), full_page=True)
        page.reload()  # a reload forgets the key: back to the sign-in page
        page.wait_for_selector("#key-file")
        assert page.evaluate("window.bindaas.key") is None

        sign_in(doctor_file)
        page.click(f"button[data-record='{record}']")
        page.wait_for_selector("#risk")
        assert "10-year coronary heart disease risk" in page.inner_text("#risk")
        assert "Observations" in page.inner_text("#record-detail") and page.locator("#record-detail svg").count() == 1
        page.screenshot(path=str(shots / "web-clinician.png"), full_page=True)
        sign_out()

        sign_in(other_file)
        assert "No patient has given you access yet." in page.inner_text("#readable")
        page.fill("#record-id", record)
        page.click("#open-by-id")
        page.wait_for_selector("#clinician-status[data-kind=error]")
        assert "that you may see" in page.inner_text("#clinician-status")
        sign_out()

        sign_in(patient_file)
        page.wait_for_selector("#access-log li")
        log = page.inner_text("#access-log")
        assert doctor.public_key().key_id[:10] in log and other.public_key().key_id[:10] in log and "refused" in log
        sign_out()

        sign_in(auditor_file)
        page.fill("#verify-record", record)
        if chain_url:
            page.fill("#rpc-url", chain_url)
            page.set_input_files("#trust-file", str(trust))
            page.wait_for_selector("#auditor-status[data-kind=ok]")
        page.click("#verify")
        page.wait_for_selector("#verdict")
        assert page.inner_text("#verdict") == "VALID"
        assert page.locator("#not-independent").count() == (0 if chain_url else 1)
        verify_ms = page.evaluate("window.bindaas.lastVerifyMs ?? null")
        page.screenshot(path=str(shots / f"web-auditor{'' if chain_url else '-embedded'}.png"), full_page=True)

        with service.services.sessions() as session:  # one stored byte changed: the owner's signature
            row = repository.get_record(session, record_id=record)
            changed = bytearray(row.owner_signature)
            changed[7] ^= 0x01
            repository.update_record(session, record_id=record, values={"owner_signature": bytes(changed)})
            session.commit()
        page.click("#verify")
        page.wait_for_selector('#verdict.invalid')
        assert page.inner_text("#verdict") == "INVALID: the owner's signature failed"
        browser.close()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    (tmp_path / "timings.json").write_text(json.dumps({"page_load_ms": load_ms, "verify_ms": verify_ms}))
    print(f"web app: page load {load_ms:.0f} ms, in-browser verification {verify_ms} ms")


def test_the_shipped_bundle_is_what_a_fresh_build_makes(tmp_path):
    if shutil.which("node") is None or not (ROOT / "node_modules" / "esbuild").exists():
        pytest.skip("node and `npm ci` are needed to rebuild the bundle")
    subprocess.run(["node", "web/build.mjs", "--out", str(tmp_path)], cwd=ROOT, check=True, timeout=120)
    for name in ("app.js", "app.css", "index.html"):
        assert (tmp_path / name).read_bytes() == (ROOT / "bindaas" / "web" / "static" / name).read_bytes(), \
            f"bindaas/web/static/{name} differs from a fresh build: run `node web/build.mjs`"
