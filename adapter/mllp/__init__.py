"""`s117 mllp`: the HL7 v2 listener over MLLP (Minimal Lower Layer Protocol, HL7 v2
appendix C): many concurrent connections, one message at a time per connection, answered in
order."""
