"""The scanner's error family: what the handler rejects, retries or reports."""

from __future__ import annotations


class ScannerError(Exception):
    """Base of the errors the scanner raises on purpose."""


class InvalidEventError(ScannerError):
    """The input can never be scanned (a retry would not fix it): logged and rejected."""


class ConfigurationError(ScannerError):
    """The scanner's own settings or secret are wrong."""


class TransientError(ScannerError):
    """A dependency failed in a way a retry may fix (throttling, network): the invocation fails."""


class ScanFailedError(ScannerError):
    """QScanner did not finish; the failure has been tagged, stored and notified."""


class DeliveryError(ScannerError):
    """At least one destination (S3, SNS, tags, cache) could not be written."""


class TargetAccessError(ScannerError):
    """The scanner cannot act in the target account (role missing, ExternalId wrong, denied)."""


class DestinationError(ScannerError):
    """One destination (S3, SNS, tags, Security Hub, the event bus) could not be written; the others still are."""


class FunctionGoneError(InvalidEventError):
    """The function no longer exists: nothing to scan, and its findings and cache item are retired."""
