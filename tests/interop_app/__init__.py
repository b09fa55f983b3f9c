"""Handlers that other Restate clients (Kotlin, TypeScript, Go, Java) call: issue 14's decoding points."""
