"""What runs a service: app factory, runtime, unit of work, bus, outbox, database, auth, telemetry, settings."""
