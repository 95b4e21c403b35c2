"""The securities advisor's assistant inside WeCom (企业微信)."""

__version__ = "0.1.0"
