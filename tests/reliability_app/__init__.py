"""A test app for the reliability suite: handlers whose side effects are counted in the database."""
