// Builds the web app into bindaas/web/static (shipped in the Python package, so `pip install` + `bindaas serve`
// needs no Node): one ES module bundle of web/src and its npm libraries, the page and its stylesheet.
// `node web/build.mjs` writes it; `node web/build.mjs --out DIR` writes elsewhere (the freshness test).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf("--out");
const out = at > 0 ? process.argv[at + 1] : join(here, "..", "bindaas", "web", "static");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.mjs")], bundle: true, format: "esm", target: "es2022", minify: true,
  legalComments: "eof", outfile: join(out, "app.js"), logLevel: "warning",
});
for (const name of ["index.html", "app.css"]) copyFileSync(join(here, name), join(out, name));
