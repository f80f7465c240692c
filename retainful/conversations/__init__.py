"""Conversations with shoppers: inbound replies, agents' answers, abandonment reasons."""
