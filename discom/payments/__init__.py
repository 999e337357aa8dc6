"""Payments: the Razorpay gateway, the sandbox, and crediting money to the ledger."""
