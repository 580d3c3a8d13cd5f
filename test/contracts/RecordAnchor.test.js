const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");

const fakeKey = (seed) => ethers.concat(Array.from({ length: 62 }, (_, i) =>
  ethers.keccak256(ethers.toUtf8Bytes(`${seed}/${i}`)))).slice(0, 2 + 1952 * 2);

describe("RecordAnchor", function () {
  async function deployed() {
    const [a, b, c, outsider] = await ethers.getSigners();
    const registry = await (await ethers.getContractFactory("AuthorityRegistry"))
      .deploy([a.address, b.address, c.address], ["a", "b", "c"].map(fakeKey), 0);
    const anchor = await (await ethers.getContractFactory("RecordAnchor")).deploy(await registry.getAddress());
    const root = ethers.keccak256(ethers.toUtf8Bytes("batch-1"));
    return { registry, anchor, a, b, c, outsider, root };
  }

  it("Should store a root with its block, time and size", async function () {
    const { anchor, a, root } = await loadFixture(deployed);
    await expect(anchor.connect(a).anchorBatch(root, 10))
      .to.emit(anchor, "BatchAnchored").withArgs(root, a.address, 0, 10);
    const block = await ethers.provider.getBlock("latest");
    const stored = await anchor.anchorOf(root);
    expect(stored.blockNumber).to.equal(BigInt(block.number));
    expect(stored.timestamp).to.equal(BigInt(block.timestamp));
    expect(stored.recordCount).to.equal(10n);
    expect(stored.submitter).to.equal(a.address);
    expect(await anchor.batchCount()).to.equal(1n);
  });

  it("Should refuse callers that are not authorities", async function () {
    const { anchor, outsider, root } = await loadFixture(deployed);
    await expect(anchor.connect(outsider).anchorBatch(root, 1))
      .to.be.revertedWithCustomError(anchor, "AnchorNotAuthority").withArgs(outsider.address);
  });

  it("Should refuse a root anchored before", async function () {
    const { anchor, a, b, root } = await loadFixture(deployed);
    await anchor.connect(a).anchorBatch(root, 1);
    await expect(anchor.connect(b).anchorBatch(root, 1))
      .to.be.revertedWithCustomError(anchor, "AnchorDuplicateRoot").withArgs(root);
  });

  it("Should refuse empty batches", async function () {
    const { anchor, a, root } = await loadFixture(deployed);
    await expect(anchor.connect(a).anchorBatch(ethers.ZeroHash, 1))
      .to.be.revertedWithCustomError(anchor, "AnchorEmptyBatch");
    await expect(anchor.connect(a).anchorBatch(root, 0))
      .to.be.revertedWithCustomError(anchor, "AnchorEmptyBatch");
  });

  it("Should stop a revoked authority from anchoring", async function () {
    const { registry, anchor, a, b, c, root } = await loadFixture(deployed);
    await registry.connect(a).proposeRevoke(c.address);
    await registry.connect(b).approve(0);
    await expect(anchor.connect(c).anchorBatch(root, 1))
      .to.be.revertedWithCustomError(anchor, "AnchorNotAuthority").withArgs(c.address);
  });
});
