"""The sending pipeline: outbox, send policy, providers, dispatcher."""
