from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_api_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="read_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="report",
            name="compute_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="reportshard",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="reportshard",
            name="read_seconds",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="reportshard",
            name="compute_seconds",
            field=models.FloatField(default=0.0),
        ),
    ]
