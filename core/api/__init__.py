"""What every app's API shares: problem+json errors (`errors`), request-body parsers (`parsers`)
and the OpenAPI pieces that describe them (`openapi`)."""
