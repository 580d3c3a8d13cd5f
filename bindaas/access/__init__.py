"""Who may do what: sign-in with lattice keys, access tokens, consent checks, the audit trail."""
