// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAuthorityRegistry} from "./IAuthorityRegistry.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {IMLDSA65Verifier} from "./mldsa/IMLDSA65Verifier.sol";

/// @title BinDaaS consent registry
/// @notice A patient's grants and revocations of read access to their records, one entry per (patient, grantee),
/// both named by identity key ids. Each change is signed by the patient with ML-DSA-65 over
/// (tag, chain id, this contract, patient, grantee, granted, notAfter, nonce) under the context "bindaas/consent/v1".
/// With an ML-DSA-65 key registry (`keys`), this contract checks that signature itself: anyone may relay a change,
/// and a forged one reverts, so the chain alone proves every consent. Without one (`keys` = 0, for chains where a
/// verification is too slow, such as an in-process py-evm), only active authorities relay and the signature,
/// published in the event, is checked by every reader off chain. Nonces are per patient and strictly increasing, so
/// an old grant cannot be replayed over a later revocation.
contract ConsentRegistry {
    /// @notice The current consent of a patient for one grantee.
    struct Consent {
        bool granted;
        uint64 notAfter;
        uint64 changedBlock;
        uint64 nonce;
    }

    /// @notice Size in bytes of an ML-DSA-65 signature (FIPS 204).
    uint256 public constant SIGNATURE_LENGTH = 3309;

    /// @notice The registry whose active authorities may relay consent changes.
    IAuthorityRegistry public immutable registry;
    /// @notice Where patients and grantees are enrolled.
    IdentityRegistry public immutable identities;
    /// @notice The ML-DSA-65 key registry and verifier that checks patients' signatures (0: relayed mode).
    IMLDSA65Verifier public immutable keys;
    /// @notice What the patient signs is prefixed by this tag.
    bytes19 public constant STATEMENT_TAG = "BINDAAS/consent/v1\x00";

    /// @notice The nonce of each patient's latest consent change (0: none yet).
    mapping(bytes32 => uint64) public nonceOf;
    mapping(bytes32 => mapping(bytes32 => Consent)) private _consents;

    /// @notice Caller `account` is not an active authority.
    error ConsentNotRelayer(address account);
    /// @notice `patient` is not an active, enrolled patient.
    error ConsentUnknownPatient(bytes32 patient);
    /// @notice `grantee` is not an active, enrolled clinician or authority.
    error ConsentBadGrantee(bytes32 grantee);
    /// @notice The change carries nonce `given`; the patient's next nonce is `expected`.
    error ConsentBadNonce(uint64 given, uint64 expected);
    /// @notice The signature is `length` bytes; ML-DSA-65 signatures are `SIGNATURE_LENGTH` bytes.
    error ConsentBadSignature(uint256 length);
    /// @notice The key given is not `patient`'s (its keccak256 is not the patient's key id).
    error ConsentKeyMismatch(bytes32 patient);
    /// @notice The signature is not `patient`'s ML-DSA-65 signature of this change.
    error ConsentForged(bytes32 patient);

    /// @notice `patient` granted (or revoked) `grantee` read access until `notAfter` (0: no end), with the
    /// patient's ML-DSA-65 `signature` over the change.
    event ConsentChanged(
        bytes32 indexed patient, bytes32 indexed grantee, bool granted, uint64 notAfter, uint64 nonce, bytes signature
    );

    /// @param registry_ The authority registry (the relayers in relayed mode).
    /// @param identities_ The identity registry (patients and grantees).
    /// @param keys_ The ML-DSA-65 key registry that verifies patients' signatures, or 0 for relayed mode.
    constructor(IAuthorityRegistry registry_, IdentityRegistry identities_, IMLDSA65Verifier keys_) {
        registry = registry_;
        identities = identities_;
        keys = keys_;
    }

    /// @notice Records the patient-signed change: `patient` grants (`granted`) or revokes `grantee`'s read access,
    /// until the unix time `notAfter` (0: no end). `patientKey` is the patient's 1,952-byte ML-DSA-65 key, whose
    /// expansion must be proven in `keys` (relayed mode: ignored, may be empty).
    function setConsent(
        bytes32 patient,
        bytes32 grantee,
        bool granted,
        uint64 notAfter,
        uint64 nonce,
        bytes calldata patientKey,
        bytes calldata signature
    ) external {
        if (address(keys) == address(0) && !registry.isActiveAuthority(msg.sender)) {
            revert ConsentNotRelayer(msg.sender);
        }
        if (!identities.isActive(patient, IdentityRegistry.Role.Patient)) revert ConsentUnknownPatient(patient);
        if (
            !identities.isActive(grantee, IdentityRegistry.Role.Clinician)
                && !identities.isActive(grantee, IdentityRegistry.Role.Authority)
        ) revert ConsentBadGrantee(grantee);
        uint64 expected = nonceOf[patient] + 1;
        if (nonce != expected) revert ConsentBadNonce(nonce, expected);
        if (signature.length != SIGNATURE_LENGTH) revert ConsentBadSignature(signature.length);
        if (address(keys) != address(0)) _checkSignature(patient, grantee, granted, notAfter, nonce, patientKey, signature);
        nonceOf[patient] = nonce;
        _consents[patient][grantee] = Consent(granted, notAfter, uint64(block.number), nonce);
        emit ConsentChanged(patient, grantee, granted, notAfter, nonce, signature);
    }

    /// @notice The statement a patient signs for a change (the bytes under the ML-DSA-65 signature).
    function statement(bytes32 patient, bytes32 grantee, bool granted, uint64 notAfter, uint64 nonce)
        public
        view
        returns (bytes memory)
    {
        return abi.encodePacked(STATEMENT_TAG, block.chainid, address(this), patient, grantee, granted, notAfter, nonce);
    }

    function _checkSignature(
        bytes32 patient,
        bytes32 grantee,
        bool granted,
        uint64 notAfter,
        uint64 nonce,
        bytes calldata patientKey,
        bytes calldata signature
    ) private view {
        if (keccak256(patientKey) != patient) revert ConsentKeyMismatch(patient);
        bytes memory message = statement(patient, grantee, granted, notAfter, nonce);
        if (!keys.verify(patientKey, message, "bindaas/consent/v1", signature)) revert ConsentForged(patient);
    }

    /// @notice The latest consent change of `patient` for `grantee` (`changedBlock` 0: never).
    function consentOf(bytes32 patient, bytes32 grantee) external view returns (Consent memory) {
        return _consents[patient][grantee];
    }

    /// @notice Whether `grantee` may read `patient`'s records now (granted and not expired). Off-chain readers
    /// also check the patient's signature in the `ConsentChanged` event.
    function hasConsent(bytes32 patient, bytes32 grantee) external view returns (bool) {
        Consent storage consent = _consents[patient][grantee];
        return consent.granted && (consent.notAfter == 0 || block.timestamp <= consent.notAfter);
    }
}
