"""pytest plugin for projects using django_restate (registered through the pytest11 entry point)."""
