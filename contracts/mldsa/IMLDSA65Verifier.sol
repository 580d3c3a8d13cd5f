// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What a contract needs of an ML-DSA-65 verifier
interface IMLDSA65Verifier {
    /// @notice Whether `signature` is `publicKey`'s ML-DSA-65 signature (FIPS 204, pure) of `message` under `context`.
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata context, bytes calldata signature)
        external
        view
        returns (bool);
}
