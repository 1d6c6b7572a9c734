"""Channels: the embeddable widget, live handoff to operators, the CRM API and webhooks."""
