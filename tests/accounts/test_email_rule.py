"""The shared e-mail rule answers exactly as Django's EmailValidator (plus internationalised
local parts), though it remembers each domain's answer."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from accounts.validators import InvalidValue, _django_valid_email, validate_email

ADDRESSES = [
    "maria.gonzalez@example.org", "a@b.co", "first+tag@sub.example.co.uk", "x@localhost",
    "user@[127.0.0.1]", "user@[IPv6:2001:db8::1]", "user@[999.1.1.1]", "user@example", "user@-example.org",
    "user@example-.org", "user@exa_mple.org", "user@xn--bcher-kva.example", "user@bücher.example",
    "@example.org", "user@", "user", "us er@example.org", '"quoted local"@example.org', "a..b@example.org",
    ".a@example.org", "a.@example.org", "user@example..org", "user@.example.org", "user@example.org.",
    "a" * 65 + "@example.org", "user@" + "a" * 64 + ".org", "user@" + ("a" * 63 + ".") * 5 + "org",
    "zoë.müller@example.de", "user@@example.org", "",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_fast_path_agrees_with_djangos_validator(address):
    try:
        EmailValidator()(address)
        expected = True
    except ValidationError:
        expected = False
    assert _django_valid_email(address) is expected
    assert _django_valid_email(address) is expected  # the remembered domain answers the same


def test_internationalised_local_parts_pass_and_junk_is_refused_with_a_next_step():
    assert validate_email("  Zoë.Müller@Example.DE ") == "zoë.müller@example.de"
    with pytest.raises(InvalidValue, match=r"write it like name@example\.org"):
        validate_email("not an address")
