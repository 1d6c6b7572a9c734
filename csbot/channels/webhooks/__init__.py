"""Webhooks: a persistent outbox written on every event, delivered by a background dispatcher."""
