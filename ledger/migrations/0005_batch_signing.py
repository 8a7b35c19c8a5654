"""Batch signing: `Batch` (one Falcon-512 signature over the Merkle root of the entries
appended in one transaction) and `Entry.batch` (NULL for the per-entry signed entries of
format 1). The batch table is append-only like the entries (see 0002)."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    t = "ledger_batch"
    if vendor == "postgresql":
        # ledger_reject_mutation() comes from 0002
        schema_editor.execute(
            f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_reject_mutation()"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
            f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on {t} is not allowed'); END"
        )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    t = "ledger_batch"
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_signingkey_ed25519")]

    operations = [
        migrations.CreateModel(
            name="Batch",
            fields=[
                ("first", models.BigIntegerField(primary_key=True, serialize=False)),
                ("size", models.IntegerField()),
                ("root_hash", models.BinaryField()),
                ("key_id", models.CharField(max_length=8)),
                ("signature", models.BinaryField()),
            ],
            options={"ordering": ["first"]},
        ),
        # nullable, no default: a plain ALTER TABLE ADD COLUMN (no table rebuild on SQLite,
        # which would drop the append-only trigger of ledger_entry)
        migrations.AddField(
            model_name="entry",
            name="batch",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
