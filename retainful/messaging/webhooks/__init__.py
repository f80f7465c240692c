"""Provider webhooks, one parser per provider (listmonk's bounce/webhooks layout)."""
