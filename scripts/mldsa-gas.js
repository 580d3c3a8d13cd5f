// Runs the NIST known-answer tests for ML-DSA-65 (PyPI cryptography-vectors 50.0.2,
// asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp) through MLDSA65Keys on the Hardhat network (hardfork osaka: every
// transaction under the 16,777,216 gas cap of EIP-7825) and prints
//   mldsa65_verify_gas=<median gas of one verification transaction> kat_vectors_passed=<passed>/<total>
// then the cost of registering and proving a key. Each vector's key is registered and proven first.
// Usage: npx hardhat run scripts/mldsa-gas.js   (BINDAAS_PYTHON: a Python with cryptography-vectors; default .venv)
const hre = require("hardhat");
const { readKat } = require("../test/contracts/mldsa-kat");
const { expandA } = require("../test/contracts/mldsa-expand");

async function gasOf(txPromise) {
  return (await (await txPromise).wait()).gasUsed;
}

async function main() {
  const limit = Number(process.env.MLDSA_KAT_LIMIT || 0);
  const vectors = readKat().slice(0, limit || undefined);
  const keys = await (await hre.ethers.getContractFactory("MLDSA65Keys")).deploy();
  let passed = 0;
  const verifyGas = [];
  const registerGas = [];
  const proveGas = [];
  for (const v of vectors) {
    const keyId = hre.ethers.keccak256(v.pk);
    registerGas.push(await gasOf(keys.register(v.pk, expandA(v.pk))));
    proveGas.push((await gasOf(keys.prove(keyId, 0, 2))) + (await gasOf(keys.prove(keyId, 2, 4)))
                  + (await gasOf(keys.prove(keyId, 4, 6))));
    if (await keys.verify(v.pk, v.msg, v.ctx, v.sig)) passed += 1;
    verifyGas.push(await keys.verify.estimateGas(v.pk, v.msg, v.ctx, v.sig));
  }
  const median = (xs) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[Math.floor(xs.length / 2)];
  const max = (xs) => xs.reduce((a, b) => (a > b ? a : b));
  console.log(`mldsa65_verify_gas=${median(verifyGas)} kat_vectors_passed=${passed}/${vectors.length}`);
  if (passed !== vectors.length) process.exitCode = 1;
  console.log(`# verification transaction gas: median ${median(verifyGas)}, max ${max(verifyGas)} (messages up to ` +
              `${Math.max(...vectors.map((v) => (v.msg.length - 2) / 2))} bytes; calldata included)`);
  console.log(`# key registration: register ${median(registerGas)} (max ${max(registerGas)}), prove 6 rows in 3 ` +
              `transactions ${median(proveGas)} (max ${max(proveGas)})`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
