"""Target adapters: generic SCIM 2.0 and the profiles of the SCIM apps we write to."""
