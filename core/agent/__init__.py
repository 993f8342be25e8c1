"""`wardgate agent`: log in with the machine's own credentials, keep the token alive, log in
again when it must, and write the current token to files (Vault Agent's auto-auth)."""
