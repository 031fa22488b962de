"""The TURN plane: an embedded, supervised coturn or external TURN servers, and the
short-lived credentials clients get for them (docs/operations.md#turn)."""
