"""Reliability suite: crashes, restarts, sustained load and hostile input against a real restate-server."""
