"""Web UI of messaging: inbox, simulator, channel set-up, and the JSON endpoints they poll."""
