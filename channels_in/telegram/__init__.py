"""Telegram: a bot's webhook (Bot API `Update` objects) in, `sendMessage` out."""
