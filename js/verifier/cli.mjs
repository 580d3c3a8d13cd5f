#!/usr/bin/env node
// node js/verifier/cli.mjs RECEIPT --bundle BUNDLE --rpc URL --trust TRUST   -> JSON report; exit 0 only when valid
// node js/verifier/cli.mjs --vectors DIR --rpc URL                           -> {name: report} for every vector
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcReader, verifyReceipt } from "./verify.mjs";

const args = process.argv.slice(2);
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const rpcUrl = option("--rpc");
if (!rpcUrl) { console.error("--rpc URL is required"); process.exit(2); }
const rpc = new JsonRpcReader(rpcUrl);

if (option("--vectors")) {
  const dir = option("--vectors");
  const out = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const vector = readJson(join(dir, file));
    const started = performance.now();
    out[vector.name] = await verifyReceipt(vector.receipt, vector.bundle, { rpc, trust: vector.trust });
    out[vector.name].elapsed_ms = performance.now() - started;
  }
  console.log(JSON.stringify(out));
} else {
  const [receiptPath] = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
  const report = await verifyReceipt(readJson(receiptPath), readJson(option("--bundle")), { rpc, trust: readJson(option("--trust")) });
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.verdict === "valid" ? 0 : 1);
}
