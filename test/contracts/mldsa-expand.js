// FIPS 204 ExpandA for an ML-DSA-65 public key, packed as MLDSA65Keys.register takes it: A[r][s] for r < 6, s < 5,
// row-major, 256 coefficients of 3 bytes (big-endian) each. An independent implementation of what the contract
// recomputes on chain when the expansion is proven.
const { shake128 } = require("@noble/hashes/sha3.js");

const Q = 8380417;

function expandA(publicKeyHex) {
  const rho = Buffer.from(publicKeyHex.replace(/^0x/, ""), "hex").subarray(0, 32);
  const out = Buffer.alloc(30 * 256 * 3);
  for (let r = 0; r < 6; r++) {
    for (let s = 0; s < 5; s++) {
      const stream = shake128(Buffer.concat([rho, Buffer.from([s, r])]), { dkLen: 168 * 8 });
      let filled = 0;
      for (let p = 0; filled < 256; p += 3) {
        const z = stream[p] | (stream[p + 1] << 8) | ((stream[p + 2] & 0x7f) << 16);
        if (z < Q) {
          out.writeUIntBE(z, ((r * 5 + s) * 256 + filled) * 3, 3);
          filled += 1;
        }
      }
    }
  }
  return "0x" + out.toString("hex");
}

module.exports = { expandA };
