from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0006_dicom_node_role"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="time_zone",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="user",
            name="birth_date",
            field=models.DateField(blank=True, null=True),
        ),
    ]
