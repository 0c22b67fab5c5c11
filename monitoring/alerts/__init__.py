"""Alerts (SPEC 9): events decided after ingestion rounds, and their signed webhook deliveries."""
