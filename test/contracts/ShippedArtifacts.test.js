const { expect } = require("chai");
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");
const { SHIPPED, OUT_DIR } = require("../../scripts/export-artifacts.js");

// The Python package deploys what it ships; a contract edited without re-exporting would silently diverge.
describe("Artifacts shipped in the Python package", function () {
  for (const name of SHIPPED) {
    it(`Should match a fresh compile of ${name}`, async function () {
      const fresh = await hre.artifacts.readArtifact(name);
      const shipped = JSON.parse(fs.readFileSync(path.join(OUT_DIR, `${name}.json`), "utf8"));
      expect(shipped.abi, "ABI differs: run `node scripts/export-artifacts.js`").to.deep.equal(fresh.abi);
      expect(shipped.bytecode, "bytecode differs: run `node scripts/export-artifacts.js`").to.equal(fresh.bytecode);
    });
  }
});
