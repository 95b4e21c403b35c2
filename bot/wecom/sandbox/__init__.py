"""A local stand-in for WeCom's servers, speaking the real protocol.

`Sandbox` holds the state (members, external contacts, tokens, delivered messages) and
enforces WeCom's rules: token expiry, the per-member 30/min and 1000/h limits (excess dropped
silently, as WeCom does), field limits, one-use response codes, unique task ids. Faults can be
injected by errcode. `create_sandbox_app` serves it over HTTP; `CallbackSender` plays WeCom's
side of the callback, encrypting and signing pushes to the bot.
"""

from bot.wecom.sandbox.api import create_sandbox_app
from bot.wecom.sandbox.callbacks import CallbackSender
from bot.wecom.sandbox.state import Delivered, Sandbox

__all__ = ["CallbackSender", "Delivered", "Sandbox", "create_sandbox_app"]
