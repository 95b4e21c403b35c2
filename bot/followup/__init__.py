"""Follow-up: what the advisor did about a reminder, logged from card taps, chat and sidebar."""
