from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0004_campaign_questionnaire'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='pause_detail',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
