from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workflowbench", "0001_initial")]
    operations = [migrations.AddField(model_name="order", name="first_step_at", field=models.FloatField(null=True))]
