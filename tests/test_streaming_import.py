"""A hospital loads its history as NDJSON: streamed, one result per line in order (records, or problems naming the
line), safe to send again, every record anchored and valid."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest

from bindaas.client import BindaasClient
from bindaas.demo import signed_envelopes
from bindaas.ndjson_import import Progress, import_file


def _lines(envelopes) -> list[bytes]:
    return [e.model_dump_json().encode() + b"\n" for e in envelopes]


def test_a_streamed_file_is_stored_line_by_line_with_problems_named_and_can_be_sent_again(service, framingham_bundles,
                                                                                           tmp_path):
    envelopes = signed_envelopes(framingham_bundles[:6], service.chain, service.authorities)
    lines = _lines(envelopes)
    lines.insert(2, b'{"not": "an envelope"}\n')
    tampered = json.loads(lines[4])
    tampered["salt"] = "00" * 32  # the signatures no longer cover it
    lines[4] = json.dumps(tampered).encode() + b"\n"
    lines.insert(5, b"\n")  # a blank line is skipped, not an error
    headers = {"authorization": service.client.http.headers["authorization"], "content-type": "application/x-ndjson"}
    with httpx.Client(base_url=service.url, timeout=60) as http:
        answer = http.post("/records/import", content=iter(lines), headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    results = [json.loads(x) for x in answer.text.splitlines()]
    summary = results.pop()["summary"]
    assert summary == {"lines": 8, "accepted": 5, "created": 5, "refused": 2}
    assert [r["line"] for r in results] == [1, 2, 3, 4, 5, 7, 8]
    assert results[2]["problem"]["field"] == "bundle" and results[2]["line"] == 3
    assert results[4]["line"] == 5 and results[4]["problem"]["status"] == 422
    ids = [r["id"] for r in results if "id" in r]
    service.client.wait_anchored(ids, timeout_s=30)
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)

    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(_lines(envelopes)))
    again = import_file(service.client, path, slice_bytes=4 * len(lines[0]), progress=Progress(path.stat().st_size,
                                                                                   out=io.StringIO()))
    assert (again["accepted"], again["created"], again["refused"]) == (6, 1, 0)  # the tampered one's twin is new


def test_the_import_takes_ndjson_only(service):
    headers = {"authorization": service.client.http.headers["authorization"], "content-type": "application/json"}
    answer = httpx.post(f"{service.url}/records/import", content=b"{}", headers=headers)
    assert answer.status_code == 415 and answer.json()["field"] == "Content-Type"


def test_a_line_that_is_not_json_is_named_malformed_and_the_lines_around_it_are_stored(service, framingham_bundles):
    envelopes = signed_envelopes(framingham_bundles[6:8], service.chain, service.authorities)
    lines = _lines(envelopes)
    lines.insert(1, b'{"bundle": {"resourceType": "Bundle", "entry": [}\n')
    headers = {"authorization": service.client.http.headers["authorization"], "content-type": "application/x-ndjson"}
    answer = httpx.post(f"{service.url}/records/import", content=b"".join(lines), headers=headers, timeout=60)
    results = [json.loads(x) for x in answer.text.splitlines()]
    assert results.pop()["summary"] == {"lines": 3, "accepted": 2, "created": 2, "refused": 1}
    problem = results[1]["problem"]
    assert results[1]["line"] == 2 and problem["type"] == "urn:bindaas:problem:malformed-json"
    assert problem["status"] == 422 and "JSON" in problem["detail"]
    assert [r["line"] for r in results if "id" in r] == [1, 3]


def test_the_import_client_locates_its_slices_one_ahead_not_all_at_once(service, framingham_bundles, tmp_path,
                                                                          monkeypatch):
    import bindaas.ndjson_import as ndjson_import

    envelopes = signed_envelopes(framingham_bundles[:5], service.chain, service.authorities)
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(_lines(envelopes)))
    read, sent, ahead = [0], [0], []
    slices = ndjson_import._slices

    def counted(*args):
        for item in slices(*args):
            read[0] += 1
            yield item

    post = service.client.http.post

    def posting(url, *args, **kwargs):
        if url != "/records/import":  # signing in
            return post(url, *args, **kwargs)
        ahead.append(read[0] - sent[0])  # slices located in the file and not yet answered
        answer = post(url, *args, **kwargs)
        sent[0] += 1
        return answer

    monkeypatch.setattr(ndjson_import, "_slices", counted)
    monkeypatch.setattr(service.client.http, "post", posting)
    summary = import_file(service.client, path, slice_bytes=1, parallel=1,
                          progress=Progress(path.stat().st_size, out=io.StringIO()))
    assert (summary["accepted"], summary["refused"]) == (5, 0)
    assert max(ahead) <= 2  # the slice being sent and one located ahead, of five


def test_refusals_name_their_line_in_the_file_across_slices_and_a_last_line_without_newline(service,
                                                                                            framingham_bundles,
                                                                                            tmp_path):
    envelopes = signed_envelopes(framingham_bundles[7:12], service.chain, service.authorities)
    lines = _lines(envelopes)
    lines.insert(2, b"\n")  # a blank line counts, as the server counts it
    lines.insert(5, b'{"not": "an envelope"}\n')  # line 6
    lines[-1] = lines[-1].rstrip(b"\n")  # line 7 ends the file without a newline
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(lines))
    summary = import_file(service.client, path, slice_bytes=1, parallel=2,  # a slice a line
                          progress=Progress(path.stat().st_size, out=io.StringIO()))
    assert (summary["accepted"], summary["created"], summary["refused"]) == (5, 5, 1)
    assert [r["line"] for r in summary["first_refusals"]] == [6]


def test_an_import_begun_with_an_expired_token_signs_in_again_and_completes(service, framingham_bundles, tmp_path):
    envelopes = signed_envelopes(framingham_bundles[:2], service.chain, service.authorities)
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(_lines(envelopes)))
    key = service.authorities[0].key
    old, _ = service.services.tokens.mint(key_id=service.client.key_id, role="authority", now=time.time() - 10_000)
    with BindaasClient(service.url, key=key) as client:
        client.token = old
        client.http.headers["authorization"] = f"Bearer {old}"
        summary = import_file(client, path, slice_bytes=1, parallel=1,
                              progress=Progress(path.stat().st_size, out=io.StringIO()))
        assert (summary["accepted"], summary["refused"]) == (2, 0) and client.token != old


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_slices_cover_the_input_once_each_cut_where_a_line_starts(tmp_path, source):
    import os
    import threading

    from bindaas.ndjson_import import _slices

    text = b"".join(b"x" * (n * 37 % 500) + b"\n" for n in range(300)) + b"last line, no newline"
    for slice_bytes in (1, 100, 4096, len(text), 10 * len(text)):
        path = tmp_path / f"lines-{slice_bytes}.ndjson"
        if source == "file":
            path.write_bytes(text)
        else:
            os.mkfifo(path)
            threading.Thread(target=path.write_bytes, args=(text,)).start()
        cuts = list(_slices(path, slice_bytes))
        bodies = [b"".join(cut.body()) for cut in cuts]
        assert [cut.index for cut in cuts] == list(range(len(cuts)))
        assert b"".join(bodies) == text and [len(body) for body in bodies] == [cut.size for cut in cuts]
        assert all(body.endswith(b"\n") for body in bodies[:-1])  # the next slice starts a line
        assert all(len(body) >= slice_bytes for body in bodies[:-1])


def test_the_cli_imports_a_file_and_exits_non_zero_naming_the_refused_line(service, framingham_bundles, tmp_path,
                                                                           capsys):
    from bindaas.cli import main

    envelopes = signed_envelopes(framingham_bundles[2:5], service.chain, service.authorities)
    lines = _lines(envelopes)
    lines.insert(1, b'{"not": "an envelope"}\n')
    path = tmp_path / "history.ndjson"
    path.write_bytes(b"".join(lines))
    key = tmp_path / "authority.json"
    service.authorities[0].key.save(key, address=service.authorities[0].address)
    code = main(["import-ndjson", str(path), "--slice-mb", "0.03", "--key", str(key), "--api", service.url])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and (summary["accepted"], summary["refused"]) == (3, 1)
    assert [r["line"] for r in summary["first_refusals"]] == [2]


def test_a_pipe_is_imported_a_slice_at_a_time_with_refusals_named_by_their_line(service, framingham_bundles,
                                                                               tmp_path):
    import os
    import threading

    envelopes = signed_envelopes(framingham_bundles[9:12], service.chain, service.authorities)
    lines = _lines(envelopes)
    lines.insert(2, b'{"not": "an envelope"}\n')
    pipe = tmp_path / "history.pipe"
    os.mkfifo(pipe)

    def write() -> None:
        with pipe.open("wb") as out:
            out.write(b"".join(lines))

    writer = threading.Thread(target=write)
    writer.start()
    summary = import_file(service.client, pipe, slice_bytes=len(lines[0]) // 2, parallel=2,
                          progress=Progress(0, out=io.StringIO()))
    writer.join(10)
    assert (summary["accepted"], summary["refused"]) == (3, 1)
    assert [r["line"] for r in summary["first_refusals"]] == [3]
