const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { expandA } = require("./mldsa-expand");

const Role = { Patient: 1, Clinician: 2 };
const CONTEXT = new TextEncoder().encode("bindaas/consent/v1");
const hex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const kemKey = (seed) => ethers.concat(Array.from({ length: 37 }, (_, i) =>
  ethers.keccak256(ethers.toUtf8Bytes(`kem/${seed}/${i}`)))).slice(0, 2 + 1184 * 2);

describe("ConsentRegistry with on-chain ML-DSA-65: anyone relays, a forgery reverts", function () {
  this.timeout(300_000);

  async function deployed() {
    const { ml_dsa65 } = await import("@noble/post-quantum/ml-dsa.js");
    const [authority, relayer] = await ethers.getSigners();
    const authorityKey = ml_dsa65.keygen(new Uint8Array(32).fill(1));
    const registry = await (await ethers.getContractFactory("AuthorityRegistry"))
      .deploy([authority.address], [hex(authorityKey.publicKey)], 0);
    const identities = await (await ethers.getContractFactory("IdentityRegistry")).deploy(await registry.getAddress());
    const keys = await (await ethers.getContractFactory("MLDSA65Keys")).deploy();
    const consents = await (await ethers.getContractFactory("ConsentRegistry"))
      .deploy(await registry.getAddress(), await identities.getAddress(), await keys.getAddress());
    const person = async (seed, role) => {
      const key = ml_dsa65.keygen(new Uint8Array(32).fill(seed));
      const pk = hex(key.publicKey);
      await identities.connect(authority).enroll(ethers.keccak256(pk), role, pk, kemKey(seed));
      return { ...key, pk, id: ethers.keccak256(pk) };
    };
    const patient = await person(2, Role.Patient);
    const clinician = await person(3, Role.Clinician);
    const intruder = await person(4, Role.Patient);
    // Anyone registers the patient's expanded key and proves it (here: the relayer, no authority).
    await keys.connect(relayer).register(patient.pk, expandA(patient.pk));
    for (const [from, to] of [[0, 2], [2, 4], [4, 6]]) await keys.connect(relayer).prove(patient.id, from, to);
    const sign = async (signer, granted, notAfter, nonce) => hex(ml_dsa65.sign(
      ethers.getBytes(await consents.statement(patient.id, clinician.id, granted, notAfter, nonce)), signer.secretKey,
      { context: CONTEXT }));
    return { registry, keys, consents, relayer, patient, clinician, intruder, sign };
  }

  it("Should record a grant relayed by an account that is not an authority", async function () {
    const { registry, consents, relayer, patient, clinician, sign } = await loadFixture(deployed);
    expect(await registry.isActiveAuthority(relayer.address)).to.equal(false);
    const signature = await sign(patient, true, 0, 1);
    const tx = consents.connect(relayer).setConsent(patient.id, clinician.id, true, 0, 1, patient.pk, signature);
    await expect(tx).to.emit(consents, "ConsentChanged").withArgs(patient.id, clinician.id, true, 0, 1, signature);
    expect(await consents.hasConsent(patient.id, clinician.id)).to.equal(true);
    const gas = (await (await tx).wait()).gasUsed;
    expect(gas).to.be.below(12_000_000n);
    console.log(`      consent grant with on-chain ML-DSA-65 verification: ${gas} gas`);
  });

  it("Should revert a forged grant: another key's signature, a changed statement, a wrong key", async function () {
    const { consents, keys, relayer, patient, clinician, intruder, sign } = await loadFixture(deployed);
    await expect(consents.connect(relayer).setConsent(patient.id, clinician.id, true, 0, 1, patient.pk,
      await sign(intruder, true, 0, 1))).to.be.revertedWithCustomError(consents, "ConsentForged").withArgs(patient.id);
    // Signed as a revocation, sent as a grant.
    await expect(consents.connect(relayer).setConsent(patient.id, clinician.id, true, 0, 1, patient.pk,
      await sign(patient, false, 0, 1))).to.be.revertedWithCustomError(consents, "ConsentForged");
    await expect(consents.connect(relayer).setConsent(patient.id, clinician.id, true, 0, 1, intruder.pk,
      await sign(patient, true, 0, 1))).to.be.revertedWithCustomError(consents, "ConsentKeyMismatch");
    // The intruder's own key is enrolled but not registered in the verifier: nothing verifies against it.
    const statement = await consents.statement(intruder.id, clinician.id, true, 0, 1);
    const { ml_dsa65 } = await import("@noble/post-quantum/ml-dsa.js");
    await expect(consents.connect(relayer).setConsent(intruder.id, clinician.id, true, 0, 1, intruder.pk,
      hex(ml_dsa65.sign(ethers.getBytes(statement), intruder.secretKey, { context: CONTEXT }))))
      .to.be.revertedWithCustomError(keys, "MLDSAKeyUnknown");
    expect(await consents.hasConsent(patient.id, clinician.id)).to.equal(false);
  });
});
