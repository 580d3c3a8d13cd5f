// The byte layouts of docs/spec.md, checked against vectors the Python primitives made (offline-vectors.json):
// the JavaScript verifier must reproduce every digest, message, leaf and path, and accept the owner signature.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import canonicalize from "canonicalize";
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { fromBase64, fromHex, keyId, pathDirections, recordDigest, recordLeaf, rootFromPath, signedMessage, toHex } from "../verify.mjs";

const v = JSON.parse(readFileSync(new URL("./offline-vectors.json", import.meta.url), "utf8"));
const context = new TextEncoder().encode("bindaas/owner/v1");

test("RFC 8785 canonical JSON matches, numbers and Unicode included", () => {
  assert.equal(canonicalize(v.bundle), v.canonical);
});

test("the record digest, the signed message and the Merkle leaf match byte for byte", () => {
  const digest = recordDigest(v.bundle, fromHex(v.salt, "salt", 32));
  assert.equal(toHex(digest), v.digest);
  assert.equal(toHex(signedMessage(digest, { chainId: v.chain_id, registry: v.registry, patient: v.patient })), v.message);
  assert.equal(toHex(recordLeaf(digest, v.accepted_block)), v.leaf);
});

test("every leaf of a 5-leaf tree reaches the root along its path; the lone last leaf skips a level", () => {
  v.tree.leaves.forEach((leaf, i) => {
    const path = v.tree.paths[i].map((s) => fromHex(s, "path", 32));
    assert.equal(toHex(rootFromPath(fromHex(leaf, "leaf", 32), path, i, v.tree.leaves.length)), v.tree.root);
  });
  assert.deepEqual(pathDirections(4, 5), [true]); // no sibling on the two lowest levels, then the left one
  assert.throws(() => rootFromPath(fromHex(v.tree.leaves[0], "leaf", 32), [], 0, 5), /path of 3 hashes/);
});

test("an ML-DSA-65 owner signature made by OpenSSL verifies, and fails with one bit changed", () => {
  const publicKey = fromBase64(v.owner.public_key, "key");
  const signature = fromBase64(v.owner.signature, "signature");
  const message = fromHex(v.message, "message");
  assert.equal(keyId(publicKey), v.owner.key_id);
  assert.equal(ml_dsa65.verify(signature, message, publicKey, { context }), true);
  signature[10] ^= 1;
  assert.equal(ml_dsa65.verify(signature, message, publicKey, { context }), false);
});
