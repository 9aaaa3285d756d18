"""Plans, usage metering and quotas arrive in a later wave (see DESIGN.md)."""
