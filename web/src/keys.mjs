// Keys that never leave the browser: the key file `bindaas keygen` writes (ML-DSA-65 seed + ML-KEM-768 seed) is
// read here, expanded with @noble/post-quantum, kept in memory only, and forgotten on sign-out.
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { concat, fromBase64, fromHex, keyId, toHex, uintBytes } from "../../js/verifier/verify.mjs";

const enc = new TextEncoder();
const AUTH = enc.encode("bindaas/auth/v1");
const CONSENT = enc.encode("bindaas/consent/v1");
const CONSENT_TAG = enc.encode("BINDAAS/consent/v1\0");
const RECORD_TAG = enc.encode("BINDAAS/record/v1\0");
const PAYLOAD_AAD = enc.encode("BINDAAS/payload/v1\0");
const WRAP_AAD = enc.encode("BINDAAS/wrapped-key/v1\0");
export const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

/** Parse a key file's text; throws a sentence when it is not one. */
export function readKeyFile(text) {
  let doc;
  try { doc = JSON.parse(text); } catch { throw new Error("this file is not JSON: choose the key file `bindaas keygen` wrote"); }
  if (doc.algorithm !== "ML-DSA-65" || !doc.seed) throw new Error("this file holds no ML-DSA-65 key: choose the key file `bindaas keygen` wrote");
  const signing = ml_dsa65.keygen(fromBase64(doc.seed, "seed"));
  if (doc.public_key && toBase64(signing.publicKey) !== doc.public_key) throw new Error("the key file's public key does not match its seed");
  const kem = doc.kem_seed ? ml_kem768.keygen(fromBase64(doc.kem_seed, "kem_seed")) : null;
  return { keyId: keyId(signing.publicKey), signing, kem };
}

export const signChallenge = (key, challenge) => toBase64(ml_dsa65.sign(fromBase64(challenge, "challenge"), key.signing.secretKey, { context: AUTH }));

/** The consent statement of docs/spec.md §8, signed with the patient's key. */
export function signConsent(key, { chainId, contract, grantee, granted, notAfter, nonce }) {
  const message = concat(CONSENT_TAG, uintBytes(chainId, 32), fromHex(contract.toLowerCase(), "contract", 20), fromHex(key.keyId, "patient", 32),
    fromHex(grantee.toLowerCase(), "grantee", 32), Uint8Array.of(granted ? 1 : 0), uintBytes(notAfter, 8), uintBytes(nonce, 8));
  return toBase64(ml_dsa65.sign(message, key.signing.secretKey, { context: CONSENT }));
}

async function aesGcmOpen(keyBytes, sealed, aad) {
  const key = await crypto.subtle.importKey("raw", keyBytes, "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.slice(0, 12), additionalData: aad }, key, sealed.slice(12)));
}

/** Open an export: ML-KEM-768 unwraps the data key, AES-256-GCM opens the payload, and its digest must be the
 * record id before anything is shown. Returns the bundle. */
export async function openExport(key, exported) {
  if (!key.kem) throw new Error("this key file has no ML-KEM-768 key, so it cannot open records");
  const wrapped = fromBase64(exported.wrapped_key, "wrapped_key");
  const secret = ml_kem768.decapsulate(wrapped.slice(0, 1088), key.kem.secretKey);
  const aad = concat(WRAP_AAD, enc.encode(exported.id), Uint8Array.of(0), enc.encode(key.keyId));
  let dataKey, plaintext;
  try {
    dataKey = await aesGcmOpen(secret, wrapped.slice(1088), aad);
    plaintext = await aesGcmOpen(dataKey, fromBase64(exported.payload, "payload"), concat(PAYLOAD_AAD, enc.encode(exported.id)));
  } catch {
    throw new Error("the record did not decrypt with your key: it is not wrapped for you, or it was altered");
  }
  const digest = toHex(sha3_256(concat(RECORD_TAG, fromHex("0x" + exported.salt.replace(/^0x/, ""), "salt", 32), plaintext)));
  if (digest !== exported.id) throw new Error(`the opened record does not hash to its id ${exported.id}: not shown`);
  return JSON.parse(new TextDecoder().decode(plaintext));
}
