// The independent JavaScript verifier of docs/spec.md ("Verifying a record"): an ES module for node 20 and
// browsers. It trusts only the trust root it is given and the JSON-RPC node it reads; it shares no code with the
// BinDaaS server or its Python verifier. Checks run in the spec's order, with the spec's names; every check runs,
// and `failed_check` is the first that failed.
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { keccak_256, sha3_256 } from "@noble/hashes/sha3.js";
import canonicalize from "canonicalize";
import { AbiCoder, id as eventTopic } from "ethers";

export const RECEIPT_VERSION = "bindaas-receipt/1";
export const TRUST_VERSION = "bindaas-trust/1";
const enc = new TextEncoder();
const RECORD_TAG = enc.encode("BINDAAS/record/v1\0");
const SIGNED_TAG = enc.encode("BINDAAS/signed/v2\0");
const OWNER_CONTEXT = enc.encode("bindaas/owner/v1");
const ENDORSEMENT_CONTEXT = enc.encode("bindaas/endorsement/v1");
const ROLE = { patient: 1n, clinician: 2n };
const BATCH_ANCHORED = eventTopic("BatchAnchored(bytes32,address,uint256,uint32)");
const abi = AbiCoder.defaultAbiCoder();

class Malformed extends Error {}

export const toHex = (bytes) => "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function fromHex(text, what, length) {
  if (typeof text !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(text)) throw new Malformed(`${what} is not 0x-hex`);
  const out = new Uint8Array((text.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 + 2 * i, 4 + 2 * i), 16);
  if (length !== undefined && out.length !== length) throw new Malformed(`${what} must be ${length} bytes, got ${out.length}`);
  return out;
}

export function fromBase64(text, what) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new Malformed(`${what} is not base64`);
  }
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function uintBytes(value, width) {
  const out = new Uint8Array(width);
  let v = BigInt(value);
  for (let i = width - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** SHA3-256("BINDAAS/record/v1\0" || salt || RFC 8785 JSON of the bundle). */
export function recordDigest(bundle, salt) {
  return sha3_256(concat(RECORD_TAG, salt, enc.encode(canonicalize(bundle))));
}

/** "BINDAAS/signed/v2\0" || chain id (32, big-endian) || AuthorityRegistry (20) || patient key id (32) || digest. */
export function signedMessage(digest, { chainId, registry, patient }) {
  return concat(SIGNED_TAG, uintBytes(chainId, 32), fromHex(registry, "registry", 20), fromHex(patient, "patient", 32), digest);
}

/** SHA3-256(0x00 || digest || accepted block as 8 bytes big-endian). */
export const recordLeaf = (digest, block) => sha3_256(concat(Uint8Array.of(0), digest, uintBytes(block, 8)));
const node = (left, right) => sha3_256(concat(Uint8Array.of(1), left, right));
export const keyId = (publicKey) => toHex(keccak_256(publicKey));

/** Per level from the leaf up: does the sibling sit on the left? A lone last node moves up with no sibling. */
export function pathDirections(leafIndex, treeSize) {
  const out = [];
  let index = leafIndex, size = treeSize;
  while (size > 1) {
    const sibling = index ^ 1;
    if (sibling < size) out.push(sibling < index);
    index = Math.floor(index / 2);
    size = Math.ceil(size / 2);
  }
  return out;
}

export function rootFromPath(leaf, path, leafIndex, treeSize) {
  const directions = pathDirections(leafIndex, treeSize);
  if (directions.length !== path.length) {
    throw new Malformed(`a leaf at index ${leafIndex} of ${treeSize} has a path of ${directions.length} hashes, the receipt gives ${path.length}`);
  }
  return path.reduce((acc, sibling, i) => (directions[i] ? node(sibling, acc) : node(acc, sibling)), leaf);
}

const activeAt = (enrolled, revoked, block) => enrolled !== 0n && enrolled <= block && (revoked === 0n || block < revoked);
const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** A minimal JSON-RPC reader over fetch: the getters the spec names, decoded with ethers' ABI coder. */
export class JsonRpcReader {
  constructor(url) { this.url = url; this.next = 1; }

  async request(method, params) {
    let answer;
    try {
      const response = await fetch(this.url, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: this.next++, method, params }) });
      answer = await response.json();
    } catch (err) {
      throw new RpcError(`${method}: no answer from ${this.url} (${err.message})`);
    }
    if (answer.error) throw new RpcError(`${method}: ${answer.error.message}`);
    return answer.result;
  }

  async call(to, signature, types, args, outputs) {
    const data = eventTopic(signature).slice(0, 10) + abi.encode(types, args).slice(2);
    return abi.decode(outputs, await this.request("eth_call", [{ to, data }, "latest"]));
  }

  async chainId() { return BigInt(await this.request("eth_chainId", [])); }
  async blockNumber() { return BigInt(await this.request("eth_blockNumber", [])); }

  async identity(registry, keyIdHex) {
    const [role, enrolled, revoked] = await this.call(registry, "identityOf(bytes32)", ["bytes32"], [keyIdHex],
      ["uint8", "uint64", "uint64", "address", "bytes32"]);
    return { role, enrolled, revoked };
  }

  async authorityKey(registry, keyIdHex) {
    const [owner, registered, revoked] = await this.call(registry, "keyInfo(bytes32)", ["bytes32"], [keyIdHex],
      ["address", "uint64", "uint64"]);
    return { owner, registered, revoked };
  }

  async thresholdAt(registry, block) {
    return (await this.call(registry, "thresholdAt(uint256)", ["uint256"], [block], ["uint256"]))[0];
  }

  async anchor(recordAnchor, rootHex) {
    const [block, timestamp, count, submitter] = await this.call(recordAnchor, "anchorOf(bytes32)", ["bytes32"],
      [rootHex], ["uint64", "uint64", "uint32", "address"]);
    return { block, timestamp, count, submitter };
  }

  transactionReceipt(txHash) { return this.request("eth_getTransactionReceipt", [txHash]); }
}

