"""The framework-free rules every service shares: contracts, numbers, credentials, policy, dates.

Nothing here imports shared.platform, a web or messaging framework, or a database session."""
