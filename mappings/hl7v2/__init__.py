"""HL7 v2 ADT -> register commands (DESIGN.md "HL7 v2 in"), pure: no I/O.

`read` checks the framing-free message (MSH, encoding characters, version, event) with the
PyPI `hl7` parser; `decode` maps it to commands through the sending trust's profile
(`profiles`, YAML under `mappings/trusts/`); `ack` builds the original-mode ACK with an ERR
segment a trust analyst can read. Every refusal is an `Hl7Problem` saying what and where.
"""
