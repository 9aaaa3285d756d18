"""Reads for accounts pages (no PHI here: staff identities, roles and security status)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor.plugins.phonenumber.models import PhoneDevice

from accounts.email_address import canonical_email
from accounts.lockout import locked_emails
from accounts.models import Membership, Organization, User


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    has_two_factor: bool
    locked_out: bool

    @property
    def user(self) -> User:
        return self.membership.user


MEMBERS_PER_PAGE = 50


def _member_rows(memberships: list[Membership]) -> list[MemberRow]:
    user_ids = [m.user_id for m in memberships]
    with_device = set()
    # A primary factor is a confirmed device named "default" (backup codes alone are not one).
    for model in (TOTPDevice, PhoneDevice):
        with_device |= set(model.objects.filter(user_id__in=user_ids, confirmed=True, name="default")
                           .values_list("user_id", flat=True))
    locked = locked_emails([m.user.email for m in memberships])
    return [MemberRow(m, m.user_id in with_device, canonical_email(m.user.email) in locked)
            for m in memberships]


def _memberships(organization: Organization):
    # Ordered by e-mail, then id: a stable order, so pages never skip or repeat anyone.
    return (Membership.objects.filter(organization=organization)
            .select_related("user").order_by("user__email", "pk"))


def members_page(organization: Organization, page_number, *, per_page: int = MEMBERS_PER_PAGE
                 ) -> tuple[Page, list[MemberRow]]:
    """One page of members (out-of-range or junk page numbers give the nearest valid page)."""
    page = Paginator(_memberships(organization), per_page).get_page(page_number)
    return page, _member_rows(list(page.object_list))


def memberships_of(user: User):
    """The user's memberships in active organisations (for the organisation switcher)."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return (Membership.objects.filter(user=user, organization__is_active=True)
            .select_related("organization").order_by("organization__name"))
