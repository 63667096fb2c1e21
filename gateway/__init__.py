"""The gateway of a member firm: authenticate callers, check grants, record every call, ship the records."""
