// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAuthorityRegistry} from "./IAuthorityRegistry.sol";

/// @title BinDaaS identity registry
/// @notice Enrols the people and services that may use BinDaaS (patients, clinicians, auditors, and authorities'
/// reading keys), each under the keccak256 of its ML-DSA-65 public key, with a role. The public keys themselves
/// (ML-DSA-65 for authentication, ML-KEM-768 for receiving record keys) are published in the `Enrolled` event so any
/// service instance can fetch them; storage holds only hashes, roles and block numbers. No names, no health data.
/// @dev Only active authorities enrol and revoke. An identity is enrolled once; a revoked key stays revoked.
contract IdentityRegistry {
    /// @notice What an identity may do; checked off-chain by the API and on-chain by the consent registry.
    enum Role {
        None,
        Patient,
        Clinician,
        Auditor,
        Authority
    }

    /// @notice What the chain holds about an identity.
    struct Identity {
        Role role;
        uint64 enrolledBlock;
        uint64 revokedBlock;
        address enrolledBy;
        bytes32 kemKeyHash;
    }

    /// @notice Size in bytes of an ML-DSA-65 public key (FIPS 204).
    uint256 public constant SIGNING_KEY_LENGTH = 1952;
    /// @notice Size in bytes of an ML-KEM-768 encapsulation key (FIPS 203).
    uint256 public constant KEM_KEY_LENGTH = 1184;

    /// @notice The registry whose active authorities may enrol and revoke.
    IAuthorityRegistry public immutable registry;

    mapping(bytes32 => Identity) private _identities;

    /// @notice Caller `account` is not an active authority.
    error IdentityNotAuthority(address account);
    /// @notice `keyId` is not the keccak256 of the signing key given.
    error IdentityKeyMismatch(bytes32 keyId);
    /// @notice A key has the wrong length (`signingKey` bytes of ML-DSA-65, `kemKey` bytes of ML-KEM-768).
    error IdentityBadKeyLength(uint256 signingKey, uint256 kemKey);
    /// @notice Role None cannot be enrolled.
    error IdentityBadRole();
    /// @notice `keyId` is enrolled already (or was, and is revoked).
    error IdentityExists(bytes32 keyId);
    /// @notice `keyId` is not an enrolled, unrevoked identity.
    error IdentityUnknown(bytes32 keyId);
    /// @notice An Authority identity must use a key the authority registry shows valid now.
    error IdentityNotAuthorityKey(bytes32 keyId);

    /// @notice A batch enrolment gave `keyIds` key ids but `signingKeys` signing keys and `kemKeys` KEM keys.
    error IdentityBadBatch(uint256 keyIds, uint256 signingKeys, uint256 kemKeys);

    /// @notice `keyId` was enrolled with `role` by authority `by`; its keys are `signingKey` and `kemKey`.
    event Enrolled(bytes32 indexed keyId, Role indexed role, address indexed by, bytes signingKey, bytes kemKey);
    /// @notice `keyId` was revoked by authority `by`.
    event Revoked(bytes32 indexed keyId, address indexed by);

    /// @param registry_ The authority registry that decides who may enrol.
    constructor(IAuthorityRegistry registry_) {
        registry = registry_;
    }

    modifier onlyAuthority() {
        if (!registry.isActiveAuthority(msg.sender)) revert IdentityNotAuthority(msg.sender);
        _;
    }

    /// @notice Enrols the ML-DSA-65 key `signingKey` (whose keccak256 is `keyId`) with `role` and the ML-KEM-768
    /// key `kemKey` that record keys are wrapped for.
    function enroll(bytes32 keyId, Role role, bytes calldata signingKey, bytes calldata kemKey) external onlyAuthority {
        _enroll(keyId, role, signingKey, kemKey);
    }

    /// @notice Enrols many keys with one `role` in one transaction (a hospital joining with its patients, say);
    /// each is checked and published exactly as by `enroll`, and one bad key reverts them all.
    function enrollMany(bytes32[] calldata keyIds, Role role, bytes[] calldata signingKeys, bytes[] calldata kemKeys)
        external
        onlyAuthority
    {
        if (signingKeys.length != keyIds.length || kemKeys.length != keyIds.length) {
            revert IdentityBadBatch(keyIds.length, signingKeys.length, kemKeys.length);
        }
        for (uint256 i = 0; i < keyIds.length; ++i) {
            _enroll(keyIds[i], role, signingKeys[i], kemKeys[i]);
        }
    }

    function _enroll(bytes32 keyId, Role role, bytes calldata signingKey, bytes calldata kemKey) private {
        if (role == Role.None) revert IdentityBadRole();
        if (signingKey.length != SIGNING_KEY_LENGTH || kemKey.length != KEM_KEY_LENGTH) {
            revert IdentityBadKeyLength(signingKey.length, kemKey.length);
        }
        if (keccak256(signingKey) != keyId) revert IdentityKeyMismatch(keyId);
        if (_identities[keyId].enrolledBlock != 0) revert IdentityExists(keyId);
        if (role == Role.Authority && !registry.keyValidAt(keyId, block.number)) revert IdentityNotAuthorityKey(keyId);
        _identities[keyId] = Identity(role, uint64(block.number), 0, msg.sender, keccak256(kemKey));
        emit Enrolled(keyId, role, msg.sender, signingKey, kemKey);
    }

    /// @notice Revokes `keyId`: from the next block it is no longer active and its tokens are refused.
    function revoke(bytes32 keyId) external onlyAuthority {
        Identity storage identity = _identities[keyId];
        if (identity.enrolledBlock == 0 || identity.revokedBlock != 0) revert IdentityUnknown(keyId);
        identity.revokedBlock = uint64(block.number);
        emit Revoked(keyId, msg.sender);
    }

    /// @notice The identity enrolled under `keyId`; `enrolledBlock` is 0 when there is none.
    function identityOf(bytes32 keyId) external view returns (Identity memory) {
        return _identities[keyId];
    }

    /// @notice What acceptance asks of each record's owner, for a whole group of owners at once: for each of
    /// `keyIds`, in order, its role (bits 0-7), enrolment block (bits 8-71) and revocation block (bits 72-135), or
    /// 0 when it was never enrolled.
    /// @dev The identity's first storage slot only, of the three `identityOf` reads: the enrolling authority and
    /// the KEM key's hash never change once enrolled (the `Enrolled` event names both), and a word an owner is all
    /// the answer holds.
    function enrolmentsOf(bytes32[] calldata keyIds) external view returns (uint256[] memory packed) {
        packed = new uint256[](keyIds.length);
        for (uint256 i = 0; i < keyIds.length; i++) {
            Identity storage identity = _identities[keyIds[i]];
            packed[i] = uint256(identity.role) | (uint256(identity.enrolledBlock) << 8)
                | (uint256(identity.revokedBlock) << 72);
        }
    }

    /// @notice Whether `keyId` is enrolled with `role` and not revoked.
    function isActive(bytes32 keyId, Role role) public view returns (bool) {
        Identity storage identity = _identities[keyId];
        return identity.enrolledBlock != 0 && identity.revokedBlock == 0 && identity.role == role;
    }
}
