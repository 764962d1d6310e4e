"""Local Shopify sandbox: the Admin GraphQL API subset and webhooks the platform uses.

Start one with ``ShopifySandbox(client_secret="...").start()`` and add shops with
``add_shop``. The ``shopify_sandbox`` management command runs one from the shell.
"""

from connectors.shopify.sandbox.server import ShopifySandbox

__all__ = ["ShopifySandbox"]
