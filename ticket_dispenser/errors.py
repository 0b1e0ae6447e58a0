"""The dispenser's errors (pure: the presenter tells them apart without importing the device)."""

from __future__ import annotations


class DispenserError(Exception):
    """Root of the dispenser's errors; messages are fit for staff to read."""


class NotConfigured(DispenserError):
    """The dispenser has never received the office's configuration (never enrolled/synced)."""


class UnknownPurpose(DispenserError):
    """The pressed purpose is not in the office's configuration."""


class NumbersExhausted(DispenserError):
    """No leased number is left for this series today: ask staff (the office tops up online)."""


class DailyCapReached(NumbersExhausted):
    """The purpose's daily cap is reached: all numbers for today have been given out."""
