"""The outbox's work: its command (`outbox status|list|drain|retry|purge`) and its sender (a step's event
written first, then sent; the drainer for the rest). The store itself is state/outbox.py."""
