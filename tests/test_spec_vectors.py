"""The byte layouts of docs/spec.md as the Python primitives compute them equal the offline vectors the JavaScript
verifier's unit tests check (js/verifier/test/offline-vectors.json), so the two implementations are held to one
set of bytes; a change to either side, or to the vectors, fails here or there."""

from __future__ import annotations

import importlib.util
import json

from bindaas.crypto.mldsa import OWNER_CONTEXT, PublicKey, unb64
from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("offline_vectors", ROOT / "scripts" / "offline_vectors.py")
offline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(offline)


def test_the_shipped_offline_vectors_are_what_the_python_primitives_compute():
    shipped = json.loads(offline.OUT.read_text())
    fresh = offline.make()
    assert {k: v for k, v in shipped.items() if k != "owner"} == {k: v for k, v in fresh.items() if k != "owner"}
    owner = shipped["owner"]
    PublicKey.from_bytes(unb64(owner["public_key"], field="key")).verify(
        unb64(owner["signature"], field="signature"), bytes.fromhex(shipped["message"][2:]), context=OWNER_CONTEXT)
