"""Authentication and authorisation: scopes, tokens, passwords, access policies. No HTTP."""
