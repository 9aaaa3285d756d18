"""Signed, expiring links (e-mail verification, password reset), each with its own lifetime.

Django's PasswordResetTokenGenerator always expires tokens after settings.PASSWORD_RESET_TIMEOUT,
whatever the subclass wants; `MaxAgeTokenGenerator` checks its own `max_age_seconds()` instead,
so a short reset lifetime never shortens verification links (and the other way round).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int


class MaxAgeTokenGenerator(PasswordResetTokenGenerator):
    """A token generator whose tokens expire after `max_age_seconds()`."""

    def max_age_seconds(self) -> int:
        raise NotImplementedError

    def check_token(self, user, token) -> bool:
        """Whether `token` was made for `user` in its current state, within the lifetime."""
        if not (user and token):
            return False
        try:
            timestamp = base36_to_int(str(token).split("-", 1)[0])
        except ValueError:
            return False
        # Every secret is tried, so no secret is told apart by timing.
        matched = False
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token):
                matched = True
        if not matched:
            return False
        return (self._num_seconds(self._now()) - timestamp) <= self.max_age_seconds()


class PasswordResetTokens(MaxAgeTokenGenerator):
    """Reset links: single-use (the hash covers the password) and spent by "sign out everywhere"."""

    key_salt = "accounts.tokens.PasswordResetTokens"

    def max_age_seconds(self) -> int:
        return settings.PASSWORD_RESET_LINK_MAX_AGE_SECONDS

    def _make_hash_value(self, user, timestamp):
        # The password hash changes when the link is used, so it works once; the session
        # generation changes on "sign out everywhere" and on a reset, which spends older links too.
        login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
        return f"{user.pk}{user.password}{login}{user.session_generation}{user.email}{timestamp}"


password_reset_tokens = PasswordResetTokens()
