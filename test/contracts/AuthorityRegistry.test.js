const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");

const KEY_LENGTH = 1952;
const fakeKey = (seed) => ethers.concat(Array.from({ length: KEY_LENGTH / 32 + 1 }, (_, i) =>
  ethers.keccak256(ethers.toUtf8Bytes(`${seed}/${i}`)))).slice(0, 2 + KEY_LENGTH * 2);

describe("AuthorityRegistry", function () {
  async function threeAuthorities() {
    const [a, b, c, d, outsider] = await ethers.getSigners();
    const keys = ["a", "b", "c"].map(fakeKey);
    const Registry = await ethers.getContractFactory("AuthorityRegistry");
    const registry = await Registry.deploy([a.address, b.address, c.address], keys, 0);
    return { registry, a, b, c, d, outsider, keys };
  }

  describe("Deployment", function () {
    it("Should default the endorsement policy to k = N", async function () {
      const { registry } = await loadFixture(threeAuthorities);
      expect(await registry.threshold()).to.equal(3n);
      expect(await registry.activeCount()).to.equal(3n);
      expect(await registry.quorum()).to.equal(2n);
    });

    it("Should publish each key so verifiers can fetch it by its hash", async function () {
      const { registry, a, keys } = await loadFixture(threeAuthorities);
      const [keyHash, active] = await registry.authority(a.address);
      expect(keyHash).to.equal(ethers.keccak256(keys[0]));
      expect(active).to.equal(true);
      expect(await registry.publicKeyOf(keyHash)).to.equal(keys[0]);
    });

    it("Should refuse keys that are not ML-DSA-65 sized", async function () {
      const [a] = await ethers.getSigners();
      const Registry = await ethers.getContractFactory("AuthorityRegistry");
      await expect(Registry.deploy([a.address], ["0x1234"], 0))
        .to.be.revertedWithCustomError(Registry, "RegistryBadPublicKeyLength").withArgs(2);
    });
  });

  describe("Governance", function () {
    it("Should not let a single authority add a member", async function () {
      const { registry, a, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      expect(await registry.isActiveAuthority(d.address)).to.equal(false);
    });

    it("Should add a member once a majority approves", async function () {
      const { registry, a, b, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      await expect(registry.connect(b).approve(0))
        .to.emit(registry, "AuthorityAdded").withArgs(d.address, ethers.keccak256(fakeKey("d")), fakeKey("d"));
      expect(await registry.isActiveAuthority(d.address)).to.equal(true);
      expect(await registry.activeCount()).to.equal(4n);
    });

    it("Should refuse proposals from outsiders", async function () {
      const { registry, outsider, d } = await loadFixture(threeAuthorities);
      await expect(registry.connect(outsider).proposeAdd(d.address, fakeKey("d")))
        .to.be.revertedWithCustomError(registry, "RegistryNotAuthority").withArgs(outsider.address);
    });

    it("Should refuse approvals from outsiders", async function () {
      const { registry, a, d, outsider } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      await expect(registry.connect(outsider).approve(0))
        .to.be.revertedWithCustomError(registry, "RegistryNotAuthority").withArgs(outsider.address);
    });

    it("Should refuse a second approval by the same authority", async function () {
      const { registry, a, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      await expect(registry.connect(a).approve(0))
        .to.be.revertedWithCustomError(registry, "RegistryAlreadyApproved").withArgs(0, a.address);
    });

    it("Should refuse approving an executed proposal", async function () {
      const { registry, a, b, c, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      await registry.connect(b).approve(0);
      await expect(registry.connect(c).approve(0))
        .to.be.revertedWithCustomError(registry, "RegistryProposalExecuted").withArgs(0);
    });

    it("Should make open proposals stale when membership changes", async function () {
      const { registry, a, b, c, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeThreshold(2);
      await registry.connect(a).proposeAdd(d.address, fakeKey("d"));
      await registry.connect(b).approve(1);
      await expect(registry.connect(c).approve(0))
        .to.be.revertedWithCustomError(registry, "RegistryProposalStale").withArgs(0);
    });

    it("Should refuse an unknown proposal id", async function () {
      const { registry, a } = await loadFixture(threeAuthorities);
      await expect(registry.connect(a).approve(7))
        .to.be.revertedWithCustomError(registry, "RegistryProposalNotFound").withArgs(7);
    });

    it("Should never reuse a key", async function () {
      const { registry, a, d, keys } = await loadFixture(threeAuthorities);
      await expect(registry.connect(a).proposeAdd(d.address, keys[1]))
        .to.be.revertedWithCustomError(registry, "RegistryKeyAlreadyUsed").withArgs(ethers.keccak256(keys[1]));
    });
  });

  describe("Revocation and rotation", function () {
    it("Should revoke with a majority and keep the key's history", async function () {
      const { registry, a, b, c, keys } = await loadFixture(threeAuthorities);
      const keyHash = ethers.keccak256(keys[2]);
      const before = await ethers.provider.getBlockNumber();
      await registry.connect(a).proposeRevoke(c.address);
      await expect(registry.connect(b).approve(0)).to.emit(registry, "AuthorityRevoked").withArgs(c.address, keyHash);
      const revokedAt = await ethers.provider.getBlockNumber();
      expect(await registry.isActiveAuthority(c.address)).to.equal(false);
      expect(await registry.keyValidAt(keyHash, before)).to.equal(true);
      expect(await registry.keyValidAt(keyHash, revokedAt)).to.equal(false);
    });

    it("Should stop a revoked authority from proposing", async function () {
      const { registry, a, b, c, d } = await loadFixture(threeAuthorities);
      await registry.connect(a).proposeRevoke(c.address);
      await registry.connect(b).approve(0);
      await expect(registry.connect(c).proposeAdd(d.address, fakeKey("d")))
        .to.be.revertedWithCustomError(registry, "RegistryNotAuthority").withArgs(c.address);
    });

    it("Should rotate a key: the old one ends, the new one starts", async function () {
      const { registry, a, b, keys } = await loadFixture(threeAuthorities);
      const oldHash = ethers.keccak256(keys[0]);
      const newHash = ethers.keccak256(fakeKey("a2"));
      await registry.connect(a).proposeRotate(a.address, fakeKey("a2"));
      await expect(registry.connect(b).approve(0))
        .to.emit(registry, "AuthorityKeyRotated").withArgs(a.address, oldHash, newHash, fakeKey("a2"));
      const now = await ethers.provider.getBlockNumber();
      expect(await registry.keyValidAt(oldHash, now)).to.equal(false);
      expect(await registry.keyValidAt(newHash, now)).to.equal(true);
      expect(await registry.isActiveAuthority(a.address)).to.equal(true);
    });

    it("Should refuse to revoke someone who is not an authority", async function () {
      const { registry, a, outsider } = await loadFixture(threeAuthorities);
      await expect(registry.connect(a).proposeRevoke(outsider.address))
        .to.be.revertedWithCustomError(registry, "RegistryUnknownAuthority").withArgs(outsider.address);
    });
  });

  describe("Endorsement policy", function () {
    it("Should change k with a majority and remember the old value by block", async function () {
      const { registry, a, b } = await loadFixture(threeAuthorities);
      const before = await ethers.provider.getBlockNumber();
      await registry.connect(a).proposeThreshold(2);
      await registry.connect(b).approve(0);
      expect(await registry.threshold()).to.equal(2n);
      expect(await registry.thresholdAt(before)).to.equal(3n);
      expect(await registry.thresholdAt(await ethers.provider.getBlockNumber())).to.equal(2n);
    });

    it("Should refuse a policy larger than N", async function () {
      const { registry, a } = await loadFixture(threeAuthorities);
      await expect(registry.connect(a).proposeThreshold(4))
        .to.be.revertedWithCustomError(registry, "RegistryInvalidThreshold").withArgs(4, 3);
    });
  });
});
