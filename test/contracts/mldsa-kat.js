// The NIST ML-DSA-65 known-answer vectors (deterministic, pure, with context) from the PyPI package
// cryptography-vectors, found through the project's Python.
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

function katPath() {
  const python = process.env.BINDAAS_PYTHON || path.join(__dirname, "..", "..", ".venv", "bin", "python");
  const root = execFileSync(python, ["-c", "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))"])
    .toString().trim();
  return path.join(root, "asymmetric", "MLDSA", "kat_MLDSA_65_det_pure.rsp");
}

/** Every vector as hex strings: pk, msg, ctx and the detached signature (the first 3,309 bytes of sm). */
function readKat() {
  const vectors = [];
  for (const line of fs.readFileSync(katPath(), "utf8").split("\n")) {
    const [key, value] = line.trim().split(" = ");
    if (key === "count") vectors.push({});
    else if (value !== undefined && vectors.length) vectors[vectors.length - 1][key] = value;
  }
  return vectors.map((v) => ({ pk: "0x" + v.pk, msg: "0x" + v.msg, ctx: "0x" + v.ctx,
                               sig: "0x" + v.sm.slice(0, 2 * 3309) }));
}

module.exports = { readKat };
