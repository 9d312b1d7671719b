"""WhatsApp Cloud API: Graph webhooks in, the /messages endpoint out (24-hour window aware)."""