export class RpcError extends Error {}

function checkFormat(r) {
  if (r?.spec !== RECEIPT_VERSION) throw new Malformed(`spec must be '${RECEIPT_VERSION}', got '${r?.spec}'`);
  for (const name of ["record_id", "patient", "salt"]) {
    if (typeof r[name] !== "string" || !/^0x[0-9a-f]{64}$/.test(r[name])) throw new Malformed(`${name} must be 0x and 64 lower-case hex digits`);
  }
  for (const name of ["chain_id", "accepted_block"]) {
    if (!Number.isInteger(r[name]) || r[name] < 0) throw new Malformed(`${name} must be a non-negative integer`);
  }
  const c = r.contracts;
  if (!c || !["authority_registry", "record_anchor", "identity_registry"].every((n) => /^0x[0-9a-fA-F]{40}$/.test(c[n] ?? ""))) {
    throw new Malformed("contracts must name authority_registry, record_anchor and identity_registry addresses");
  }
  if (typeof r.owner !== "object" || r.owner === null || !Array.isArray(r.endorsements)) throw new Malformed("owner (object) and endorsements (list) are required");
  const inc = r.inclusion;
  if (!inc || !Array.isArray(inc.path) || !Number.isInteger(inc.leaf_index) || !Number.isInteger(inc.tree_size) ||
      !(inc.leaf_index >= 0 && inc.leaf_index < inc.tree_size)) {
    throw new Malformed("inclusion needs leaf_index < tree_size, root and path");
  }
  if (!r.anchor || !Number.isInteger(r.anchor.block_number) || typeof r.anchor.tx_hash !== "string") throw new Malformed("anchor needs tx_hash and block_number");
}

export function parseTrust(doc) {
  if (doc?.spec !== TRUST_VERSION) throw new Error(`trust root: spec must be '${TRUST_VERSION}'`);
  const c = doc.contracts ?? {};
  for (const name of ["authority_registry", "record_anchor", "identity_registry"]) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(c[name] ?? "")) throw new Error(`trust root: contracts.${name} must be an address`);
  }
  return { chainId: BigInt(doc.chain_id), confirmations: BigInt(doc.confirmations ?? 0),
    authority_registry: c.authority_registry.toLowerCase(), record_anchor: c.record_anchor.toLowerCase(),
    identity_registry: c.identity_registry.toLowerCase() };
}

function verifySignature(publicKey, signature, message, context) {
  if (publicKey.length !== 1952) return `an ML-DSA-65 public key is 1952 bytes, got ${publicKey.length}`;
  if (signature.length !== 3309) return `an ML-DSA-65 signature is 3309 bytes, got ${signature.length}`;
  return ml_dsa65.verify(signature, message, publicKey, { context }) ? null : "ML-DSA-65 signature does not verify";
}

