"""Build-time tools: run from a checkout, never imported by the register at run time (not
installed with it). `python -m tools.author_profiles` writes fhir_profiles/resources/."""
