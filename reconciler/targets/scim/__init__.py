"""A generic SCIM 2.0 (RFC 7643/7644) reader and writer, parameterised by a target profile."""