const report = (recordId, checks) => {
  const failed = checks.find((c) => !c.ok)?.name ?? null;
  const verdict = failed === null ? "valid" : failed === "finality" ? "not-final" : "invalid";
  return { record_id: recordId ?? null, verdict, failed_check: failed, checks };
};

/**
 * Verify `bundle` with its `receipt` against the chain `rpc` reads, believing only `trustDoc`. With `bundle` null
 * (an auditor, who holds no content) the digest check is skipped and marked so; everything else runs.
 * Returns {record_id, verdict: valid | invalid | not-final, failed_check, checks: [{name, ok, detail}]}.
 */
export async function verifyReceipt(receipt, bundle, { rpc, trust: trustDoc }) {
  const trust = parseTrust(trustDoc);
  const checks = [];
  const add = (name, problem, okDetail) => checks.push({ name, ok: problem === null, detail: problem ?? okDetail });
  try {
    checkFormat(receipt);
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    return report(receipt?.record_id, [{ name: "receipt_format", ok: false, detail: err.message }]);
  }
  add("receipt_format", null, `a ${RECEIPT_VERSION} receipt`);
  try {
    await run(receipt, bundle, rpc, trust, add, checks);
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
    add("chain_reachable", err.message);
  }
  return report(receipt.record_id, checks);
}

async function run(receipt, bundle, rpc, trust, add, checks) {
  const contracts = Object.fromEntries(Object.entries(receipt.contracts).map(([k, v]) => [k, v.toLowerCase()]));
  const nodeChain = await rpc.chainId();
  if (BigInt(receipt.chain_id) !== trust.chainId || nodeChain !== trust.chainId) {
    return add("trust_root", `receipt names chain ${receipt.chain_id}, the node is chain ${nodeChain}, the trust root pins chain ${trust.chainId}`);
  }
  const mismatched = ["authority_registry", "record_anchor", "identity_registry"].filter((n) => contracts[n] !== trust[n]);
  if (mismatched.length) return add("trust_root", `receipt names other contracts than the trust root pins: ${mismatched.join(", ")}`);
  add("trust_root", null, `chain ${trust.chainId} and contracts as pinned`);

  const block = BigInt(receipt.accepted_block);
  let digest;
  if (bundle === null) { // an auditor holds no content: every other check runs on the record id as the digest
    digest = fromHex(receipt.record_id, "record_id", 32);
    checks.push({ name: "digest", ok: true, skipped: true, detail: "not checked: no bundle was given, so the record id stands for the digest" });
  } else {
    try {
      digest = recordDigest(bundle, fromHex(receipt.salt, "salt", 32));
      add("digest", toHex(digest) === receipt.record_id ? null : "the bundle and salt do not hash to the record id",
        "SHA3-256 of tag, salt and RFC 8785 bundle is the record id");
    } catch (err) {
      digest = new Uint8Array(32);
      add("digest", `the bundle cannot be canonicalized: ${err.message}`);
    }
  }
  const message = signedMessage(digest, { chainId: receipt.chain_id, registry: contracts.authority_registry, patient: receipt.patient });

  let ownerId = null, problem;
  try {
    const ownerKey = fromBase64(receipt.owner.public_key, "owner.public_key");
    ownerId = keyId(ownerKey);
    problem = ownerId === receipt.owner.key_id ? null : "owner.key_id is not keccak256 of owner.public_key";
    problem ??= verifySignature(ownerKey, fromBase64(receipt.owner.signature, "owner.signature"), message, OWNER_CONTEXT);
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    problem = err.message;
  }
  add("owner_signature", problem, "ML-DSA-65 owner signature verifies");
  add("owner_identity", await ownerIdentityProblem(ownerId, receipt.patient, block, rpc, contracts.identity_registry),
    "the owner was an enrolled patient or clinician allowed to own this record");

  const authorities = new Set();
  for (const [i, e] of receipt.endorsements.entries()) {
    const name = `endorsement[${i}]`;
    let state = null;
    try {
      const publicKey = fromBase64(e.public_key, `${name}.public_key`);
      const kid = keyId(publicKey);
      if (kid !== e.key_id) throw new Malformed(`${name}.key_id is not keccak256 of its public key`);
      state = await rpc.authorityKey(contracts.authority_registry, kid);
      problem = verifySignature(publicKey, fromBase64(e.signature, `${name}.signature`), message, ENDORSEMENT_CONTEXT);
      if (problem === null && !activeAt(state.registered, state.revoked, block)) {
        problem = `key ${kid} was not a registered, unrevoked authority key at block ${block}`;
      }
      if (problem === null && e.authority && e.authority.toLowerCase() !== state.owner.toLowerCase()) {
        problem = `key ${kid} belongs to ${state.owner}, not ${e.authority}`;
      }
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      problem = err.message;
    }
    add(name, problem, `ML-DSA-65 endorsement by ${state?.owner} verifies; the key was valid at block ${block}`);
    if (problem === null) authorities.add(state.owner.toLowerCase());
  }
  const required = await rpc.thresholdAt(contracts.authority_registry, block);
  add("policy", BigInt(authorities.size) >= required ? null : `${authorities.size} distinct valid authorities endorsed; the policy at block ${block} requires ${required}`,
    `${authorities.size} distinct valid authorities endorsed; the policy at block ${block} requires ${required}`);

  const inc = receipt.inclusion;
  let root = null;
  try {
    const path = inc.path.map((s) => fromHex(s, "inclusion.path[]", 32));
    root = fromHex(inc.root, "inclusion.root", 32);
    const computed = rootFromPath(recordLeaf(digest, block), path, inc.leaf_index, inc.tree_size);
    problem = equalBytes(computed, root) ? null : "the inclusion path does not lead to the root";
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    root = null;
    problem = err.message;
  }
  add("merkle_proof", problem, "the leaf and path lead to the root");

  const anchor = receipt.anchor;
  problem = await anchorProblem(rpc, contracts.record_anchor, root, anchor, inc.tree_size, block);
  add("anchor_on_chain", problem, `root anchored in block ${anchor.block_number} by tx ${anchor.tx_hash}`);
  if (problem === null) {
    const depth = (await rpc.blockNumber()) - BigInt(anchor.block_number);
    add("finality", depth >= trust.confirmations ? null : `${depth} blocks stand on top of the anchor; final at ${trust.confirmations}`,
      `${depth} blocks stand on top of the anchor; final at ${trust.confirmations}`);
  }
}

