"""Poll digests: each store's polls of a closed day packed in one row, and the log of changed days.

The trigger records the UTC days every statement on the poll table changes
(monitoring_poll_days_record, also called by the loader for the day tables it fills
and attaches, which no trigger sees), so a digest built before a change is never read
after it (monitoring/ingest/digests.py). Statement-level, with transition tables: a
statement of any size costs one pass over its own rows, not a call per row.
"""
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# Its own class of two-key advisory locks (never met by the one-key locks of ingest/locks.py).
DAY_LOCK_CLASS = 7305

DIGESTS = """
CREATE TABLE monitoring_polldigest (
    store_id bigint NOT NULL,
    day date NOT NULL,
    stamps bytea NOT NULL,
    inactive bytea,
    PRIMARY KEY (store_id, day)
) PARTITION BY RANGE (day);
"""

TRIGGER = f"""
CREATE FUNCTION monitoring_poll_days_record(days date[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- The day's lock first (in day order: no deadlock between two writers), then the change:
    -- a digest being built holds the lock, so a change is either in it or numbered after it.
    PERFORM pg_advisory_xact_lock({DAY_LOCK_CLASS}, day - DATE '1970-01-01') FROM unnest(days) day ORDER BY day;
    INSERT INTO monitoring_pollchange (day) SELECT day FROM unnest(days) day ORDER BY day;
END $$;

CREATE FUNCTION monitoring_poll_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed date[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM monitoring_digestedday;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT (timestamp AT TIME ZONE 'UTC')::date) INTO changed FROM new_polls;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT (timestamp AT TIME ZONE 'UTC')::date) INTO changed FROM old_polls;
    ELSE
        SELECT array_agg(DISTINCT day) INTO changed FROM (
            SELECT (timestamp AT TIME ZONE 'UTC')::date AS day FROM old_polls
            UNION ALL SELECT (timestamp AT TIME ZONE 'UTC')::date FROM new_polls
        ) days;
    END IF;
    PERFORM monitoring_poll_days_record(changed);
    RETURN NULL;
END $$;

CREATE TRIGGER poll_days_inserted AFTER INSERT ON monitoring_statuspoll
    REFERENCING NEW TABLE AS new_polls FOR EACH STATEMENT EXECUTE FUNCTION monitoring_poll_days_changed();
CREATE TRIGGER poll_days_updated AFTER UPDATE ON monitoring_statuspoll
    REFERENCING OLD TABLE AS old_polls NEW TABLE AS new_polls FOR EACH STATEMENT EXECUTE FUNCTION monitoring_poll_days_changed();
CREATE TRIGGER poll_days_deleted AFTER DELETE ON monitoring_statuspoll
    REFERENCING OLD TABLE AS old_polls FOR EACH STATEMENT EXECUTE FUNCTION monitoring_poll_days_changed();
CREATE TRIGGER poll_days_truncated AFTER TRUNCATE ON monitoring_statuspoll
    FOR EACH STATEMENT EXECUTE FUNCTION monitoring_poll_days_changed();
"""

REVERSE_TRIGGER = """
DROP TRIGGER poll_days_inserted ON monitoring_statuspoll;
DROP TRIGGER poll_days_updated ON monitoring_statuspoll;
DROP TRIGGER poll_days_deleted ON monitoring_statuspoll;
DROP TRIGGER poll_days_truncated ON monitoring_statuspoll;
DROP FUNCTION monitoring_poll_days_changed();
DROP FUNCTION monitoring_poll_days_record(date[]);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0015_rejected_run_line'),
    ]

    operations = [
        migrations.CreateModel(
            name='DigestedDay',
            fields=[
                ('day', models.DateField(primary_key=True, serialize=False)),
                ('seen', models.BigIntegerField(help_text='The highest poll change id visible when the day was digested')),
                ('stores', models.PositiveIntegerField(help_text='Stores with a digest of the day')),
                ('polls', models.BigIntegerField(help_text='Polls the digests hold')),
                ('digested_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['day'],
            },
        ),
        migrations.CreateModel(
            name='PollChange',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('day', models.DateField()),
            ],
            options={
                'indexes': [models.Index(fields=['day', 'id'], name='poll_change_day')],
            },
        ),
        # A table partitioned by day, as the polls are: a report's read merges the days' (store, day)
        # indexes in order, and retention drops a day's digests with its polls.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PollDigest',
                    fields=[
                        ('pk', models.CompositePrimaryKey('store', 'day', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('day', models.DateField()),
                        ('stamps', models.BinaryField()),
                        ('inactive', models.BinaryField(null=True)),
                        ('store', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='monitoring.store')),
                    ],
                ),
            ],
            database_operations=[migrations.RunSQL(DIGESTS, "DROP TABLE monitoring_polldigest")],
        ),
        migrations.RunSQL(TRIGGER, REVERSE_TRIGGER),
    ]
