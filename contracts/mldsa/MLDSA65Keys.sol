// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMLDSA65Verifier} from "./IMLDSA65Verifier.sol";
import {MLDSA65} from "./MLDSA65.sol";

/// @title ML-DSA-65 keys, expanded and proven, and signature verification against them
/// @notice Anyone registers an ML-DSA-65 public key with its matrix A pre-expanded (23,040 bytes, kept as the code
/// of a data contract) and anyone proves the expansion, a row of A or more per transaction, by recomputing it from
/// rho with SHAKE128 on chain. Only a key whose six rows all matched verifies signatures; a row that does not match
/// refutes the registration (it is deleted, and the key can be registered again). tr = SHAKE256(pk, 64) is computed
/// on chain at registration. Keys are named by keccak256 of their 1,952-byte encoding, as in the IdentityRegistry.
contract MLDSA65Keys is IMLDSA65Verifier {
    /// @notice What the chain holds about a registered key.
    struct Key {
        address expandedA; // data contract: 0x00 || A packed row-major, 3 bytes a coefficient
        uint8 rowsProven; // bit r set: row r of A matched
        bytes32 rho;
        bytes32 tr0;
        bytes32 tr1;
    }

    uint8 private constant ALL_ROWS = 0x3f;

    mapping(bytes32 => Key) private _keys;

    /// @notice A key of `length` bytes, or an expansion of `expandedLength` bytes, was given.
    error MLDSAKeyBadLength(uint256 length, uint256 expandedLength);
    /// @notice `keyId` is registered already.
    error MLDSAKeyExists(bytes32 keyId);
    /// @notice `keyId` is not registered.
    error MLDSAKeyUnknown(bytes32 keyId);
    /// @notice `keyId` is registered but its expansion is not proven yet (rows proven: `rowsProven` bitmap).
    error MLDSAKeyNotProven(bytes32 keyId, uint8 rowsProven);
    /// @notice Rows `fromRow`..`toRow` (exclusive) are not a range of the six rows.
    error MLDSAKeyBadRows(uint256 fromRow, uint256 toRow);
    /// @notice The data contract could not be created.
    error MLDSAKeyStoreFailed();

    /// @notice `keyId` was registered with its expansion stored at `expandedA`.
    event KeyRegistered(bytes32 indexed keyId, address expandedA);
    /// @notice Row `row` of `keyId`'s expansion matched its recomputation from rho.
    event KeyRowProven(bytes32 indexed keyId, uint256 row);
    /// @notice Every row matched: `keyId` verifies signatures from now on.
    event KeyProven(bytes32 indexed keyId);
    /// @notice Row `row` did not match: the registration of `keyId` is deleted.
    event KeyRefuted(bytes32 indexed keyId, uint256 row);

    /// @notice Registers `publicKey` with `expandedA`, its matrix A (FIPS 204 ExpandA, NTT domain), 3 bytes
    /// big-endian a coefficient, A[0][0] first, row-major. Unusable until `prove` has checked all six rows.
    function register(bytes calldata publicKey, bytes calldata expandedA) external returns (bytes32 keyId) {
        if (publicKey.length != MLDSA65.PK_LENGTH || expandedA.length != MLDSA65.A_BYTES) {
            revert MLDSAKeyBadLength(publicKey.length, expandedA.length);
        }
        keyId = keccak256(publicKey);
        if (_keys[keyId].expandedA != address(0)) revert MLDSAKeyExists(keyId);
        address data;
        uint256 size = MLDSA65.A_BYTES + 1;
        assembly {
            // Creation code (PUSH2 size DUP1 PUSH1 12 PUSH1 0 CODECOPY PUSH1 0 RETURN) returning 0x00 || expandedA
            // as the new contract's code; the leading STOP makes it unrunnable.
            let initcode := mload(0x40)
            mstore(initcode, or(or(shl(248, 0x61), shl(232, size)), shl(160, 0x80600c6000396000f3)))
            calldatacopy(add(initcode, 13), expandedA.offset, expandedA.length)
            data := create(0, initcode, add(13, expandedA.length))
        }
        if (data == address(0)) revert MLDSAKeyStoreFailed();
        (bytes32 tr0, bytes32 tr1) = MLDSA65.tr(publicKey);
        _keys[keyId] = Key(data, 0, bytes32(publicKey[0:32]), tr0, tr1);
        emit KeyRegistered(keyId, data);
    }

    /// @notice Recomputes rows `fromRow`..`toRow` (exclusive, of 0..6) of `keyId`'s A from rho and compares each with
    /// the registered expansion; a mismatch deletes the registration (KeyRefuted). About 2.3 M gas a row.
    function prove(bytes32 keyId, uint256 fromRow, uint256 toRow) external {
        Key storage key = _keys[keyId];
        address data = key.expandedA;
        if (data == address(0)) revert MLDSAKeyUnknown(keyId);
        if (fromRow >= toRow || toRow > 6) revert MLDSAKeyBadRows(fromRow, toRow);
        uint8 proven = key.rowsProven;
        bytes32 rho = key.rho;
        for (uint256 row = fromRow; row < toRow; row++) {
            if (proven & (1 << row) != 0) continue;
            uint256 at = MLDSA65.A_PACKED;
            uint256 rowBytes = MLDSA65.ROW_BYTES;
            assembly {
                extcodecopy(data, at, add(1, mul(row, rowBytes)), rowBytes)
            }
            if (!MLDSA65.rowMatches(rho, row)) {
                delete _keys[keyId];
                emit KeyRefuted(keyId, row);
                return;
            }
            proven |= uint8(1 << row);
            emit KeyRowProven(keyId, row);
        }
        key.rowsProven = proven;
        if (proven == ALL_ROWS) emit KeyProven(keyId);
    }

    /// @notice Whether `keyId` is registered and every row of its expansion is proven.
    function isProven(bytes32 keyId) external view returns (bool) {
        return _keys[keyId].rowsProven == ALL_ROWS;
    }

    /// @notice The registration of `keyId` (a zero `expandedA`: none).
    function keyOf(bytes32 keyId) external view returns (Key memory) {
        return _keys[keyId];
    }

    /// @notice Whether `signature` is `publicKey`'s ML-DSA-65 signature (FIPS 204, pure) of `message` under
    /// `context`; reverts unless the key is registered and proven. Malformed signatures return false.
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata context, bytes calldata signature)
        external
        view
        returns (bool)
    {
        _load(keccak256(publicKey));
        return MLDSA65.verify(publicKey, message, context, signature);
    }

    /// @dev Puts a proven key's packed A and tr where MLDSA65.verify reads them.
    function _load(bytes32 keyId) private view {
        Key storage key = _keys[keyId];
        address data = key.expandedA;
        if (data == address(0)) revert MLDSAKeyUnknown(keyId);
        if (key.rowsProven != ALL_ROWS) revert MLDSAKeyNotProven(keyId, key.rowsProven);
        (bytes32 tr0, bytes32 tr1) = (key.tr0, key.tr1);
        (uint256 at, uint256 size, uint256 trAt) = (MLDSA65.A_PACKED, MLDSA65.A_BYTES, MLDSA65.TR);
        assembly {
            extcodecopy(data, at, 1, size)
            mstore(trAt, tr0)
            mstore(add(trAt, 32), tr1)
        }
    }
}
