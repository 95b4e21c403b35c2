"""WeCom: callback gateway, crypto, inbox, API client, card builders and the local sandbox."""
