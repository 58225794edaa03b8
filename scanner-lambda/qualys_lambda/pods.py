"""The Qualys platforms QScanner names by POD: the one list the scanner, the deploy checks and the tests use.

QScanner's --pod values (Qualys QScanner README v4.8.0; Qualys "Identify your platform" page). Any
other platform (GOV1, a private cloud platform) is reached through --gateway-url instead. Standard
library only: `make check` reads it with a bare python3.
"""

QUALYS_PODS = ("US1", "US2", "US3", "US4", "EU1", "EU2", "EU3", "IN1", "CA1", "AE1", "UK1", "AU1", "KSA1")
