"""The root of every error of the certificates package."""

from __future__ import annotations


class CertificateDomainError(Exception):
    """Root of the certificates package's errors: registry data, card answers, options, fees,
    content and pages that cannot be used. The message names what is wrong."""
