"""Domain <-> FHIR R4 translation, one module per resource, pure functions on
`fhir.resources.R4B` models (wire-compatible with R4; the package has no R4 models)."""
