// A FHIR R4 Bundle as a clinician reads it: who, conditions, observations with values, units and dates, medicines.
import { h, section, table } from "./dom.mjs";

const text = (concept) => concept?.text ?? concept?.coding?.[0]?.display ?? concept?.coding?.[0]?.code ?? "";
const day = (value) => (value ?? "").slice(0, 10);
const resources = (bundle, type) => (bundle.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type);

function quantity(q) {
  return q ? `${Number(q.value).toLocaleString(undefined, { maximumFractionDigits: 2 })} ${q.unit ?? q.code ?? ""}`.trim() : "";
}

function observationValue(o) {
  if (o.valueQuantity) return quantity(o.valueQuantity);
  if (o.valueCodeableConcept) return text(o.valueCodeableConcept);
  if (o.component) return o.component.map((c) => `${text(c.code)} ${quantity(c.valueQuantity)}`).join("; ");
  return o.valueString ?? (o.valueBoolean === undefined ? "" : String(o.valueBoolean));
}

export function clinicalSummary(bundle) {
  const patient = resources(bundle, "Patient")[0] ?? {};
  const name = patient.name?.[0] ? [...(patient.name[0].given ?? []), patient.name[0].family].join(" ") : "(no name)";
  const conditions = resources(bundle, "Condition").sort((a, b) => day(b.onsetDateTime).localeCompare(day(a.onsetDateTime)));
  const observations = resources(bundle, "Observation").sort((a, b) => day(b.effectiveDateTime).localeCompare(day(a.effectiveDateTime)));
  const medications = resources(bundle, "MedicationRequest");
  return h("div", { class: "summary" },
    section("Patient", h("p", {}, `${name} · ${patient.gender ?? "sex not recorded"} · born ${patient.birthDate ?? "?"}`)),
    section(`Conditions (${conditions.length})`, conditions.length ? table(["Condition", "Since", "Status"],
      conditions.map((c) => [text(c.code), day(c.onsetDateTime), text(c.clinicalStatus)])) : h("p", {}, "None recorded.")),
    section(`Observations (${observations.length})`, observations.length ? table(["Observation", "Value", "Date"],
      observations.slice(0, 60).map((o) => [text(o.code), observationValue(o), day(o.effectiveDateTime)]),
      observations.length > 60 ? `the 60 most recent of ${observations.length}` : null) : h("p", {}, "None recorded.")),
    section(`Medications (${medications.length})`, medications.length ? table(["Medication", "Since", "Status"],
      medications.map((m) => [text(m.medicationCodeableConcept), day(m.authoredOn), m.status ?? ""])) : h("p", {}, "None recorded.")));
}

/** The top contributions as an accessible SVG bar chart (values also in the title of each bar). */
export function contributionChart(contributions) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 560, row = 26, left = 200, height = 20 + row * contributions.length;
  const max = Math.max(...contributions.map((c) => Math.abs(c.contribution)), 1e-6);
  const middle = left + (width - left) / 2;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Top contributions: " + contributions.map((c) => `${c.feature} ${c.contribution}`).join(", "));
  const add = (tag, attrs, content) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (content !== undefined) el.textContent = content;
    svg.append(el);
    return el;
  };
  add("line", { x1: middle, x2: middle, y1: 0, y2: height, class: "axis" });
  contributions.forEach((c, i) => {
    const y = 10 + i * row, size = (Math.abs(c.contribution) / max) * ((width - left) / 2 - 10);
    add("text", { x: left - 8, y: y + 14, "text-anchor": "end" }, `${c.feature} = ${c.value}`);
    const bar = add("rect", { x: c.contribution >= 0 ? middle : middle - size, y, width: Math.max(size, 1), height: row - 8,
      class: c.contribution >= 0 ? "up" : "down" });
    const title = document.createElementNS(ns, "title");
    title.textContent = `${c.feature}: ${c.contribution >= 0 ? "+" : ""}${c.contribution}`;
    bar.append(title);
  });
  return svg;
}
