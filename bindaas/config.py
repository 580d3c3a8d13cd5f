"""Settings: the one place that reads the environment (variables prefixed ``BINDAAS_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration of the service, the CLI and the anchorer."""

    model_config = SettingsConfigDict(env_prefix="BINDAAS_", extra="ignore")

    data_dir: Path = Field(Path("bindaas-data"), description="Keys, deployment file and the default SQLite store.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir.")
    rpc_url: str | None = Field(None, description="Ethereum JSON-RPC URL; unset: the embedded in-process chain.")
    deployment_file: Path | None = Field(None, description="Contract addresses; default: data_dir/deployment.json.")
    anchor_account: str | None = Field(None, description="Unlocked authority address that sends anchor transactions.")
    anchor_private_key: str | None = Field(None, description="Hex key of the anchoring authority (signs locally).")

    batch_size: int = Field(256, ge=1, le=10_000, description="Most records per anchored Merkle batch.")
    batch_max_delay_s: float = Field(1.0, gt=0, description="Longest an accepted record waits for its batch.")
    anchor_poll_s: float = Field(0.5, gt=0, description="How often the anchorer looks for rows it was not told of "
                                 "(other processes'); rows this process accepts wake it when they fall due.")
    anchor_retry_s: float = Field(1.0, gt=0, description="Pause after the chain failed before trying again.")
    anchor_takeover_s: float = Field(60.0, gt=0, description="How long a batch another process claimed may stay "
                                     "unanchored before this process sends it (the other died or lost the chain); "
                                     "as long as a receipt may take, so a slow block is not sent twice.")
    registry_poll_s: float = Field(0.2, gt=0, description="How often the authority registry's events are polled.")
    confirmations: int = Field(0, ge=0, le=10_000, description="Blocks on top of an anchor before it counts as "
                               "final (0: final once mined, right for the embedded chain).")
    pin_workers: bool = Field(True, description="With `bindaas serve --workers N` and at least N cores: each API "
                              "worker runs on a core of its own, its threads sharing that core's caches.")
    verify_threads: int = Field(0, ge=0, le=256, description="Threads that verify stored records in bulk (training "
                                "verifies every record it reads); 0: one per core.")
    receipt_timeout_s: float = Field(60.0, gt=0, description="Longest wait for a transaction to be mined (and, on "
                                     "a node that mines as it is sent, for its answer to the send).")

    key_file: Path | None = Field(None, description="The CLI user's key file (ML-DSA-65 + ML-KEM-768).")
    token_ttl_s: int = Field(900, ge=10, le=86_400, description="Lifetime of an access token.")
    challenge_ttl_s: int = Field(120, ge=5, le=3_600, description="How long a sign-in challenge may be answered.")
    token_secret: str | None = Field(None, description="HMAC key of access tokens; default: a file in data_dir/keys, "
                                                       "shared by every worker on that data_dir.")
    service_key_file: Path | None = Field(None, description="The service's ML-KEM-768 key (unwraps record keys for "
                                                            "verification and training); default: data_dir/keys.")
    audience: str | None = Field(None, description="Who challenges are bound to; default: urn:bindaas:<chain>:<registry>.")

    challenges_per_min_per_key: int = Field(20, ge=1, description="Sign-in challenges one key id may ask for a "
                                            "minute (per API process).")
    challenges_per_min_per_address: int = Field(120, ge=1, description="Sign-in challenges one client address may "
                                                "ask for a minute (per API process).")
    signin_failures_per_min_per_key: int = Field(10, ge=1, description="Failed sign-ins for one key id a minute.")
    signin_failures_per_min_per_address: int = Field(30, ge=1, description="Failed sign-ins from one address a "
                                                     "minute.")
    signin_failures_per_min: int = Field(60, ge=1, description="Failed sign-ins a minute from everyone together: "
                                         "each is an anchored audit event, so this bounds the gas unauthenticated "
                                         "callers can make the service spend.")

    metrics_token: str | None = Field(None, description="Bearer token a Prometheus scraper sends to GET /metrics "
                                      "(auditors and authorities may use their access tokens instead).")

    fhir_validation: Literal["schema", "models", "both"] = Field(
        "both", description="HL7's R4 JSON Schema (fast), fhir.resources R4B models, or both."
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, description="Largest request body accepted.")
    max_dicom_bytes: int = Field(64 * 1024 * 1024, description="Largest DICOM object one upload may carry.")
    max_bundle_entries: int = Field(5_000, description="Largest number of entries in one submitted Bundle.")
    max_endorsements: int = Field(32, description="Largest number of endorsements in one envelope.")
    max_json_depth: int = Field(64, description="Deepest JSON nesting accepted (FHIR needs far less).")
    request_read_timeout_s: float = Field(30.0, gt=0, description="Longest wait for the next chunk of a body.")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside data_dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'bindaas.db').resolve()}"

    def resolved_verify_threads(self) -> int:
        """Threads for bulk verification: ``verify_threads``, or one per core."""
        return self.verify_threads or os.cpu_count() or 1

    def resolved_deployment_file(self) -> Path:
        """Where the deployment (chain id and contract addresses) is read and written."""
        return self.deployment_file or self.data_dir / "deployment.json"
