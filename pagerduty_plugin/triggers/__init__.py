"""Triggers: PagerDuty's changes as v3 webhook events, whether PagerDuty pushed them or we polled.

Each trigger names the inbox sources it reads, filters events with its input, and (polling
triggers) fills its source from PagerDuty first. The generic loop (trigger_loop.py) hands
the events over; the classes are found through the spec (`python.triggers` + implementation).
"""
