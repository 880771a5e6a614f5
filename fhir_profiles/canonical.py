"""Canonical URLs of every conformance artefact the register publishes, and the external
systems it uses. The JSON resources under `fhir_profiles/resources/`, the mappings and the
server all take their URLs from here, so a URL is spelt once."""

from __future__ import annotations

BASE = "https://fhir.s117-register.uk"
FHIR_VERSION = "4.0.1"


def sd(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


def cs(name: str) -> str:
    return f"{BASE}/CodeSystem/{name}"


def vs(name: str) -> str:
    return f"{BASE}/ValueSet/{name}"


# Profiles (id = the last path segment)
PATIENT = sd("S117Patient")
DETENTION = sd("S117Detention")
ENTITLEMENT = sd("S117Entitlement")
FUNDING = sd("S117Funding")
AFTERCARE_PLAN = sd("S117AftercarePlan")
TASK = sd("S117Task")
FLAG = sd("S117Flag")

# Extensions
EXT_LEGAL_STATUS_PERIOD = sd("Extension-S117-LegalStatusPeriod")  # code, period, restricted
EXT_RESPONSIBLE_LA = sd("Extension-S117-ResponsibleLocalAuthority")  # valueReference
EXT_RESPONSIBLE_ICB = sd("Extension-S117-ResponsibleIcb")  # valueReference
EXT_COMMISSIONING_BODY = sd("Extension-S117-CommissioningBody")  # original, successor
EXT_PAYING_BODY = sd("Extension-S117-PayingBody")  # original, successor
EXT_RESPONSIBILITY_BASIS = sd("Extension-S117-ResponsibilityBasis")  # rule, reason, citation
EXT_RESPONSIBILITY_PERIOD = sd("Extension-S117-ResponsibilityPeriod")  # determinations history
EXT_RESIDENCE_LA = sd("Extension-S117-ResidenceLocalAuthority")  # valueIdentifier (GSS)
EXT_NEEDS_REVIEW = sd("Extension-S117-NeedsReview")  # valueString, repeating
EXT_DISPUTE = sd("Extension-S117-Dispute")  # status, party*, interim-lead, opened, resolved
EXT_FUNDING_BASIS = sd("Extension-S117-FundingBasis")  # valueCoding
EXT_FUNDING_SHARE = sd("Extension-S117-FundingShare")  # funder (valueReference), share
EXT_NEXT_REVIEW_DUE = sd("Extension-S117-NextReviewDue")  # valueDate
EXT_SERVICE_LINE = sd("Extension-S117-ServiceLine")  # weekly cost, needs, panel, ...
EXT_ASSESSED_NEED = sd("Extension-S117-AssessedNeed")  # category, arises-from-disorder, note
EXT_RULE_SET = sd("Extension-S117-RuleSet")  # valueCode: the dated rule set used

# The project's code systems (value set of the same name holds all codes)
CS_EVENT = cs("s117-event")
CS_EPISODE_TYPE = cs("s117-episode-type")
CS_FUNDING_BASIS = cs("s117-funding-basis")
CS_END_REASON = cs("s117-end-reason")
CS_NEED_CATEGORY = cs("s117-need-category")
CS_RULE = cs("s117-rule")
CS_COVERAGE_TYPE = cs("s117-coverage-type")
CS_SERVICE_TYPE = cs("s117-service-type")
CS_PANEL_STATUS = cs("s117-panel-status")
CS_TASK_TYPE = cs("s117-task-type")
CS_TASK_PARAMETER = cs("s117-task-parameter")
CS_BUSINESS_STATUS = cs("s117-business-status")
CS_FLAG = cs("s117-flag")

# Search parameters and operations
SEARCH_PARAMETER = f"{BASE}/SearchParameter"
OPERATION = f"{BASE}/OperationDefinition"

# Subscriptions (R5 Backport IG 1.1 on R4): our topics, channel type, event extension
CS_CHANNEL_TYPE = cs("s117-channel-type")  # amqp
CS_ENTITLEMENT_EVENT = cs("s117-entitlement-event")  # planned, started, ... (DESIGN.md)
EXT_ENTITLEMENT_EVENT = sd("Extension-S117-EntitlementEvent")  # on notification-event
EXT_AMQP_CHANNEL = sd("Extension-S117-AmqpChannel")  # queue, username, password


def topic(name: str) -> str:
    return f"{BASE}/SubscriptionTopic/{name}"


BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
BACKPORT_SUBSCRIPTION = f"{BACKPORT}/StructureDefinition/backport-subscription"
BACKPORT_STATUS = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
BACKPORT_NOTIFICATION = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
BACKPORT_FILTER_CRITERIA = f"{BACKPORT}/StructureDefinition/backport-filter-criteria"
BACKPORT_PAYLOAD_CONTENT = f"{BACKPORT}/StructureDefinition/backport-payload-content"
BACKPORT_HEARTBEAT = f"{BACKPORT}/StructureDefinition/backport-heartbeat-period"
BACKPORT_TIMEOUT = f"{BACKPORT}/StructureDefinition/backport-timeout"
BACKPORT_MAX_COUNT = f"{BACKPORT}/StructureDefinition/backport-max-count"
BACKPORT_CHANNEL_TYPE = f"{BACKPORT}/StructureDefinition/backport-channel-type"
BACKPORT_TOPIC_CANONICAL = \
    f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
BACKPORT_OPERATION = f"{BACKPORT}/OperationDefinition"
# Cross-version extensions that carry an R5 SubscriptionTopic on an R4 Basic
R5_TOPIC_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
R4B_TOPIC_EXT = "http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic"
FHIR_TYPES = "http://hl7.org/fhir/fhir-types"

# External identifier systems and code systems
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
GSS_CODE = f"{BASE}/Id/ons-gss-code"
STAY_ID = f"{BASE}/Id/stay"  # value: "<trust ODS>/<stay ref>"
PAYER = f"{BASE}/Id/payer"  # value: housing-benefit (a payer that is not an organisation)


def care_plan_id_system(la_gss: str) -> str:
    """Identifier system of a council's own plan ids (the council's system, by GSS code)."""
    return f"{BASE}/Id/care-plan/{la_gss}"


UKCORE_TASK = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Task"
UKCORE_FLAG = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Flag"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
AMQP_EXCHANGE_ID = f"{BASE}/Id/amqp-exchange"  # names the register's AMQP event stream
UKCORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
UKCORE_ENCOUNTER = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter"
UKCORE_EPISODE_OF_CARE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-EpisodeOfCare"
UKCORE_CARE_PLAN = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-CarePlan"
UKCORE_ORGANIZATION = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization"
UKCORE_LEGAL_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"
UKCORE_LEGAL_STATUS_CS = \
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland"
UKCORE_LEGAL_STATUS_VS = "https://fhir.hl7.org.uk/ValueSet/UKCore-LegalStatusClassification"
UKCORE_LEGAL_STATUS_CONTEXT_CS = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusContext"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# Who did what (AuditEvent, Provenance)
COMMAND_ID = f"{BASE}/Id/command"  # the register command a write was: a message id, a row
REQUEST_ID = f"{BASE}/Id/request"  # X-Request-ID of an audited request
HL7V2_MESSAGE_ID = f"{BASE}/Id/hl7v2-message"  # "hl7v2:<MSH-4>:<MSH-10>"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE = "http://hl7.org/fhir/network-type"