async function ownerIdentityProblem(ownerId, patient, block, rpc, registry) {
  if (ownerId === null) return "the owner key is unreadable";
  const owner = await rpc.identity(registry, ownerId);
  if (!activeAt(owner.enrolled, owner.revoked, block)) return `owner ${ownerId} was not an enrolled, active identity at block ${block}`;
  if (BigInt(owner.role) === ROLE.patient) {
    return patient === ownerId ? null : `a patient owns records only about themselves; the receipt names patient ${patient}`;
  }
  if (BigInt(owner.role) === ROLE.clinician) {
    const subject = await rpc.identity(registry, patient);
    return BigInt(subject.role) === ROLE.patient && activeAt(subject.enrolled, subject.revoked, block)
      ? null : `patient ${patient} was not an enrolled, active patient at block ${block}`;
  }
  return `owner ${ownerId} has role ${owner.role}; only patients and clinicians own records`;
}

async function anchorProblem(rpc, recordAnchor, root, anchor, treeSize, acceptedBlock) {
  if (root === null) return "no root to look up";
  const rootHex = toHex(root);
  const state = await rpc.anchor(recordAnchor, rootHex);
  if (state.block === 0n) return `root ${rootHex} is not anchored in RecordAnchor ${recordAnchor}`;
  if (state.block !== BigInt(anchor.block_number)) return `root anchored in block ${state.block}, the receipt says ${anchor.block_number}`;
  if (state.count !== BigInt(treeSize)) return `the anchor commits to ${state.count} leaves, the receipt to ${treeSize}`;
  if (state.block < acceptedBlock) return `anchored in block ${state.block}, before the record's acceptance block ${acceptedBlock}`;
  const tx = await rpc.transactionReceipt(anchor.tx_hash);
  if (!tx || BigInt(tx.status) !== 1n || BigInt(tx.blockNumber) !== state.block) {
    return `transaction ${anchor.tx_hash} is not a successful transaction in block ${state.block}`;
  }
  const found = tx.logs.some((log) => log.address.toLowerCase() === recordAnchor && log.topics[0] === BATCH_ANCHORED && log.topics[1] === rootHex);
  return found ? null : `transaction ${anchor.tx_hash} emitted no BatchAnchored event for this root`;
}
