"""django-filter base for the API: a filter given with no value is an error, not "no filter"."""

from __future__ import annotations

import django_filters
from django import forms


class StrictFilterSet(django_filters.FilterSet):
    """Refuses ``?since=`` (present but empty) instead of silently ignoring it."""

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_strict_empty", False):
            original_clean = form.clean

            def clean():
                cleaned = original_clean()
                for name in self.filters:
                    if name in self.data and self.data.get(name, None) in ("", None):
                        form.add_error(name, forms.ValidationError(
                            "Give a value, or leave the parameter out.", code="blank"))
                return cleaned

            form.clean, form._strict_empty = clean, True
        return form
