"""The assistant: what the bot does with each advisor message, button tap and contact event."""
