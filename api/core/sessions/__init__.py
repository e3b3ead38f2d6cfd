"""Browser sessions of the UI: the server-side epoch that a sign-out moves on."""
