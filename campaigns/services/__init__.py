"""Every write of campaigns: templates, campaigns and their audience, the lifecycle, fan-out.

Each service takes ``actor`` (accounts.Actor) as a keyword, checks its permission and
organisation itself, runs in one transaction and records its audit event there.
"""

from campaigns.errors import CampaignRefused, IllegalTransition

__all__ = ["CampaignRefused", "IllegalTransition"]
