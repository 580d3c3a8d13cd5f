// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAuthorityRegistry} from "./IAuthorityRegistry.sol";

/// @title BinDaaS model registry
/// @notice Provenance of trained models: for each model id (a hash of its weights and configuration), the Merkle
/// root of the digests of the records it was trained on and a hash of its evaluation metrics. Only active
/// authorities may register; a model id is registered once.
contract ModelRegistry {
    /// @notice What the chain knows about a model.
    struct Model {
        bytes32 trainingSetRoot;
        bytes32 metricsHash;
        uint32 trainingRecords;
        uint64 blockNumber;
        uint64 timestamp;
        address registeredBy;
    }

    /// @notice The registry whose active authorities may register models.
    IAuthorityRegistry public immutable registry;

    mapping(bytes32 => Model) private _models;

    /// @notice Caller `account` is not an active authority.
    error ModelRegistryNotAuthority(address account);
    /// @notice Model `modelId` is registered already.
    error ModelRegistryDuplicate(bytes32 modelId);
    /// @notice A model needs a non-zero id and training-set root and at least one training record.
    error ModelRegistryEmpty();

    /// @notice `registeredBy` registered model `modelId` trained on `trainingRecords` records under `trainingSetRoot`.
    event ModelRegistered(
        bytes32 indexed modelId, bytes32 indexed trainingSetRoot, bytes32 metricsHash, uint32 trainingRecords,
        address indexed registeredBy
    );

    /// @param registry_ The authority registry that decides who may register models.
    constructor(IAuthorityRegistry registry_) {
        registry = registry_;
    }

    /// @notice Registers model `modelId` with its training-set root, metrics hash and training-set size.
    function registerModel(bytes32 modelId, bytes32 trainingSetRoot, bytes32 metricsHash, uint32 trainingRecords)
        external
    {
        if (!registry.isActiveAuthority(msg.sender)) revert ModelRegistryNotAuthority(msg.sender);
        if (modelId == bytes32(0) || trainingSetRoot == bytes32(0) || trainingRecords == 0) {
            revert ModelRegistryEmpty();
        }
        if (_models[modelId].blockNumber != 0) revert ModelRegistryDuplicate(modelId);
        _models[modelId] = Model(
            trainingSetRoot, metricsHash, trainingRecords, uint64(block.number), uint64(block.timestamp), msg.sender
        );
        emit ModelRegistered(modelId, trainingSetRoot, metricsHash, trainingRecords, msg.sender);
    }

    /// @notice Model `modelId` as registered; `blockNumber` is 0 when it never was.
    function modelOf(bytes32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }
}
