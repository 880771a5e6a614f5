"""The inbound bridge: messages from trusts (HL7 v2, FHIR) and councils, made durable first,
then applied to the register once each, in order per person.

    transport (MLLP, POST /hl7v2, $process-message)
      -> Envelope -> bus.publish: RabbitMQ with publisher confirms (networked), or the
         in-process bus that applies it before returning (embedded)
      -> Processor: decoder chosen by routing-key prefix -> commands -> RegisterService,
         or quarantine (inbound_message) and a dead letter on s117.dead
      -> `s117 worker` consumes the partition queues (networked)

See docs/inbound.md for the contract and the choices.
"""
