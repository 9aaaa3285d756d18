# Channel.provider no longer carries model choices: it is validated against the provider
# registry (messaging.providers), so adding a provider is adding one module, never a migration.
# Schema-wise nothing changes (choices and validators live in Python only).

import messaging.models
import messaging.providers.registry
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='channel',
            name='provider',
            field=models.CharField(default=messaging.providers.registry.default_provider_key, max_length=32, validators=[messaging.models.validate_provider_key]),
        ),
    ]
