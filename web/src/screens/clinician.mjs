// The clinician: records I may read, one patient's record as a clinical summary (decrypted here), and the risk
// with its model, its on-chain provenance and a chart of what moved it.
import { h, say, section, short, statusLine, table } from "../dom.mjs";
import { openExport } from "../keys.mjs";
import { clinicalSummary, contributionChart } from "../summary.mjs";

export async function clinicianScreen(app) {
  const { api, key } = app;
  const status = statusLine("clinician-status");
  const list = h("div", { id: "readable" });
  const detail = h("div", { id: "record-detail" });
  const recordInput = h("input", { id: "record-id", name: "record", size: 70, autocomplete: "off", pattern: "0x[0-9a-fA-F]{64}" });

  async function open(id) {
    detail.replaceChildren();
    say(status, `Opening ${short(id)}…`);
    try {
      const exported = await api.get(`/records/${id}/export`);
      const bundle = await openExport(key, exported);
      detail.replaceChildren(h("h2", { id: "open-record", tabindex: "-1" }, `Record ${short(id)}`), clinicalSummary(bundle), await risk(id));
      say(status, "Record decrypted with your key; its digest matches its id.", "ok");
      detail.querySelector("#open-record").focus();
    } catch (err) { say(status, err.message, "error"); }
  }

  async function risk(id) {
    let answer;
    try {
      answer = await api.post("/predict", { record_id: id });
    } catch (err) {
      return section("Risk", h("p", { class: "error", id: "risk-refused" }, err.message));
    }
    let provenance = "";
    try {
      const check = await api.get(`/models/${answer.model_id}/verify`);
      provenance = check.verdict === "valid" ? "model weights, training-set root and metrics match the chain"
        : `provenance check FAILED: ${check.failed_check}`;
    } catch (err) { provenance = err.message; }
    return section("Risk",
      h("p", { id: "risk", class: "risk" }, `10-year coronary heart disease risk: ${(answer.probability * 100).toFixed(0)} %`),
      answer.out_of_distribution ? h("p", { class: "warning", role: "alert" }, answer.out_of_distribution.warning) : null,
      h("p", {}, `Model ${short(answer.model_id)} (${answer.kind}), applies to ${answer.applies_to}. Provenance: ${provenance}.`),
      answer.imputed.length ? h("p", {}, `Imputed (not in the record): ${answer.imputed.join(", ")}.`) : null,
      h("figure", {}, contributionChart(answer.top_contributions), h("figcaption", {}, "What moved this risk most (occlusion)")));
  }

  const { records } = await api.get("/records");
  list.replaceChildren(records.length ? table(["Record", "Patient", "Status", ""], records.map((r) => [short(r.id), short(r.patient), r.status,
    h("button", { type: "button", "data-record": r.id, on: { click: () => open(r.id) } }, "Open")])) : h("p", {}, "No patient has given you access yet."));
  const form = h("form", { on: { submit: (event) => { event.preventDefault(); open(recordInput.value.trim()); } } },
    h("label", { for: "record-id" }, "Open a record by id"), recordInput, h("button", { type: "submit", id: "open-by-id" }, "Open"));
  app.main.replaceChildren(h("h1", {}, "Records I may read"), status, section("Readable records", list, form), detail);
}
