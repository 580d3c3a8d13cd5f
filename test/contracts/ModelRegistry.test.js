const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");

const fakeKey = (seed) => ethers.concat(Array.from({ length: 62 }, (_, i) =>
  ethers.keccak256(ethers.toUtf8Bytes(`${seed}/${i}`)))).slice(0, 2 + 1952 * 2);
const h = (text) => ethers.keccak256(ethers.toUtf8Bytes(text));

describe("ModelRegistry", function () {
  async function deployed() {
    const [a, b, outsider] = await ethers.getSigners();
    const registry = await (await ethers.getContractFactory("AuthorityRegistry"))
      .deploy([a.address, b.address], ["a", "b"].map(fakeKey), 0);
    const models = await (await ethers.getContractFactory("ModelRegistry")).deploy(await registry.getAddress());
    return { models, a, outsider };
  }

  it("Should record a model's training-set root and metrics hash", async function () {
    const { models, a } = await loadFixture(deployed);
    await expect(models.connect(a).registerModel(h("model"), h("root"), h("metrics"), 100))
      .to.emit(models, "ModelRegistered").withArgs(h("model"), h("root"), h("metrics"), 100, a.address);
    const stored = await models.modelOf(h("model"));
    expect(stored.trainingSetRoot).to.equal(h("root"));
    expect(stored.trainingRecords).to.equal(100n);
    expect(stored.registeredBy).to.equal(a.address);
  });

  it("Should refuse callers that are not authorities", async function () {
    const { models, outsider } = await loadFixture(deployed);
    await expect(models.connect(outsider).registerModel(h("model"), h("root"), h("metrics"), 1))
      .to.be.revertedWithCustomError(models, "ModelRegistryNotAuthority").withArgs(outsider.address);
  });

  it("Should refuse a model id registered before", async function () {
    const { models, a } = await loadFixture(deployed);
    await models.connect(a).registerModel(h("model"), h("root"), h("metrics"), 1);
    await expect(models.connect(a).registerModel(h("model"), h("root2"), h("metrics"), 1))
      .to.be.revertedWithCustomError(models, "ModelRegistryDuplicate").withArgs(h("model"));
  });

  it("Should refuse an empty model", async function () {
    const { models, a } = await loadFixture(deployed);
    await expect(models.connect(a).registerModel(h("model"), ethers.ZeroHash, h("metrics"), 1))
      .to.be.revertedWithCustomError(models, "ModelRegistryEmpty");
  });
});
