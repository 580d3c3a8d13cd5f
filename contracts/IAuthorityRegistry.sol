// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Registry of healthcare authorities and their ML-DSA-65 public keys
/// @notice Read side of the registry, used by the anchor contract and by off-chain verifiers.
interface IAuthorityRegistry {
    /// @notice Returns whether `account` is a registered authority that has not been revoked.
    function isActiveAuthority(address account) external view returns (bool);

    /// @notice Returns whether the key `keyHash` was registered and not revoked at block `blockNumber`.
    function keyValidAt(bytes32 keyHash, uint256 blockNumber) external view returns (bool);

    /// @notice The endorsement policy k (k-of-N) in force at block `blockNumber`.
    function thresholdAt(uint256 blockNumber) external view returns (uint256);
}
