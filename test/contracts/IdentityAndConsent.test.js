const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");

// Deterministic stand-ins of the right length: the contracts check lengths and hashes, not the lattice maths.
const bytesOf = (seed, length) => ethers.concat(Array.from({ length: Math.ceil(length / 32) }, (_, i) =>
  ethers.keccak256(ethers.toUtf8Bytes(`${seed}/${i}`)))).slice(0, 2 + length * 2);
const signingKey = (seed) => bytesOf(`sig/${seed}`, 1952);
const kemKey = (seed) => bytesOf(`kem/${seed}`, 1184);
const keyId = (seed) => ethers.keccak256(signingKey(seed));
const signature = (seed) => bytesOf(`signature/${seed}`, 3309);
const Role = { None: 0, Patient: 1, Clinician: 2, Auditor: 3, Authority: 4 };

describe("IdentityRegistry and ConsentRegistry", function () {
  async function deployed() {
    const [a, b, outsider] = await ethers.getSigners();
    const registry = await (await ethers.getContractFactory("AuthorityRegistry"))
      .deploy([a.address, b.address], [signingKey("authority-a"), signingKey("authority-b")], 0);
    const identities = await (await ethers.getContractFactory("IdentityRegistry")).deploy(await registry.getAddress());
    const consents = await (await ethers.getContractFactory("ConsentRegistry"))
      .deploy(await registry.getAddress(), await identities.getAddress(), ethers.ZeroAddress); // relayed mode
    const enroll = (seed, role) => identities.connect(a).enroll(keyId(seed), role, signingKey(seed), kemKey(seed));
    await enroll("patient", Role.Patient);
    await enroll("clinician", Role.Clinician);
    await enroll("auditor", Role.Auditor);
    return { registry, identities, consents, a, b, outsider, enroll };
  }

  it("Should enrol an identity with its role and publish both keys in the event", async function () {
    const { identities, a } = await loadFixture(deployed);
    await expect(identities.connect(a).enroll(keyId("nurse"), Role.Clinician, signingKey("nurse"), kemKey("nurse")))
      .to.emit(identities, "Enrolled")
      .withArgs(keyId("nurse"), Role.Clinician, a.address, signingKey("nurse"), kemKey("nurse"));
    const stored = await identities.identityOf(keyId("nurse"));
    expect(stored.role).to.equal(BigInt(Role.Clinician));
    expect(stored.kemKeyHash).to.equal(ethers.keccak256(kemKey("nurse")));
    expect(await identities.isActive(keyId("nurse"), Role.Clinician)).to.equal(true);
    expect(await identities.isActive(keyId("nurse"), Role.Patient)).to.equal(false);
  });

  it("Should refuse enrolment by a non-authority, a key that does not hash to its id, or twice", async function () {
    const { identities, outsider, a, enroll } = await loadFixture(deployed);
    await expect(identities.connect(outsider).enroll(keyId("x"), Role.Patient, signingKey("x"), kemKey("x")))
      .to.be.revertedWithCustomError(identities, "IdentityNotAuthority").withArgs(outsider.address);
    await expect(identities.connect(a).enroll(keyId("x"), Role.Patient, signingKey("y"), kemKey("x")))
      .to.be.revertedWithCustomError(identities, "IdentityKeyMismatch").withArgs(keyId("x"));
    await expect(identities.connect(a).enroll(keyId("x"), Role.Patient, signingKey("x"), "0x1234"))
      .to.be.revertedWithCustomError(identities, "IdentityBadKeyLength").withArgs(1952, 2);
    await expect(identities.connect(a).enroll(keyId("x"), Role.None, signingKey("x"), kemKey("x")))
      .to.be.revertedWithCustomError(identities, "IdentityBadRole");
    await expect(enroll("patient", Role.Patient))
      .to.be.revertedWithCustomError(identities, "IdentityExists").withArgs(keyId("patient"));
  });

  it("Should enrol many identities in one transaction, each published, and refuse the batch if one is bad",
    async function () {
      const { identities, a } = await loadFixture(deployed);
      const seeds = ["p1", "p2", "p3"];
      await expect(identities.connect(a).enrollMany(seeds.map(keyId), Role.Patient, seeds.map(signingKey),
        seeds.map(kemKey)))
        .to.emit(identities, "Enrolled").withArgs(keyId("p3"), Role.Patient, a.address, signingKey("p3"), kemKey("p3"));
      for (const seed of seeds) expect(await identities.isActive(keyId(seed), Role.Patient)).to.equal(true);
      await expect(identities.connect(a).enrollMany([keyId("p4"), keyId("p1")], Role.Patient,
        [signingKey("p4"), signingKey("p1")], [kemKey("p4"), kemKey("p1")]))
        .to.be.revertedWithCustomError(identities, "IdentityExists").withArgs(keyId("p1"));
      expect((await identities.identityOf(keyId("p4"))).enrolledBlock).to.equal(0n);
      await expect(identities.connect(a).enrollMany([keyId("p5")], Role.Patient, [], [kemKey("p5")]))
        .to.be.revertedWithCustomError(identities, "IdentityBadBatch").withArgs(1, 0, 1);
    });

  it("Should enrol an Authority identity only for a key the authority registry holds", async function () {
    const { identities, enroll } = await loadFixture(deployed);
    await expect(enroll("stranger", Role.Authority))
      .to.be.revertedWithCustomError(identities, "IdentityNotAuthorityKey").withArgs(keyId("stranger"));
    await enroll("authority-a", Role.Authority);
    expect(await identities.isActive(keyId("authority-a"), Role.Authority)).to.equal(true);
  });

  it("Should revoke an identity once", async function () {
    const { identities, a } = await loadFixture(deployed);
    await expect(identities.connect(a).revoke(keyId("clinician")))
      .to.emit(identities, "Revoked").withArgs(keyId("clinician"), a.address);
    expect(await identities.isActive(keyId("clinician"), Role.Clinician)).to.equal(false);
    await expect(identities.connect(a).revoke(keyId("clinician")))
      .to.be.revertedWithCustomError(identities, "IdentityUnknown").withArgs(keyId("clinician"));
  });

  it("Should answer a group's enrolments as one word each: role, enrolment block, revocation block", async function () {
    const { identities, a } = await loadFixture(deployed);
    await identities.connect(a).revoke(keyId("clinician"));
    const ids = [keyId("patient"), keyId("clinician"), keyId("never-enrolled")];
    const words = await identities.enrolmentsOf(ids);
    expect(words.length).to.equal(3);
    for (const [i, id] of ids.entries()) {
      const stored = await identities.identityOf(id);
      const mask = (1n << 64n) - 1n;
      expect([words[i] & 0xffn, (words[i] >> 8n) & mask, (words[i] >> 72n) & mask, words[i] >> 136n])
        .to.deep.equal([stored.role, stored.enrolledBlock, stored.revokedBlock, 0n]);
    }
    expect(words[1] >> 72n).to.be.greaterThan(0n); // the revoked clinician
    expect(words[2]).to.equal(0n);
  });

  it("Should record a patient's grant and revocation with the signature in the event", async function () {
    const { consents, a } = await loadFixture(deployed);
    await expect(consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), true, 0, 1, "0x", signature(1)))
      .to.emit(consents, "ConsentChanged")
      .withArgs(keyId("patient"), keyId("clinician"), true, 0, 1, signature(1));
    expect(await consents.hasConsent(keyId("patient"), keyId("clinician"))).to.equal(true);
    await consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), false, 0, 2, "0x", signature(2));
    expect(await consents.hasConsent(keyId("patient"), keyId("clinician"))).to.equal(false);
    const stored = await consents.consentOf(keyId("patient"), keyId("clinician"));
    expect([stored.granted, stored.nonce]).to.deep.equal([false, 2n]);
    expect(await consents.nonceOf(keyId("patient"))).to.equal(2n);
  });

  it("Should end a time-limited consent at its notAfter time", async function () {
    const { consents, a } = await loadFixture(deployed);
    const until = (await time.latest()) + 3600;
    await consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), true, until, 1, "0x", signature(1));
    expect(await consents.hasConsent(keyId("patient"), keyId("clinician"))).to.equal(true);
    await time.increaseTo(until + 1);
    expect(await consents.hasConsent(keyId("patient"), keyId("clinician"))).to.equal(false);
  });

  it("Should refuse a replayed nonce, unknown parties, a non-authority relayer and a short signature", async function () {
    const { consents, a, outsider } = await loadFixture(deployed);
    await consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), true, 0, 1, "0x", signature(1));
    await expect(consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), true, 0, 1, "0x", signature(1)))
      .to.be.revertedWithCustomError(consents, "ConsentBadNonce").withArgs(1, 2);
    await expect(consents.connect(a).setConsent(keyId("clinician"), keyId("clinician"), true, 0, 1, "0x", signature(1)))
      .to.be.revertedWithCustomError(consents, "ConsentUnknownPatient").withArgs(keyId("clinician"));
    await expect(consents.connect(a).setConsent(keyId("patient"), keyId("auditor"), true, 0, 2, "0x", signature(1)))
      .to.be.revertedWithCustomError(consents, "ConsentBadGrantee").withArgs(keyId("auditor"));
    await expect(consents.connect(outsider).setConsent(keyId("patient"), keyId("clinician"), true, 0, 2, "0x", signature(1)))
      .to.be.revertedWithCustomError(consents, "ConsentNotRelayer").withArgs(outsider.address);
    await expect(consents.connect(a).setConsent(keyId("patient"), keyId("clinician"), true, 0, 2, "0x", "0x12"))
      .to.be.revertedWithCustomError(consents, "ConsentBadSignature").withArgs(1);
  });
});
