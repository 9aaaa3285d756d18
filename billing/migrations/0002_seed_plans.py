"""Seed the four default plans (billing/catalogue.py); existing plans are left as they are."""

from django.db import migrations

from billing.catalogue import DEFAULT_PLANS, ensure_default_plans


def seed(apps, schema_editor):
    ensure_default_plans(apps.get_model("billing", "Plan"))


def unseed(apps, schema_editor):
    # Plans in use are protected by their subscriptions; unused seeded ones go.
    apps.get_model("billing", "Plan").objects.filter(code__in=[p["code"] for p in DEFAULT_PLANS],
                                                     subscriptions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_plans_subscriptions_usage_statements")]
    operations = [migrations.RunPython(seed, unseed)]
