"""Campaigns and the intake bot arrive in the next wave (see DESIGN.md)."""

from campaigns.intake.models import *  # noqa: F403  (intake models live in their own subpackage)
