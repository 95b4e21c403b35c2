"""The customer book: advisors, customers, holdings, events, bindings, who may see what."""
