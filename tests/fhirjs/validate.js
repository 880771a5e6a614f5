// Validates FHIR R4 resources with FHIR.js (the npm package `fhir`), an implementation
// independent of the Python models, and prints one JSON result per resource:
//   [{"source": ..., "resourceType": ..., "id": ..., "valid": bool, "messages": [...]}]
// Resources come from the JSON files named on the command line or, with no arguments, from
// stdin (one resource or a JSON array of resources).
"use strict";

const fs = require("fs");
const { Fhir } = require("fhir");

const fhir = new Fhir();

function check(resource, source) {
  // errorOnUnexpected: an element the R4 model does not know is an error, not a warning.
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  return {
    source,
    resourceType: resource.resourceType,
    id: resource.id,
    valid: result.valid,
    messages: result.messages,
  };
}

function inputs() {
  const files = process.argv.slice(2);
  if (files.length > 0) {
    return files.map((file) => [JSON.parse(fs.readFileSync(file, "utf8")), file]);
  }
  const parsed = JSON.parse(fs.readFileSync(0, "utf8"));
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((resource, index) => [resource, `stdin[${index}]`]);
}

process.stdout.write(JSON.stringify(inputs().map(([r, s]) => check(r, s)), null, 1) + "\n");
