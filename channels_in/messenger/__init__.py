"""Facebook Messenger and Instagram messaging: Graph webhooks in, the Send API out."""
