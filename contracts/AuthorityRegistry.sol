// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAuthorityRegistry} from "./IAuthorityRegistry.sol";

/// @title BinDaaS authority registry
/// @notice Holds the N healthcare authorities, the ML-DSA-65 public key of each (published in storage and in
/// events, so any verifier can fetch it) and the endorsement policy k. Membership and policy change only through
/// proposals approved by a majority of the current authorities: there is no owner.
/// @dev Key validity is kept per key with the blocks it was registered and revoked in, and the policy as
/// checkpoints, so a record accepted at block B can be judged against the state at B long after rotations.
contract AuthorityRegistry is IAuthorityRegistry {
    /// @notice Size in bytes of an ML-DSA-65 public key (FIPS 204).
    uint256 public constant PUBLIC_KEY_LENGTH = 1952;

    /// @notice What a governance proposal changes.
    enum Action {
        Add,
        Revoke,
        Rotate,
        SetThreshold
    }

    struct Key {
        address authority;
        uint64 registeredAt;
        uint64 revokedAt;
    }

    struct Proposal {
        Action action;
        address target;
        bytes32 keyHash;
        uint64 threshold;
        uint64 epoch;
        uint64 approvals;
        bool executed;
    }

    /// @notice Caller `account` is not an active authority.
    error RegistryNotAuthority(address account);
    /// @notice `account` is already a registered authority.
    error RegistryAlreadyAuthority(address account);
    /// @notice `account` is not an active authority and cannot be revoked or rotated.
    error RegistryUnknownAuthority(address account);
    /// @notice The public key is `length` bytes long; ML-DSA-65 keys are `PUBLIC_KEY_LENGTH` bytes.
    error RegistryBadPublicKeyLength(uint256 length);
    /// @notice The key `keyHash` has been registered before; keys are never reused.
    error RegistryKeyAlreadyUsed(bytes32 keyHash);
    /// @notice Zero address given for an authority.
    error RegistryZeroAddress();
    /// @notice Constructor arrays differ in length or are empty.
    error RegistryBadInitialSet(uint256 authorities, uint256 publicKeys);
    /// @notice No proposal with id `proposalId`.
    error RegistryProposalNotFound(uint256 proposalId);
    /// @notice Membership changed since proposal `proposalId` was made; make a new one.
    error RegistryProposalStale(uint256 proposalId);
    /// @notice Proposal `proposalId` was already executed.
    error RegistryProposalExecuted(uint256 proposalId);
    /// @notice `approver` already approved proposal `proposalId`.
    error RegistryAlreadyApproved(uint256 proposalId, address approver);
    /// @notice A policy of `threshold` endorsements cannot hold with `active` active authorities.
    error RegistryInvalidThreshold(uint256 threshold, uint256 active);
    /// @notice Revoking `account` would leave no authority.
    error RegistryLastAuthority(address account);

    /// @notice `authority` was registered with the ML-DSA-65 key `publicKey` whose keccak256 is `keyHash`.
    event AuthorityAdded(address indexed authority, bytes32 indexed keyHash, bytes publicKey);
    /// @notice `authority` and its key `keyHash` were revoked.
    event AuthorityRevoked(address indexed authority, bytes32 indexed keyHash);
    /// @notice `authority` replaced key `oldKeyHash` by `newKeyHash` (`publicKey`); the old key is revoked.
    event AuthorityKeyRotated(
        address indexed authority, bytes32 indexed oldKeyHash, bytes32 indexed newKeyHash, bytes publicKey
    );
    /// @notice The endorsement policy changed from `previous` to `current` signatures.
    event ThresholdChanged(uint256 previous, uint256 current);
    /// @notice `proposer` opened proposal `proposalId` to apply `action` to `target`.
    event ProposalCreated(uint256 indexed proposalId, Action action, address indexed target, address indexed proposer);
    /// @notice `approver` approved proposal `proposalId`, which now has `approvals` approvals.
    event ProposalApproved(uint256 indexed proposalId, address indexed approver, uint256 approvals);
    /// @notice Proposal `proposalId` reached quorum and was applied.
    event ProposalExecuted(uint256 indexed proposalId);

    mapping(address => bytes32) private _currentKey;
    mapping(bytes32 => Key) private _keys;
    mapping(bytes32 => bytes) private _publicKeys;
    address[] private _members;
    uint256 private _activeCount;
    uint64 private _epoch;

    uint64[] private _thresholdBlocks;
    uint64[] private _thresholdValues;

    Proposal[] private _proposals;
    mapping(uint256 => mapping(address => bool)) private _approved;

    modifier onlyAuthority() {
        if (!isActiveAuthority(msg.sender)) revert RegistryNotAuthority(msg.sender);
        _;
    }

    /// @param authorities Ethereum addresses of the founding authorities.
    /// @param publicKeys Their ML-DSA-65 public keys, in the same order.
    /// @param initialThreshold Endorsements needed per record; 0 means all of them (k = N).
    constructor(address[] memory authorities, bytes[] memory publicKeys, uint256 initialThreshold) {
        if (authorities.length == 0 || authorities.length != publicKeys.length) {
            revert RegistryBadInitialSet(authorities.length, publicKeys.length);
        }
        for (uint256 i = 0; i < authorities.length; ++i) {
            _add(authorities[i], publicKeys[i]);
        }
        _setThreshold(initialThreshold == 0 ? authorities.length : initialThreshold);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Proposes to register `target` with the ML-DSA-65 key `publicKey`. Counts as the caller's approval.
    function proposeAdd(address target, bytes calldata publicKey) external onlyAuthority returns (uint256) {
        if (target == address(0)) revert RegistryZeroAddress();
        if (_currentKey[target] != bytes32(0)) revert RegistryAlreadyAuthority(target);
        bytes32 keyHash = _storeKey(publicKey);
        return _propose(Action.Add, target, keyHash, 0);
    }

    /// @notice Proposes to revoke `target` and its current key. Counts as the caller's approval.
    function proposeRevoke(address target) external onlyAuthority returns (uint256) {
        if (!isActiveAuthority(target)) revert RegistryUnknownAuthority(target);
        return _propose(Action.Revoke, target, _currentKey[target], 0);
    }

    /// @notice Proposes to replace `target`'s key by `publicKey`. Counts as the caller's approval.
    function proposeRotate(address target, bytes calldata publicKey) external onlyAuthority returns (uint256) {
        if (!isActiveAuthority(target)) revert RegistryUnknownAuthority(target);
        bytes32 keyHash = _storeKey(publicKey);
        return _propose(Action.Rotate, target, keyHash, 0);
    }

    /// @notice Proposes the endorsement policy `newThreshold`-of-N. Counts as the caller's approval.
    function proposeThreshold(uint256 newThreshold) external onlyAuthority returns (uint256) {
        if (newThreshold == 0 || newThreshold > _activeCount) {
            revert RegistryInvalidThreshold(newThreshold, _activeCount);
        }
        return _propose(Action.SetThreshold, address(0), bytes32(0), uint64(newThreshold));
    }

    /// @notice Approves proposal `proposalId`; it is applied as soon as a majority of active authorities approved.
    function approve(uint256 proposalId) external onlyAuthority {
        _approve(proposalId, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IAuthorityRegistry
    function isActiveAuthority(address account) public view returns (bool) {
        bytes32 keyHash = _currentKey[account];
        return keyHash != bytes32(0) && _keys[keyHash].revokedAt == 0;
    }

    /// @inheritdoc IAuthorityRegistry
    function keyValidAt(bytes32 keyHash, uint256 blockNumber) external view returns (bool) {
        Key storage key = _keys[keyHash];
        return key.registeredAt != 0 && key.registeredAt <= blockNumber
            && (key.revokedAt == 0 || blockNumber < key.revokedAt);
    }

    /// @inheritdoc IAuthorityRegistry
    function thresholdAt(uint256 blockNumber) public view returns (uint256) {
        uint256 low = 0;
        uint256 high = _thresholdBlocks.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_thresholdBlocks[mid] > blockNumber) high = mid;
            else low = mid + 1;
        }
        return low == 0 ? 0 : _thresholdValues[low - 1];
    }

    /// @notice The endorsement policy k in force now.
    function threshold() external view returns (uint256) {
        return _thresholdValues[_thresholdValues.length - 1];
    }

    /// @notice Approvals a governance proposal needs: a strict majority of active authorities.
    function quorum() public view returns (uint256) {
        return _activeCount / 2 + 1;
    }

    /// @notice Number of active authorities (N).
    function activeCount() external view returns (uint256) {
        return _activeCount;
    }

    /// @notice Every address ever registered, revoked ones included, in registration order.
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @notice The current key of `account` (zero if never registered) and whether it is active.
    function authority(address account) external view returns (bytes32 keyHash, bool active) {
        return (_currentKey[account], isActiveAuthority(account));
    }

    /// @notice Owner and validity window (block numbers; 0 = never) of key `keyHash`.
    function keyInfo(bytes32 keyHash) external view returns (address owner, uint64 registeredAt, uint64 revokedAt) {
        Key storage key = _keys[keyHash];
        return (key.authority, key.registeredAt, key.revokedAt);
    }

    /// @notice The ML-DSA-65 public key whose keccak256 is `keyHash` (empty if unknown).
    function publicKeyOf(bytes32 keyHash) external view returns (bytes memory) {
        return _publicKeys[keyHash];
    }

    /// @notice Proposal `proposalId` as stored.
    function proposal(uint256 proposalId) external view returns (Proposal memory) {
        if (proposalId >= _proposals.length) revert RegistryProposalNotFound(proposalId);
        return _proposals[proposalId];
    }

    /// @notice Number of proposals ever made.
    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    // ---------------------------------------------------------------- internals

    function _propose(Action action, address target, bytes32 keyHash, uint64 newThreshold)
        private
        returns (uint256 proposalId)
    {
        proposalId = _proposals.length;
        _proposals.push(Proposal(action, target, keyHash, newThreshold, _epoch, 0, false));
        emit ProposalCreated(proposalId, action, target, msg.sender);
        _approve(proposalId, msg.sender);
    }

    function _approve(uint256 proposalId, address approver) private {
        if (proposalId >= _proposals.length) revert RegistryProposalNotFound(proposalId);
        Proposal storage p = _proposals[proposalId];
        if (p.executed) revert RegistryProposalExecuted(proposalId);
        // Approvals were counted against a membership that no longer exists.
        if (p.epoch != _epoch) revert RegistryProposalStale(proposalId);
        if (_approved[proposalId][approver]) revert RegistryAlreadyApproved(proposalId, approver);
        _approved[proposalId][approver] = true;
        p.approvals += 1;
        emit ProposalApproved(proposalId, approver, p.approvals);
        if (p.approvals >= quorum()) _execute(proposalId, p);
    }

    function _execute(uint256 proposalId, Proposal storage p) private {
        p.executed = true;
        if (p.action == Action.Add) {
            if (_currentKey[p.target] != bytes32(0)) revert RegistryAlreadyAuthority(p.target);
            _register(p.target, p.keyHash);
            emit AuthorityAdded(p.target, p.keyHash, _publicKeys[p.keyHash]);
        } else if (p.action == Action.Revoke) {
            if (_activeCount == 1) revert RegistryLastAuthority(p.target);
            _keys[p.keyHash].revokedAt = uint64(block.number);
            _activeCount -= 1;
            ++_epoch;
            emit AuthorityRevoked(p.target, p.keyHash);
        } else if (p.action == Action.Rotate) {
            bytes32 oldKey = _currentKey[p.target];
            _keys[oldKey].revokedAt = uint64(block.number);
            _keys[p.keyHash] = Key(p.target, uint64(block.number), 0);
            _currentKey[p.target] = p.keyHash;
            emit AuthorityKeyRotated(p.target, oldKey, p.keyHash, _publicKeys[p.keyHash]);
        } else {
            if (p.threshold > _activeCount) revert RegistryInvalidThreshold(p.threshold, _activeCount);
            _setThreshold(p.threshold);
        }
        emit ProposalExecuted(proposalId);
    }

    function _add(address account, bytes memory key) private {
        if (account == address(0)) revert RegistryZeroAddress();
        if (_currentKey[account] != bytes32(0)) revert RegistryAlreadyAuthority(account);
        bytes32 keyHash = _storeKey(key);
        _register(account, keyHash);
        emit AuthorityAdded(account, keyHash, key);
    }

    function _register(address account, bytes32 keyHash) private {
        _keys[keyHash] = Key(account, uint64(block.number), 0);
        _currentKey[account] = keyHash;
        _members.push(account);
        _activeCount += 1;
        ++_epoch;
    }

    function _storeKey(bytes memory key) private returns (bytes32 keyHash) {
        if (key.length != PUBLIC_KEY_LENGTH) revert RegistryBadPublicKeyLength(key.length);
        keyHash = keccak256(key);
        if (_keys[keyHash].registeredAt != 0) revert RegistryKeyAlreadyUsed(keyHash);
        if (_publicKeys[keyHash].length == 0) _publicKeys[keyHash] = key;
    }

    function _setThreshold(uint256 newThreshold) private {
        if (newThreshold == 0 || newThreshold > _activeCount) {
            revert RegistryInvalidThreshold(newThreshold, _activeCount);
        }
        uint256 previous = _thresholdValues.length == 0 ? 0 : _thresholdValues[_thresholdValues.length - 1];
        uint64 here = uint64(block.number);
        if (_thresholdBlocks.length != 0 && _thresholdBlocks[_thresholdBlocks.length - 1] == here) {
            _thresholdValues[_thresholdValues.length - 1] = uint64(newThreshold);
        } else {
            _thresholdBlocks.push(here);
            _thresholdValues.push(uint64(newThreshold));
        }
        emit ThresholdChanged(previous, newThreshold);
    }
}
