"""The CLI does the sign-in handshake for the user: enrol, grant consent, read, revoke, see the access log."""

from __future__ import annotations

import json
from pathlib import Path

from bindaas.cli import main
from bindaas.demo import signed_envelope
from bindaas.crypto.mldsa import PrivateKey


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_consent_with_the_cli(service, tmp_path, capsys, framingham_bundles):
    api = ["--api", service.url]
    authority = tmp_path / "authority.json"
    service.authorities[0].key.save(authority, address=service.authorities[0].address)
    patient, clinician = tmp_path / "patient.json", tmp_path / "clinician.json"
    ids = {}
    for name, path in (("patient", patient), ("clinician", clinician)):
        code, out, _ = _run(capsys, "keygen", "--out", str(path))
        ids[name] = json.loads(out)["key_id"]
        code, out, _ = _run(capsys, "enroll", str(path), "--role", name, "--key", str(authority), *api)
        assert code == 0 and json.loads(out)["role"] == name

    code, out, _ = _run(capsys, "login", "--key", str(clinician), *api)
    assert (code, json.loads(out)["role"]) == (0, "clinician")

    envelope = signed_envelope(framingham_bundles[0], service.chain, service.authorities,
                               owner=PrivateKey.load(patient))
    record = service.client.submit(envelope)["id"]

    code, _, err = _run(capsys, "read", record, "--key", str(clinician), *api)
    assert code == 2 and "404" in err and "that you may see" in err
    code, out, _ = _run(capsys, "consent", "grant", ids["clinician"], "--key", str(patient), *api)
    assert code == 0 and json.loads(out)["in_force"] is True
    service.client.wait_anchored([record], timeout_s=30)
    code, out, _ = _run(capsys, "read", record, "--export", "--key", str(clinician), "--out", str(tmp_path), *api)
    written = json.loads(out)["written"]
    assert code == 0 and json.loads(Path(written["bundle"]).read_text()) == framingham_bundles[0]
    assert json.loads(Path(written["receipt"]).read_text())["record_id"] == record
    code, out, _ = _run(capsys, "consent", "revoke", ids["clinician"], "--key", str(patient), *api)
    assert code == 0 and json.loads(out)["in_force"] is False
    code, _, err = _run(capsys, "read", record, "--key", str(clinician), *api)
    assert code == 2 and "404" in err  # revoked: as if the record were not there

    code, out, _ = _run(capsys, "access-log", ids["patient"], "--key", str(patient), *api)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 5
    assert "REFUSED" in lines[0] and "export" in lines[2] and "REFUSED" in lines[4]
