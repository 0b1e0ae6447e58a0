"""The resident's progress page (``madoguchi-public``): a small process on the internet-facing
network that the office feeds one way with what a resident may see.

Imports: common and sync (the feed's models) - never another app; it never connects to the
office.
"""
