"""Conformance resources the register publishes (StructureDefinitions, CodeSystems,
ValueSets, SearchParameters, OperationDefinitions, topics, CapabilityStatement) and the
validator that checks incoming resources against them. Filled by the FHIR API issue."""
