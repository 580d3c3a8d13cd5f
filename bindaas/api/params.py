"""Path parameters with the shape the OpenAPI document states, so a malformed id is refused (422) by its pattern
and every id that matches it is one the routes take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

HEX32 = r"^0x[0-9a-fA-F]{64}$"

RecordId = Annotated[str, Path(pattern=HEX32, description="a record's id: 0x and its 64-hex SHA3-256 digest")]
KeyId = Annotated[str, Path(pattern=HEX32, description="a key id: 0x and the 64-hex keccak256 of the public key")]
PatientId = Annotated[str, Path(pattern=HEX32, description="the patient's key id")]
ModelId = Annotated[str, Path(pattern=HEX32, description="a model's id: 0x and its 64-hex SHA3-256")]
