from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0003_report_timings_and_shard_attempts'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='statuspoll',
            name='one_poll_per_store_and_time',
        ),
        migrations.AddConstraint(
            model_name='statuspoll',
            constraint=models.UniqueConstraint(fields=('store', 'timestamp'), include=('active',), name='one_poll_per_store_and_time'),
        ),
    ]
