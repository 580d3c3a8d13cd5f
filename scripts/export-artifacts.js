// Copies the ABI and bytecode of the deployable contracts from Hardhat's build into the Python package, so
// `pip install` + `bindaas demo` works without Node. Run after `npx hardhat compile`.
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");

const SHIPPED = ["AuthorityRegistry", "RecordAnchor", "ModelRegistry", "IdentityRegistry", "ConsentRegistry", "MLDSA65Keys"];
const OUT_DIR = path.join(__dirname, "..", "bindaas", "chain", "artifacts");

async function main() {
  await hre.run("compile", { quiet: true });
  fs.mkdirSync(OUT_DIR, { recursive: true });
  for (const name of SHIPPED) {
    const artifact = await hre.artifacts.readArtifact(name);
    const shipped = { contractName: name, abi: artifact.abi, bytecode: artifact.bytecode };
    fs.writeFileSync(path.join(OUT_DIR, `${name}.json`), JSON.stringify(shipped, null, 1) + "\n");
    console.log(`wrote ${name}.json`);
  }
}

module.exports = { SHIPPED, OUT_DIR };
if (require.main === module) main().catch((err) => { console.error(err); process.exit(1); });
