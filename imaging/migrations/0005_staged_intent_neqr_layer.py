from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0004_scan_acquisition"),
    ]

    operations = [
        migrations.RemoveField(model_name="stagedobject", name="ciphertext"),
        # a row staged by the previous version gets an empty CID: the pipeline then finds no
        # such blob and encrypts the object again under its wrapped key
        migrations.AddField(
            model_name="stagedobject",
            name="cid",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="stagedobject",
            name="ciphertext_sha256",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="scan",
            name="neqr_layer",
            field=models.BooleanField(default=False),
        ),
    ]
