// The patient: my records, who may read them (grant and revoke, signed here), my access log, downloads.
import { download, h, say, section, short, statusLine, table } from "../dom.mjs";
import { openExport, signConsent } from "../keys.mjs";

export async function patientScreen(app) {
  const { api, key } = app;
  const status = statusLine("patient-status");
  const records = h("div", { id: "my-records" });
  const consents = h("div", { id: "my-consents" });
  const log = h("ol", { id: "access-log", class: "timeline" });
  const grantee = h("input", { id: "grantee", name: "grantee", required: true, pattern: "0x[0-9a-fA-F]{64}", size: 70,
    autocomplete: "off", "aria-describedby": "grantee-help" });
  const until = h("input", { id: "until", name: "until", type: "date" });

  async function loadRecords() {
    const { records: rows } = await api.get("/records");
    const lines = await Promise.all(rows.map(async (r) => {
      let endorsed = "pending anchoring";
      if (r.status === "anchored") {
        const receipt = await api.get(`/records/${r.id}/receipt`);
        endorsed = receipt.endorsements.map((e) => short(e.authority)).join(", ");
      }
      return [short(r.id), r.status, `block ${r.accepted_block}`, endorsed,
        h("button", { type: "button", "data-record": r.id, on: { click: () => downloadRecord(r.id) } }, "Download with receipt")];
    }));
    records.replaceChildren(rows.length ? table(["Record", "Status", "Accepted", "Endorsed by", ""], lines) : h("p", {}, "No records yet."));
  }

  async function downloadRecord(id) {
    try {
      const exported = await api.get(`/records/${id}/export`);
      const bundle = await openExport(key, exported);
      download(`${id.slice(0, 18)}.json`, { bundle, receipt: exported.receipt });
      say(status, `Record ${short(id)} decrypted here, its digest checked, and saved with its receipt.`, "ok");
    } catch (err) { say(status, err.message, "error"); }
  }

  async function loadConsents() {
    const { consents: changes } = await api.get("/consents");
    const current = changes.filter((c) => !c.superseded);
    consents.replaceChildren(current.length ? table(["Reader", "Access", "Until", "Signature", ""], current.map((c) => [
      short(c.grantee), c.in_force ? "granted" : c.granted ? "expired" : "revoked",
      c.not_after ? new Date(c.not_after * 1000).toISOString().slice(0, 10) : "no end",
      c.patient_signature_valid ? "your signature verifies" : "NOT signed by you",
      c.in_force ? h("button", { type: "button", on: { click: () => change(c.grantee, false, 0) } }, `Revoke ${short(c.grantee)}`) : "",
    ])) : h("p", {}, "Nobody may read your records."));
  }

  async function change(who, granted, notAfter) {
    try {
      const info = await api.get("/consents/nonce");
      const signature = signConsent(key, { chainId: info.chain_id, contract: info.contract, grantee: who, granted, notAfter, nonce: info.nonce });
      await api.post("/consents", { grantee: who, granted, not_after: notAfter, nonce: info.nonce, signature });
      say(status, `${granted ? "Granted" : "Revoked"} read access for ${short(who)}: signed here with your key, recorded on chain.`, "ok");
      await Promise.all([loadConsents(), loadLog()]);
    } catch (err) { say(status, err.message, "error"); }
  }

  async function loadLog() {
    const { events } = await api.get(`/patients/${key.keyId}/access-log?verify=true`);
    log.replaceChildren(...events.map((e) => h("li", { class: e.success ? "ok" : "refused" },
      h("time", { datetime: e.recorded }, e.recorded.replace("T", " ").slice(0, 19)), " ",
      h("strong", {}, e.action), ` by ${short(e.agent)} `, e.success ? "" : h("span", { class: "badge refused" }, "refused"), " ",
      h("span", { class: "badge" }, e.verified?.ok && e.status === "anchored" ? "verified on chain" : e.verified?.ok ? "pending anchor" : "NOT verified"))));
    if (!events.length) log.replaceChildren(h("li", {}, "Nobody has accessed your records."));
  }

  const form = h("form", { on: { submit: (event) => {
    event.preventDefault();
    const notAfter = until.value ? Math.floor(new Date(`${until.value}T23:59:59Z`).getTime() / 1000) : 0;
    change(grantee.value.trim(), true, notAfter);
  } } },
  h("label", { for: "grantee" }, "Clinician's key id"), grantee,
  h("small", { id: "grantee-help" }, "0x and 64 hex digits, as the clinician's key file shows it"),
  h("label", { for: "until" }, "Until (optional)"), until, h("button", { type: "submit", id: "grant" }, "Grant read access"));

  app.main.replaceChildren(h("h1", {}, "My records"), status, section("Records", records),
    section("Who may read them", consents, form), section("My access log", log));
  await Promise.all([loadRecords(), loadConsents(), loadLog()]);
}
