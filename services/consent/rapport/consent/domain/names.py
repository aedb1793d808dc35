"""The consent service's resource names, formatted and parsed here and nowhere else.

Parsing a malformed name raises InvalidArgument naming the request field; whether
the named resource exists is for the service layer to find out.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.resourcenames import format_name, parse_name

WORKSPACE_PATTERN = "workspaces/{workspace}"
CUSTOMER_PATTERN = "workspaces/{workspace}/customers/{customer}"
CONSENT_RECORD_PATTERN = (
    "workspaces/{workspace}/customers/{customer}/consentRecords/{consent_record}"
)


@dataclass(frozen=True, slots=True)
class CustomerName:
    workspace: str
    customer: str


@dataclass(frozen=True, slots=True)
class ConsentRecordName:
    workspace: str
    customer: str
    consent_record: str


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE_PATTERN, workspace=workspace)


def customer_name(workspace: str, customer: str) -> str:
    return format_name(CUSTOMER_PATTERN, workspace=workspace, customer=customer)


def consent_record_name(workspace: str, customer: str, consent_record: str) -> str:
    return format_name(
        CONSENT_RECORD_PATTERN,
        workspace=workspace,
        customer=customer,
        consent_record=consent_record,
    )


def parse_workspace(value: str, *, field: str) -> str:
    """The workspace id of `workspaces/{workspace}`."""
    return parse_name(WORKSPACE_PATTERN, value, field=field)["workspace"]


def parse_customer(value: str, *, field: str) -> CustomerName:
    ids = parse_name(CUSTOMER_PATTERN, value, field=field)
    return CustomerName(ids["workspace"], ids["customer"])


def parse_consent_record(value: str, *, field: str) -> ConsentRecordName:
    ids = parse_name(CONSENT_RECORD_PATTERN, value, field=field)
    return ConsentRecordName(ids["workspace"], ids["customer"], ids["consent_record"])
