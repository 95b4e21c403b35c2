"""The outbox: every outbound message is a row, sent by a dispatcher within each advisor's budget."""
