"""Local stand-ins for external systems that speak their wire protocol (decision 7): the
embedded default mounts them in-process; tests run them over ASGI or a free port."""
