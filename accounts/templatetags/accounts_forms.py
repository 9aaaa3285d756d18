"""Render form fields with Bootstrap classes (our forms and django-two-factor-auth's alike)."""

from django import template

register = template.Library()


@register.filter
def bs_widget(bound_field):
    """The field's widget with Bootstrap's class, marked invalid when the field has errors."""
    widget_type = bound_field.widget_type
    if widget_type in ("checkbox", "radioselect", "checkboxselectmultiple"):
        css = "form-check-input"
    elif widget_type == "select":
        css = "form-select"
    else:
        css = "form-control"
    if bound_field.errors:
        css += " is-invalid"
    attrs = {"class": css}
    if bound_field.help_text:
        attrs["aria-describedby"] = f"{bound_field.auto_id}_help"
    return bound_field.as_widget(attrs=attrs)
