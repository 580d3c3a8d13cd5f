// The auditor: verify any record with the independent verifier (js/verifier) against a JSON-RPC node the auditor
// chooses and a trust root the auditor holds; the audit log's check; models and their provenance.
import { verifyReceipt, JsonRpcReader } from "../../../js/verifier/verify.mjs";
import { h, say, section, short, statusLine, table } from "../dom.mjs";

const NAMES = {
  receipt_format: "the receipt is well formed", trust_root: "chain and contracts are the ones you trust",
  digest: "the content matches the record id", owner_signature: "the owner's signature",
  owner_identity: "the owner is an enrolled patient or clinician", policy: "enough authorities endorsed it",
  merkle_proof: "the record is in its batch", anchor_on_chain: "the batch is anchored on chain",
  finality: "the anchor is final", chain_reachable: "the chain node answered",
};
const plain = (name) => NAMES[name] ?? (name.startsWith("endorsement") ? `authority endorsement ${name.slice(11)}` : name);

export async function auditorScreen(app) {
  const { api } = app;
  const status = statusLine("auditor-status");
  const report = h("div", { id: "report" });
  const record = h("input", { id: "verify-record", size: 70, autocomplete: "off" });
  const rpc = h("input", { id: "rpc-url", size: 40, placeholder: "http://127.0.0.1:8545", autocomplete: "url" });
  const trustFile = h("input", { id: "trust-file", type: "file", accept: "application/json" });
  let trust = null;
  trustFile.addEventListener("change", async () => {
    try { trust = JSON.parse(await trustFile.files[0].text()); say(status, `Trust root loaded: chain ${trust.chain_id}.`, "ok"); }
    catch { say(status, "That trust root is not JSON.", "error"); }
  });

  function show(result, independent, ms) {
    const failed = result.failed_check;
    report.replaceChildren(
      h("p", { id: "verdict", class: `verdict ${result.verdict}` },
        result.verdict === "valid" ? "VALID" : result.verdict === "not-final" ? "NOT FINAL YET" : `INVALID: ${plain(failed)} failed`),
      independent ? h("p", {}, `Checked in this browser in ${ms.toFixed(0)} ms against ${rpc.value}, trusting only your trust root.`)
        : h("p", { class: "warning", role: "alert", id: "not-independent" }, "This check ran on the BinDaaS server itself (the embedded chain has no JSON-RPC node): it is NOT an independent verification."),
      table(["Check", "Result", "Detail"], result.checks.map((c) => [plain(c.name), c.skipped ? "not checked" : c.ok ? "passed" : "FAILED", c.detail])));
  }

  async function verify(event) {
    event.preventDefault();
    const id = record.value.trim();
    report.replaceChildren();
    try {
      if (rpc.value.trim()) {
        if (!trust) throw new Error("load the trust root your consortium published (bindaas trust-root) first");
        const receipt = await api.get(`/records/${id}/receipt`);
        const started = performance.now();
        const result = await verifyReceipt(receipt, null, { rpc: new JsonRpcReader(rpc.value.trim()), trust });
        show(result, true, performance.now() - started);
        app.lastVerifyMs = performance.now() - started;
      } else {
        show(await api.get(`/records/${id}/verify`), false, 0);
      }
      say(status, "Verification done.", "ok");
    } catch (err) { say(status, err.message, "error"); }
  }

  const form = h("form", { on: { submit: verify } },
    h("label", { for: "verify-record" }, "Record id"), record,
    h("label", { for: "rpc-url" }, "JSON-RPC URL of the chain (leave empty to ask the service: not independent)"), rpc,
    h("label", { for: "trust-file" }, "Trust root (trust.json)"), trustFile, h("button", { type: "submit", id: "verify" }, "Verify"));

  const audit = h("div", { id: "audit-log" });
  const models = h("div", { id: "models" });
  app.main.replaceChildren(h("h1", {}, "Audit"), status, section("Verify a record independently", form, report),
    section("The audit log against the chain", audit), section("Models and their provenance", models));
  const log = await api.get("/audit/verify");
  audit.replaceChildren(h("p", { class: `verdict ${log.verdict}` }, log.verdict === "valid"
    ? `VALID: ${log.anchored_events} audit events in ${log.audit_batches} batches and ${log.anchored_records} records in ${log.record_batches} batches match the chain.`
    : `INVALID: ${log.problems.join("; ")}`));
  const { models: rows } = await api.get("/models");
  const checked = await Promise.all(rows.map((m) => api.get(`/models/${m.id}/verify`)));
  models.replaceChildren(rows.length ? table(["Model", "Task", "Trained on", "Provenance"], rows.map((m, i) => [
    `${short(m.id)} (${m.kind})`, m.task, `${m.training_records} verified records`,
    checked[i].verdict === "valid" ? "matches the chain" : `FAILED: ${checked[i].failed_check}`])) : h("p", {}, "No models yet."));
}
