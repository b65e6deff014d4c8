"""PagerDuty's error envelope: {"error": {"code", "message", "errors"}} and its codes."""

# Codes PagerDuty documents (see ../shared/pagerduty-api/README.md).
ALREADY_RESOLVED = 1001
ALREADY_ACKNOWLEDGED = 1002
INVALID_STATUS = 1003
INVALID_ID = 1004
CANNOT_ESCALATE = 1006
REQUESTER_NOT_FOUND = 1008
NOT_ACKNOWLEDGED = 1012
INVALID_SNOOZE = 1013
EP_NOT_FOUND = 1014
ALREADY_MERGED = 1019
INTERNAL = 2000
INVALID_INPUT = 2001
MISSING_ARGUMENTS = 2003
AUTH_FAILED = 2006
ACCESS_DENIED = 2010
REQUESTER_ID_MISSING = 2011
MISSING_ABILITY = 2014
FROM_HEADER = 2016
RATE_LIMITED = 2020
NOT_FOUND = 2100

FROM_MESSAGE = 'You must specify a user\'s email address in the "From" header to perform this action'


class ApiError(Exception):
    """Raised by handlers; the server turns it into the error envelope."""

    def __init__(self, status, code, message, errors=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors or [])

    def body(self):
        return {"error": {"message": self.message, "code": self.code, "errors": self.errors}}


def invalid(*errors):
    return ApiError(400, INVALID_INPUT, "Invalid Input Provided", errors)


def not_found(what=None):
    return ApiError(404, NOT_FOUND, "Not Found", [f"{what} not found"] if what else [])


def missing(*errors):
    return ApiError(400, MISSING_ARGUMENTS, "Missing Arguments", errors)


def strict_json(raw):
    """A request body as PagerDuty reads it: RFC 8259 JSON, so NaN and Infinity are refused
    (kept, they would later be served back as invalid JSON)."""
    import json

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, parse_constant=refuse)
