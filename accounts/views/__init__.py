"""Web pages of accounts: thin doors over accounts' services (see the modules of this package)."""
