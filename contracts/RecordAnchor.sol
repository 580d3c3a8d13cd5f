// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAuthorityRegistry} from "./IAuthorityRegistry.sol";

/// @title BinDaaS record anchor
/// @notice Stores Merkle roots of batches of salted record digests, with the block and time they were anchored.
/// Only active authorities may anchor. No health data and no digest of a single record is ever stored here.
contract RecordAnchor {
    /// @notice Where and when a root was anchored.
    struct Anchor {
        uint64 blockNumber;
        uint64 timestamp;
        uint32 recordCount;
        address submitter;
    }

    /// @notice The registry whose active authorities may anchor.
    IAuthorityRegistry public immutable registry;

    /// @notice Number of batches anchored so far.
    uint256 public batchCount;

    mapping(bytes32 => Anchor) private _anchors;

    /// @notice Caller `account` is not an active authority.
    error AnchorNotAuthority(address account);
    /// @notice `root` has been anchored before.
    error AnchorDuplicateRoot(bytes32 root);
    /// @notice A batch must hold at least one record and a non-zero root.
    error AnchorEmptyBatch();

    /// @notice `submitter` anchored `root`, the Merkle root of `recordCount` records, as batch `batchIndex`.
    event BatchAnchored(bytes32 indexed root, address indexed submitter, uint256 indexed batchIndex, uint32 recordCount);

    /// @param registry_ The authority registry that decides who may anchor.
    constructor(IAuthorityRegistry registry_) {
        registry = registry_;
    }

    /// @notice Anchors `root`, the Merkle root of a batch of `recordCount` record leaves.
    function anchorBatch(bytes32 root, uint32 recordCount) external {
        if (!registry.isActiveAuthority(msg.sender)) revert AnchorNotAuthority(msg.sender);
        if (root == bytes32(0) || recordCount == 0) revert AnchorEmptyBatch();
        if (_anchors[root].blockNumber != 0) revert AnchorDuplicateRoot(root);
        _anchors[root] = Anchor(uint64(block.number), uint64(block.timestamp), recordCount, msg.sender);
        emit BatchAnchored(root, msg.sender, batchCount, recordCount);
        batchCount += 1;
    }

    /// @notice The anchor of `root`; `blockNumber` is 0 when it was never anchored.
    function anchorOf(bytes32 root) external view returns (Anchor memory) {
        return _anchors[root];
    }
}
