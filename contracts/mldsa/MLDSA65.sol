// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {KeccakF1600} from "./KeccakF1600.sol";

/// @title ML-DSA-65 signature verification (FIPS 204, pure, with context)
/// @notice Verify(pk, M, sigma, ctx) of FIPS 204 (Algorithms 3 and 8) for parameter set ML-DSA-65, exactly: the
/// signatures OpenSSL and the NIST known-answer tests make verify, byte for byte. Expanding the matrix A from rho
/// takes 150 Keccak permutations, more than one transaction can afford beside the rest, so verification reads A
/// pre-expanded (packed 3 bytes a coefficient) and tr = SHAKE256(pk, 64) precomputed; `rowMatches` and `tr` are
/// what a key registry uses to prove, on chain, that a pre-expanded key is the expansion of the real one.
/// @dev Everything runs in memory at fixed addresses from 0x1000 (Solidity's own allocations stay below), so call
/// it only from an external entry point that returns straight after (see MLDSA65Keys). Polynomials hold one
/// coefficient in [0, q) a word.
library MLDSA65 {
    uint256 internal constant Q = 8380417;
    uint256 internal constant PK_LENGTH = 1952;
    uint256 internal constant SIG_LENGTH = 3309;
    uint256 internal constant GAMMA1 = 524288; // 2^19
    uint256 internal constant BETA = 196; // tau * eta
    uint256 internal constant OMEGA = 55;

    // Memory map (byte addresses). 0x1000-0x1300 round constants and 0x1800-0x1f20 the Keccak state and scratch
    // belong to KeccakF1600.
    uint256 private constant STATE = 0x1800; // KeccakF1600.STATE
    uint256 private constant SQUEEZE = 0x2000; // one squeezed block (<= 168 bytes)
    uint256 private constant HINTS = 0x2100; // k x 256 bytes, 1 where the hint is set
    uint256 private constant W1_INPUT = 0x2800; // mu || w1Encode(w1'), 832 bytes, padded
    uint256 private constant Z_HAT = 0x3000; // l polynomials, 0x2000 bytes each
    uint256 private constant C_HAT = 0xd000;
    uint256 private constant ACC = 0xf000;
    uint256 private constant A_POLY = 0x11000;
    uint256 private constant T_HAT = 0x13000;
    uint256 private constant PK_INPUT = 0x15000; // the public key, padded, for tr
    /// @notice Where the caller puts the packed matrix A (or one row of it) before `verify` or `rowMatches`.
    uint256 internal constant A_PACKED = 0x16000; // 30 polynomials x 256 coefficients x 3 bytes, row-major
    uint256 internal constant A_BYTES = 23040;
    uint256 internal constant ROW_BYTES = 3840;
    uint256 private constant MU_INPUT = 0x1c000; // tr || 0 || |ctx| || ctx || M, padded (grows with M)
    /// @notice Where the caller puts tr (64 bytes) before `verify`: the start of mu's input.
    uint256 internal constant TR = MU_INPUT;

    /// @dev zeta^BitRev8(i) mod q for i = 0..255, 4 bytes each (FIPS 204 Appendix B).
    bytes private constant ZETAS = hex"0000000100495e020039756700396569004f062b0053df73004fe033004f066b0076b1ae00360dd50028edb000207fe4003972830070894a00088192006d3dc8004c72940041e0b40028a3d20066528a004a18a700794034000a52ee006b7d81004e9f1d001a2877002571df001649ee007611bd00492bb7002af6970022d8d50036f72a0030911e0029d13f004926730050685f002010a2003887f70011b2c3000603a4000e2bed0010b72c004a5f35001f9d1500428cd4003177f40020e61200341c1d001ad873007366810049553f003952f60062564a0065ad0500439a1c0053aa5f0030b62200087f38003b0e6d002c83da001c496e00330e2b001c5b70002ee3f100137eb90057a930003ac6ef003fd54c004eb2ea00503ee1007bb175002648b4001ef256001d90a20045a6d4002ae59b0052589c006ef1f5003f72880017510200075d59001187ba0052aca900773e9e000296d8002592ec004cff1200404ce8004aa582001e54e6004f16c1001a7e790003978f004e48170031b859005884cc001b4827005b63d0005d787a0035225e00400c7e006c09d1005bd532006bc4d300258ecb002e534c00097a6c003b8820006d285c002ca4f800337caa0014b2a0005585360028f1860055795d004af67000234a860075e8260078de660005528c007adf59000f6e17005bf3da00459b7e00628b34005dbecb001a9e7b000006d9006257c500574b3c0069a8ef002898380064b5fe007ef8f5002a4e7800120a23000154a80009b7ff00435e8700437ff8005cd5b4004dc04e004728af007f735d000c8d0d000f66d5005a6d800061ab9800185d9600437f310046829800662960004bd5790028de0600465d8d0049b0e30009b434007c0db3005a68b000409ba90064d3d50021762a0065859100246e390048c39b007bc759004f585900392db2002309230012eb6700454df20030c31c002854240013232e007faf80002dbfcb00022a0b007e832c0026587a006b337500095b76006be1cc005e061e0078e00d00628c37003da604004ae53c001f1d68006330bb007361b8005ea06c00671ac700201fc6005ba4ff0060d7720008f201006de02400080e6d0056038e00695688001e6d3e002603bd006a9dfa0007c017006dbfd40074d0bd0063e1e300519573007ab60d002867ba002decd40058018c003f4cf5000b700900427e23003cbd370027333300673957001a4b5d00196926001ef2060011c14e004c76c8003cf42f007fb19a006af66c002e1669003352d6000347600008526000741e78002f6316006f0a110007c0f100776d0b000d1ff000345824000223d40068c559005e8885002faa320023fc65005e69420051e0ed0065adb3002ca5e60079e1fe007b40640035e1dd00433aac00464ade001cfe140073f1ce0010170e0074b6d7";

    /// @notice Whether `sig` is a valid ML-DSA-65 signature by `pk` of `message` under context `ctx`, given `pk`'s
    /// matrix A packed at A_PACKED and its tr = SHAKE256(pk, 64) at TR (the caller puts both there).
    /// @dev Malformed inputs (lengths, a hint encoding FIPS 204 rejects, z out of range) return false.
    function verify(bytes calldata pk, bytes calldata message, bytes calldata ctx, bytes calldata sig)
        internal
        pure
        returns (bool)
    {
        if (pk.length != PK_LENGTH || sig.length != SIG_LENGTH || ctx.length > 255) return false;
        if (!_decodeHints(sig) || !_decodeZ(sig)) return false;
        KeccakF1600.loadRoundConstants();
        uint256 zetas = _zetas();
        // mu = SHAKE256(tr || 0 || |ctx| || ctx || M, 64), written where w1' will follow it.
        uint256 muLength;
        assembly {
            mstore8(add(MU_INPUT, 64), 0)
            mstore8(add(MU_INPUT, 65), ctx.length)
            calldatacopy(add(MU_INPUT, 66), ctx.offset, ctx.length)
            calldatacopy(add(add(MU_INPUT, 66), ctx.length), message.offset, message.length)
            muLength := add(add(66, ctx.length), message.length)
        }
        _shake(MU_INPUT, muLength, 136, W1_INPUT, 64);
        _sampleInBall(sig);
        _ntt(C_HAT, zetas);
        for (uint256 j = 0; j < 5; j++) {
            _ntt(Z_HAT + j * 0x2000, zetas);
        }
        for (uint256 i = 0; i < 6; i++) {
            _row(pk, i, zetas);
        }
        _shake(W1_INPUT, 832, 136, SQUEEZE, 48);
        bool same;
        assembly {
            same := and(
                eq(mload(SQUEEZE), calldataload(sig.offset)),
                eq(shr(128, mload(add(SQUEEZE, 32))), shr(128, calldataload(add(sig.offset, 32))))
            )
        }
        return same;
    }

    /// @notice tr = SHAKE256(pk, 64), as two words.
    function tr(bytes calldata pk) internal pure returns (bytes32 tr0, bytes32 tr1) {
        KeccakF1600.loadRoundConstants();
        assembly {
            calldatacopy(PK_INPUT, pk.offset, PK_LENGTH)
        }
        _shake(PK_INPUT, PK_LENGTH, 136, SQUEEZE, 64);
        assembly {
            tr0 := mload(SQUEEZE)
            tr1 := mload(add(SQUEEZE, 32))
        }
    }

    /// @notice Whether row `row` of A, packed at A_PACKED (3,840 bytes), is A[row][0..4] = RejNTTPoly(rho || s ||
    /// row) (FIPS 204 ExpandA).
    function rowMatches(bytes32 rho, uint256 row) internal pure returns (bool same) {
        KeccakF1600.loadRoundConstants();
        same = true;
        for (uint256 s = 0; s < 5 && same; s++) {
            _expandA(rho, row, s);
            assembly {
                let packed := add(A_PACKED, mul(s, 768))
                for { let n := 0 } lt(n, 256) { n := add(n, 1) } {
                    if iszero(eq(shr(232, mload(add(packed, mul(n, 3)))), mload(add(A_POLY, shl(5, n))))) {
                        same := 0
                        n := 256
                    }
                }
            }
        }
    }

    function _zetas() private pure returns (uint256 zetas) {
        bytes memory zetasTable = ZETAS;
        assembly {
            zetas := add(zetasTable, 32)
        }
    }

    /// @dev w1'_i = UseHint(h_i, NTT^-1(sum_j A_ij z_j - c t1_i 2^d)), packed 4 bits a coefficient into W1_INPUT.
    function _row(bytes calldata pk, uint256 i, uint256 zetas) private pure {
        assembly {
            for { let n := 0 } lt(n, 256) { n := add(n, 1) } { mstore(add(ACC, shl(5, n)), 0) }
        }
        assembly {
            for { let j := 0 } lt(j, 5) { j := add(j, 1) } {
                let z := add(Z_HAT, mul(j, 0x2000))
                let a := add(A_PACKED, mul(add(mul(i, 5), j), 768))
                for { let n := 0 } lt(n, 256) { n := add(n, 1) } {
                    let at := add(ACC, shl(5, n))
                    let coefficient := shr(232, mload(add(a, mul(n, 3))))
                    mstore(at, addmod(mload(at), mulmod(coefficient, mload(add(z, shl(5, n))), Q), Q))
                }
            }
        }
        // t1_i, 10 bits a coefficient, times 2^13
        assembly {
            let src := add(add(pk.offset, 32), mul(i, 320))
            for { let g := 0 } lt(g, 64) { g := add(g, 1) } {
                let w := shr(216, calldataload(add(src, mul(g, 5)))) // 5 bytes, big-endian
                let b0 := and(shr(32, w), 0xff)
                let b1 := and(shr(24, w), 0xff)
                let b2 := and(shr(16, w), 0xff)
                let b3 := and(shr(8, w), 0xff)
                let b4 := and(w, 0xff)
                let out := add(T_HAT, shl(7, g))
                mstore(out, shl(13, or(b0, shl(8, and(b1, 3)))))
                mstore(add(out, 32), shl(13, or(shr(2, b1), shl(6, and(b2, 15)))))
                mstore(add(out, 64), shl(13, or(shr(4, b2), shl(4, and(b3, 63)))))
                mstore(add(out, 96), shl(13, or(shr(6, b3), shl(2, b4))))
            }
        }
        _ntt(T_HAT, zetas);
        assembly {
            for { let n := 0 } lt(n, 0x2000) { n := add(n, 32) } {
                let at := add(ACC, n)
                mstore(at, addmod(mload(at), sub(Q, mulmod(mload(add(C_HAT, n)), mload(add(T_HAT, n)), Q)), Q))
            }
        }
        _inverseNtt(ACC, zetas);
        assembly {
            let hints := add(HINTS, shl(8, i))
            let out := add(add(W1_INPUT, 64), shl(7, i))
            for { let n := 0 } lt(n, 256) { n := add(n, 1) } {
                // r = NTT^-1 result times 256^-1; Decompose with 2 gamma2 = 523776, then UseHint (m = 16).
                let r := mulmod(mload(add(ACC, shl(5, n))), 8347681, Q)
                let r0 := mod(r, 523776)
                let r1 := div(r, 523776)
                let positive := 0
                switch gt(r0, 261888)
                case 1 { r1 := add(r1, 1) }
                default { positive := gt(r0, 0) }
                if eq(r1, 16) {
                    r1 := 0
                    positive := 0
                }
                if byte(0, mload(add(hints, n))) {
                    switch positive
                    case 1 { r1 := and(add(r1, 1), 15) }
                    default { r1 := and(add(r1, 15), 15) }
                }
                let at := add(out, shr(1, n))
                switch and(n, 1)
                case 0 { mstore8(at, r1) }
                default { mstore8(at, or(byte(0, mload(at)), shl(4, r1))) }
            }
        }
    }

    /// @dev A_POLY = RejNTTPoly(rho || j || i): SHAKE128 squeezed three bytes a candidate, kept below q.
    function _expandA(bytes32 rho, uint256 i, uint256 j) private pure {
        assembly {
            for { let n := 0 } lt(n, 25) { n := add(n, 1) } { mstore(add(STATE, shl(5, n)), 0) }
            // rho as four little-endian lanes, then j, i and the SHAKE padding
            let rho0 := rho
            for { let n := 0 } lt(n, 4) { n := add(n, 1) } {
                mstore(add(STATE, shl(5, n)), _bswap64(and(shr(sub(192, shl(6, n)), rho0), 0xffffffffffffffff)))
            }
            mstore(add(STATE, 128), or(or(j, shl(8, i)), shl(16, 0x1f)))
            mstore(add(STATE, 640), shl(63, 1))
            function _bswap64(v) -> r {
                r := or(shl(8, and(v, 0x00ff00ff00ff00ff)), and(shr(8, v), 0x00ff00ff00ff00ff))
                r := or(shl(16, and(r, 0x0000ffff0000ffff)), and(shr(16, r), 0x0000ffff0000ffff))
                r := or(shl(32, and(r, 0x00000000ffffffff)), shr(32, r))
            }
        }
        uint256 filled = 0;
        while (filled < 256) {
            KeccakF1600.permute();
            _squeezeBlock(168);
            assembly {
                for { let p := 0 } and(lt(p, 168), lt(filled, 256)) { p := add(p, 3) } {
                    let t := shr(232, mload(add(SQUEEZE, p))) // b0 b1 b2, big-endian
                    let z := or(or(shr(16, t), and(t, 0xff00)), shl(16, and(t, 0x7f)))
                    if lt(z, Q) {
                        mstore(add(A_POLY, shl(5, filled)), z)
                        filled := add(filled, 1)
                    }
                }
            }
        }
    }

    /// @dev C_HAT = SampleInBall(c~) (tau = 49), from SHAKE256(c~) squeezed a block at a time.
    function _sampleInBall(bytes calldata sig) private pure {
        assembly {
            calldatacopy(A_POLY, sig.offset, 48) // A_POLY is free until the first row
        }
        _absorb(A_POLY, 48, 136);
        _squeezeBlock(136);
        assembly {
            for { let n := 0 } lt(n, 256) { n := add(n, 1) } { mstore(add(C_HAT, shl(5, n)), 0) }
        }
        uint256 signs;
        assembly {
            // the first 8 bytes, little-endian
            let w := shr(192, mload(SQUEEZE))
            w := or(shl(8, and(w, 0x00ff00ff00ff00ff)), and(shr(8, w), 0x00ff00ff00ff00ff))
            w := or(shl(16, and(w, 0x0000ffff0000ffff)), and(shr(16, w), 0x0000ffff0000ffff))
            signs := or(shl(32, and(w, 0x00000000ffffffff)), shr(32, w))
        }
        uint256 pos = 8;
        for (uint256 i = 207; i < 256; i++) {
            uint256 j;
            while (true) {
                if (pos == 136) {
                    KeccakF1600.permute();
                    _squeezeBlock(136);
                    pos = 0;
                }
                assembly {
                    j := byte(0, mload(add(SQUEEZE, pos)))
                }
                pos++;
                if (j <= i) break;
            }
            assembly {
                mstore(add(C_HAT, shl(5, i)), mload(add(C_HAT, shl(5, j))))
                switch and(shr(sub(i, 207), signs), 1)
                case 1 { mstore(add(C_HAT, shl(5, j)), sub(Q, 1)) }
                default { mstore(add(C_HAT, shl(5, j)), 1) }
            }
        }
    }

    /// @dev HintBitUnpack (FIPS 204 Algorithm 21) into HINTS; false where the encoding is malformed.
    function _decodeHints(bytes calldata sig) private pure returns (bool ok) {
        assembly {
            for { let n := 0 } lt(n, 0x600) { n := add(n, 32) } { mstore(add(HINTS, n), 0) }
            let y := add(sig.offset, 3248) // 48 + 5 * 640
            let index := 0
            ok := 1
            for { let i := 0 } and(ok, lt(i, 6)) { i := add(i, 1) } {
                let end := byte(0, calldataload(add(y, add(OMEGA, i))))
                if or(lt(end, index), gt(end, OMEGA)) { ok := 0 }
                let first := index
                for { } and(ok, lt(index, end)) { index := add(index, 1) } {
                    let at := byte(0, calldataload(add(y, index)))
                    if gt(index, first) {
                        if iszero(lt(byte(0, calldataload(add(y, sub(index, 1)))), at)) { ok := 0 }
                    }
                    mstore8(add(add(HINTS, shl(8, i)), at), 1)
                }
            }
            for { } and(ok, lt(index, OMEGA)) { index := add(index, 1) } {
                if byte(0, calldataload(add(y, index))) { ok := 0 }
            }
        }
    }

    /// @dev z (20 bits a coefficient, gamma1 - value) into Z_HAT as residues mod q; false if any |z| >= gamma1 - beta.
    function _decodeZ(bytes calldata sig) private pure returns (bool ok) {
        assembly {
            ok := 1
            let bound := sub(GAMMA1, BETA)
            for { let g := 0 } lt(g, 320) { g := add(g, 1) } {
                // ten bytes hold four coefficients
                let w := shr(176, calldataload(add(add(sig.offset, 48), mul(g, 10))))
                let out := add(Z_HAT, shl(7, g))
                for { let k := 0 } lt(k, 4) { k := add(k, 1) } {
                    let v
                    switch k
                    case 0 {
                        v := or(or(and(shr(72, w), 0xff), shl(8, and(shr(64, w), 0xff))), shl(16, and(shr(56, w), 0x0f)))
                    }
                    case 1 {
                        v := or(or(and(shr(60, w), 0x0f), shl(4, and(shr(48, w), 0xff))), shl(12, and(shr(40, w), 0xff)))
                    }
                    case 2 {
                        v := or(or(and(shr(32, w), 0xff), shl(8, and(shr(24, w), 0xff))), shl(16, and(shr(16, w), 0x0f)))
                    }
                    default {
                        v := or(or(and(shr(20, w), 0x0f), shl(4, and(shr(8, w), 0xff))), shl(12, and(w, 0xff)))
                    }
                    // z = gamma1 - v, in (-gamma1, gamma1]
                    switch gt(v, GAMMA1)
                    case 1 {
                        if iszero(lt(sub(v, GAMMA1), bound)) { ok := 0 }
                        mstore(add(out, shl(5, k)), sub(add(Q, GAMMA1), v))
                    }
                    default {
                        if iszero(lt(sub(GAMMA1, v), bound)) { ok := 0 }
                        mstore(add(out, shl(5, k)), sub(GAMMA1, v))
                    }
                }
            }
        }
    }

    /// @dev SHAKE at rate `rate` (136: SHAKE256, 168: SHAKE128) of `length` bytes at `input`, `outLength` <= rate
    /// bytes to `output`. Pads in place: the rate + 32 bytes after the input must be free.
    function _shake(uint256 input, uint256 length, uint256 rate, uint256 output, uint256 outLength) private pure {
        _absorb(input, length, rate);
        _squeezeBlock(rate);
        assembly {
            for { let p := 0 } lt(p, outLength) { p := add(p, 32) } { mstore(add(output, p), mload(add(SQUEEZE, p))) }
        }
    }

    /// @dev Zeroes the state, absorbs `length` bytes with the SHAKE padding (0x1f ... 0x80) and permutes.
    function _absorb(uint256 input, uint256 length, uint256 rate) private pure {
        uint256 padded = (length / rate + 1) * rate;
        assembly {
            for { let n := 0 } lt(n, 25) { n := add(n, 1) } { mstore(add(STATE, shl(5, n)), 0) }
            for { let p := length } lt(p, padded) { p := add(p, 32) } { mstore(add(input, p), 0) }
            mstore8(add(input, length), 0x1f)
            let last := add(input, sub(padded, 1))
            mstore8(last, or(byte(0, mload(last)), 0x80))
        }
        for (uint256 block_ = 0; block_ < padded; block_ += rate) {
            assembly {
                let lanes := shr(3, rate)
                for { let n := 0 } lt(n, lanes) { n := add(n, 1) } {
                    let v := shr(192, mload(add(add(input, block_), shl(3, n))))
                    v := or(shl(8, and(v, 0x00ff00ff00ff00ff)), and(shr(8, v), 0x00ff00ff00ff00ff))
                    v := or(shl(16, and(v, 0x0000ffff0000ffff)), and(shr(16, v), 0x0000ffff0000ffff))
                    v := or(shl(32, and(v, 0x00000000ffffffff)), shr(32, v))
                    let at := add(STATE, shl(5, n))
                    mstore(at, xor(mload(at), v))
                }
            }
            KeccakF1600.permute();
        }
    }

    /// @dev The first `rate` bytes of the state, as bytes, into SQUEEZE (the caller permutes between blocks).
    function _squeezeBlock(uint256 rate) private pure {
        assembly {
            let lanes := shr(3, rate)
            for { let n := 0 } lt(n, lanes) { n := add(n, 1) } {
                let v := mload(add(STATE, shl(5, n)))
                v := or(shl(8, and(v, 0x00ff00ff00ff00ff)), and(shr(8, v), 0x00ff00ff00ff00ff))
                v := or(shl(16, and(v, 0x0000ffff0000ffff)), and(shr(16, v), 0x0000ffff0000ffff))
                v := or(shl(32, and(v, 0x00000000ffffffff)), shr(32, v))
                mstore(add(SQUEEZE, shl(3, n)), shl(192, v))
            }
        }
    }

    /// @dev In-place NTT (FIPS 204 Algorithm 41) of the polynomial at `poly`.
    function _ntt(uint256 poly, uint256 zetas) private pure {
        assembly {
            let m := 0
            for { let len := 128 } gt(len, 0) { len := shr(1, len) } {
                let off := shl(5, len)
                for { let start := 0 } lt(start, 256) { start := add(start, shl(1, len)) } {
                    m := add(m, 1)
                    let z := shr(224, mload(add(zetas, shl(2, m))))
                    let j := add(poly, shl(5, start))
                    for { let end := add(j, off) } lt(j, end) { j := add(j, 32) } {
                        let a := mload(j)
                        let t := mulmod(z, mload(add(j, off)), Q)
                        mstore(add(j, off), addmod(a, sub(Q, t), Q))
                        mstore(j, addmod(a, t, Q))
                    }
                }
            }
        }
    }

    /// @dev In-place inverse NTT (FIPS 204 Algorithm 42) without the final factor 256^-1, which the caller applies.
    function _inverseNtt(uint256 poly, uint256 zetas) private pure {
        assembly {
            let m := 256
            for { let len := 1 } lt(len, 256) { len := shl(1, len) } {
                let off := shl(5, len)
                for { let start := 0 } lt(start, 256) { start := add(start, shl(1, len)) } {
                    m := sub(m, 1)
                    let z := sub(Q, shr(224, mload(add(zetas, shl(2, m)))))
                    let j := add(poly, shl(5, start))
                    for { let end := add(j, off) } lt(j, end) { j := add(j, 32) } {
                        let a := mload(j)
                        let b := mload(add(j, off))
                        mstore(j, addmod(a, b, Q))
                        mstore(add(j, off), mulmod(z, addmod(a, sub(Q, b), Q), Q))
                    }
                }
            }
        }
    }
}
