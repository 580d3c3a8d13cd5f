"""Domain errors. Routes never build error responses themselves: the API maps each of these to a status and an
RFC 9457 problem body in one place (``bindaas.api.problems``).

BindaasError
 ├── InvalidInput            (422) the request is well-formed JSON but wrong: ``field`` names what
 │    ├── InvalidFhir        (422) the bundle is not valid FHIR R4
 │    ├── InvalidKey         (422) a key has the wrong size or encoding
 │    └── WrongDeployment    (422) signed for another chain id or registry (replay)
 ├── SignatureInvalid        (422) a signature does not verify
 ├── UnknownSigner           (422) an endorsement names a key that is not registered or not valid now
 ├── OwnerNotAllowed         (422) the owner key is not an enrolled patient/clinician allowed to file the record
 ├── PolicyNotMet            (422) fewer valid endorsements than the on-chain policy k
 ├── Unauthorized            (401) no valid access token, or a failed sign-in
 ├── Forbidden               (403) authenticated, but the role or the patient's consent does not allow it
 ├── PayloadTooLarge         (413)
 ├── Unsupported             (415) a body of a media type the route does not take
 ├── RateLimited             (429) too many sign-in challenges or failures; ``retry_after`` seconds
 ├── NotFound                (404)
 ├── RecordDamaged           (409) a stored payload or its wrapped key no longer decrypts
 ├── NotAnchored             (409) the record's batch is not anchored yet (no receipt until it is)
 ├── ChainError              (502) the chain refused a transaction; a contract's custom error maps to its own
 │                                 status (403/404/409/422) and sentence (bindaas.chain.reverts)
 └── ChainUnavailable        (503) the chain node cannot be reached
"""

from __future__ import annotations


class BindaasError(Exception):
    """Root of every error BinDaaS raises on purpose."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, extensions: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extensions = extensions or {}  # more members of the problem body (RFC 9457 extensions)


class InvalidInput(BindaasError):
    status, slug, title = 422, "invalid-input", "Invalid input"


class InvalidFhir(InvalidInput):
    slug, title = "invalid-fhir", "Invalid FHIR R4 resource"


class InvalidKey(InvalidInput):
    slug, title = "invalid-key", "Invalid key or signature encoding"


class WrongDeployment(InvalidInput):
    slug, title = "wrong-deployment", "Signed for another deployment"


class SignatureInvalid(BindaasError):
    status, slug, title = 422, "signature-invalid", "Signature does not verify"


class UnknownSigner(BindaasError):
    status, slug, title = 422, "unknown-signer", "Signer is not a registered, active authority"


class OwnerNotAllowed(BindaasError):
    status, slug, title = 422, "owner-not-allowed", "Owner may not file this record"


class PolicyNotMet(BindaasError):
    status, slug, title = 422, "policy-not-met", "Endorsement policy not met"


class Unauthorized(BindaasError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(BindaasError):
    status, slug, title = 403, "forbidden", "Not allowed"


class PayloadTooLarge(BindaasError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class RateLimited(BindaasError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after = int(retry_after)


class Unsupported(BindaasError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class NotFound(BindaasError):
    status, slug, title = 404, "not-found", "Not found"


class RecordDamaged(BindaasError):
    status, slug, title = 409, "record-damaged", "Stored record does not decrypt"


class NotAnchored(BindaasError):
    status, slug, title = 409, "not-anchored", "Record not anchored yet"


class ChainError(BindaasError):
    status, slug, title = 502, "chain-error", "The chain refused the transaction"

    def __init__(self, detail: str, *, error_name: str | None = None, args: tuple = (), status: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.error_name = error_name
        self.error_args = args
        if status is not None:  # a contract's own refusal (bindaas.chain.reverts), not a failing chain
            self.status = status


class ChainUnavailable(BindaasError):
    status, slug, title = 503, "chain-unavailable", "Chain node unavailable"
