"""The outbox: each outbound message is a row, sent within its advisor's send budget."""
