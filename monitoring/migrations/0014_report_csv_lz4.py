"""A report's three CSV columns compressed by lz4 where the server has it.

A full-size report's CSVs (about 4 MB of text) took PostgreSQL's default pglz
about 0.09 s to compress as the report completed, lz4 about 0.01 s
(docs/performance.md, "Reports at steady state"); the stored values are about a
fifth larger. A server built without lz4 (the embedded one) keeps pglz: the
ALTER fails there with feature_not_supported, which the block swallows.
Existing values stay as they were compressed; new ones use lz4.
"""
from django.db import migrations

COLUMNS = ("csv", "outages_csv", "outage_counts_csv")

LZ4 = """
DO $$
BEGIN
    ALTER TABLE monitoring_report {alter};
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not built into this server: the report CSVs keep pglz';
END $$;
"""


def _alter(method: str) -> str:
    return ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in COLUMNS)


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0013_report_data_restarts"),
    ]

    operations = [
        migrations.RunSQL(LZ4.format(alter=_alter("lz4")), reverse_sql=LZ4.format(alter=_alter("pglz"))),
    ]
