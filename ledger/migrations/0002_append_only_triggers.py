"""Append-only enforced by the database: triggers reject UPDATE and DELETE on entries,
tree nodes and checkpoints.

PostgreSQL: row-level BEFORE UPDATE OR DELETE triggers raising an exception (TRUNCATE,
which needs the table owner, is left to administrators and Django's test flush).
SQLite: BEFORE UPDATE triggers (RAISE(ABORT)); DELETE stays possible because Django's
test-database flush deletes rows on SQLite and SQLite has no per-session switch.
Tests that tamper on purpose disable the triggers (`SET session_replication_role = replica`
on PostgreSQL).
"""

from django.db import migrations

TABLES = ("ledger_entry", "ledger_treenode", "ledger_checkpoint")

PG_FUNC = """
CREATE OR REPLACE FUNCTION ledger_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNC, params=None)
        for t in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                f"FOR EACH ROW EXECUTE FUNCTION ledger_reject_mutation()"
            )
    elif vendor == "sqlite":
        for t in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
                f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on {t} is not allowed'); END"
            )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for t in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_reject_mutation()")
    elif vendor == "sqlite":
        for t in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
