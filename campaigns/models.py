"""Campaigns and the intake bot arrive in the next wave (see DESIGN.md)."""
