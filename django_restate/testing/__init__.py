"""Testing tools for projects that use django_restate."""
