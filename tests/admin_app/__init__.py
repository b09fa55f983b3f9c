"""A small installed app whose handlers give the admin tests and benchmark real Restate state."""
