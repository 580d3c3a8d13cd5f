// Hardhat 2 compiles with the solc-js build shipped in the npm package `solc`, so nothing is downloaded.
require("@nomicfoundation/hardhat-ethers");
require("@nomicfoundation/hardhat-chai-matchers");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = require("solc/package.json").version;

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async () => ({
  compilerPath: require.resolve("solc/soljson.js"),
  isSolcJs: true,
  version: SOLC_VERSION,
  longVersion: require("solc").version(),
}));

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    compilers: [{ version: SOLC_VERSION, settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "shanghai" } }],
    // The ML-DSA-65 verifier is hand-written Yul: solc's Yul optimiser would hoist its Keccak lanes onto the
    // stack past the 16 reachable slots, so it is compiled with that optimiser stage off.
    overrides: Object.fromEntries(["KeccakF1600", "MLDSA65", "MLDSA65Keys", "IMLDSA65Verifier"].map((name) => `contracts/mldsa/${name}.sol`).map(
      (file) => [file, { version: SOLC_VERSION,
                         settings: { optimizer: { enabled: true, runs: 200, details: { yul: false } },
                                     evmVersion: "shanghai" } }])),
  },
  paths: { tests: "test/contracts" },
  networks: { hardhat: { chainId: 31337 } },
};
