"""Pure translation, no I/O: HL7 v2 -> commands, FHIR <-> domain, council files -> commands,
with per-trust mapping profiles kept as YAML data (DESIGN.md "Layout"). Filled by the FHIR API
and trust inbound issues."""
