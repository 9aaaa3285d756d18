from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0004_contact_unique_phone"),
    ]

    operations = [
        migrations.AddField(model_name="importjob", name="header_rows",
                            field=models.PositiveIntegerField(default=1)),
        migrations.AddField(model_name="importjob", name="has_header",
                            field=models.BooleanField(default=True)),
        migrations.AddField(model_name="importjob", name="queued_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="importjob", name="dispatched_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="importjob", name="heartbeat_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="importjob", name="runner_token",
                            field=models.CharField(blank=True, default="", max_length=32)),
        migrations.AddField(model_name="importjob", name="resumed_count",
                            field=models.PositiveIntegerField(default=0)),
        migrations.AddIndex(model_name="importjob",
                            index=models.Index(fields=["status", "heartbeat_at"],
                                               name="import_job_sweep_idx")),
    ]
