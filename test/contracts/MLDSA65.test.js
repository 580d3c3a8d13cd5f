const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { execFileSync } = require("child_process");
const path = require("path");
const { readKat } = require("./mldsa-kat");
const { expandA } = require("./mldsa-expand");

const python = process.env.BINDAAS_PYTHON || path.join(__dirname, "..", "..", ".venv", "bin", "python");
const OMEGA = 55;
const HINTS = 48 + 5 * 640; // where the hint encoding starts in a signature

// Byte surgery on hex strings.
const bytes = (hex) => Buffer.from(hex.slice(2), "hex");
const hex = (buf) => "0x" + Buffer.from(buf).toString("hex");
const flipBit = (h, byteIndex, bit = 0) => { const b = bytes(h); b[byteIndex] ^= 1 << bit; return hex(b); };

describe("MLDSA65Keys: FIPS 204 ML-DSA-65 verification on chain", function () {
  this.timeout(600_000);

  async function deployed() {
    const keys = await (await ethers.getContractFactory("MLDSA65Keys")).deploy();
    const registerAndProve = async (pk) => {
      await keys.register(pk, expandA(pk));
      const id = ethers.keccak256(pk);
      for (const [from, to] of [[0, 2], [2, 4], [4, 6]]) await keys.prove(id, from, to);
      return id;
    };
    const kat = readKat().slice(0, 4);
    for (const v of kat) await registerAndProve(v.pk);
    return { keys, kat, registerAndProve };
  }

  it("Should accept the NIST known-answer vectors (deterministic, pure, with context) within one transaction", async function () {
    const { keys, kat } = await loadFixture(deployed);
    for (const v of kat) {
      expect(await keys.verify(v.pk, v.msg, v.ctx, v.sig)).to.equal(true);
      expect(await keys.verify.estimateGas(v.pk, v.msg, v.ctx, v.sig)).to.be.below(12_000_000n);
    }
  });

  it("Should accept signatures made by cryptography (OpenSSL) under our four contexts, and by pqcrypto", async function () {
    const { keys, registerAndProve } = await loadFixture(deployed);
    const made = JSON.parse(execFileSync(python, [path.join(__dirname, "..", "..", "scripts", "mldsa_test_signatures.py")]));
    expect(made.length).to.be.at.least(4);
    const proven = new Set();
    for (const s of made) {
      if (!proven.has(s.pk)) { await registerAndProve(s.pk); proven.add(s.pk); }
      expect(await keys.verify(s.pk, s.msg, s.ctx, s.sig), s.source).to.equal(true);
    }
  });

  it("Should return false for one changed bit of the signature, the message or the context", async function () {
    const { keys, kat } = await loadFixture(deployed);
    const v = kat[0];
    for (const at of [0, 47, 48 + 100, 48 + 5 * 640 - 1]) {
      expect(await keys.verify(v.pk, v.msg, v.ctx, flipBit(v.sig, at)), `signature byte ${at}`).to.equal(false);
    }
    expect(await keys.verify(v.pk, flipBit(v.msg, 0), v.ctx, v.sig)).to.equal(false);
    expect(await keys.verify(v.pk, v.msg, flipBit(v.ctx, 0), v.sig)).to.equal(false);
    expect(await keys.verify(v.pk, v.msg, "0x", v.sig)).to.equal(false);
  });

  it("Should refuse a changed public key: it is not a registered, proven key", async function () {
    const { keys, kat } = await loadFixture(deployed);
    const other = flipBit(kat[0].pk, 100);
    await expect(keys.verify(other, kat[0].msg, kat[0].ctx, kat[0].sig))
      .to.be.revertedWithCustomError(keys, "MLDSAKeyUnknown").withArgs(ethers.keccak256(other));
  });

  it("Should return false for z out of range, a malformed hint and too many hint bits", async function () {
    const { keys, kat } = await loadFixture(deployed);
    const v = kat[0];
    // z: the first coefficient's 20 bits set to 0 encode z = gamma1, past gamma1 - beta.
    const z = bytes(v.sig); z[48] = 0; z[49] = 0; z[50] &= 0xf0;
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(z))).to.equal(false);
    // The last z coefficient at 2^20 - 1 encodes z = gamma1 - (2^20 - 1), also too large.
    const z2 = bytes(v.sig); z2[HINTS - 1] = 0xff; z2[HINTS - 2] = 0xff; z2[HINTS - 3] |= 0xf0;
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(z2))).to.equal(false);

    const sig = bytes(v.sig);
    const counts = Array.from({ length: 6 }, (_, i) => sig[HINTS + OMEGA + i]);
    // Hint positions of a polynomial out of order (FIPS 204 requires them strictly increasing).
    const firstWithTwo = counts.findIndex((c, i) => c - (i ? counts[i - 1] : 0) >= 2);
    expect(firstWithTwo, "a vector with two hints in one polynomial").to.be.at.least(0);
    const start = firstWithTwo ? counts[firstWithTwo - 1] : 0;
    const swapped = Buffer.from(sig);
    [swapped[HINTS + start], swapped[HINTS + start + 1]] = [swapped[HINTS + start + 1], swapped[HINTS + start]];
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(swapped))).to.equal(false);
    // More hints than omega.
    const tooMany = Buffer.from(sig); tooMany[HINTS + OMEGA + 5] = OMEGA + 1;
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(tooMany))).to.equal(false);
    // A count going down (polynomial 1 claiming fewer than polynomial 0).
    const decreasing = Buffer.from(sig); decreasing[HINTS + OMEGA + 1] = decreasing[HINTS + OMEGA] - 1;
    expect(decreasing[HINTS + OMEGA], "the vector has hints in its first polynomial").to.be.above(0);
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(decreasing))).to.equal(false);
    // A nonzero byte in the unused hint positions.
    expect(counts[5], "the vector leaves hint positions unused").to.be.below(OMEGA);
    const padding = Buffer.from(sig); padding[HINTS + OMEGA - 1] = 1;
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(padding))).to.equal(false);
    // Wrong lengths.
    expect(await keys.verify(v.pk, v.msg, v.ctx, hex(sig.subarray(0, 3308)))).to.equal(false);
  });

  it("Should refute an expansion that is not the key's, and let the right one be registered after", async function () {
    const { keys } = await loadFixture(deployed);
    const v = readKat()[10];
    const id = ethers.keccak256(v.pk);
    const wrong = bytes(expandA(v.pk));
    wrong[3 * 3840 + 1000] ^= 1; // one coefficient of row 3
    await keys.register(v.pk, hex(wrong));
    await expect(keys.verify(v.pk, v.msg, v.ctx, v.sig))
      .to.be.revertedWithCustomError(keys, "MLDSAKeyNotProven").withArgs(id, 0);
    await expect(keys.prove(id, 0, 3)).to.emit(keys, "KeyRowProven");
    await expect(keys.prove(id, 3, 6)).to.emit(keys, "KeyRefuted").withArgs(id, 3);
    expect(await keys.isProven(id)).to.equal(false);
    await expect(keys.verify(v.pk, v.msg, v.ctx, v.sig)).to.be.revertedWithCustomError(keys, "MLDSAKeyUnknown");
    await keys.register(v.pk, expandA(v.pk));
    await keys.prove(id, 0, 3);
    await expect(keys.prove(id, 3, 6)).to.emit(keys, "KeyProven").withArgs(id);
    expect(await keys.verify(v.pk, v.msg, v.ctx, v.sig)).to.equal(true);
  });

  it("Should refuse bad lengths, a second registration and rows out of range", async function () {
    const { keys, kat } = await loadFixture(deployed);
    await expect(keys.register(kat[0].pk, "0x00")).to.be.revertedWithCustomError(keys, "MLDSAKeyBadLength");
    await expect(keys.register(kat[0].pk, expandA(kat[0].pk)))
      .to.be.revertedWithCustomError(keys, "MLDSAKeyExists").withArgs(ethers.keccak256(kat[0].pk));
    await expect(keys.prove(ethers.keccak256(kat[0].pk), 4, 7)).to.be.revertedWithCustomError(keys, "MLDSAKeyBadRows");
  });
});
