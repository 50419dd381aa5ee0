"""skillcert's common code: settings, event contracts, the Kafka bus, the outbox, database, auth, telemetry."""
