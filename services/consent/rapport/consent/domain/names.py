"""The consent service's resource names, formatted and parsed here and nowhere else.

Parsing a malformed name raises InvalidArgument naming the request field; whether
the named resource exists is for the service layer to find out.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.errors import InvalidArgument
from rapport.resourcenames import format_name, parse_name

WORKSPACE_PATTERN = "workspaces/{workspace}"
CUSTOMER_PATTERN = "workspaces/{workspace}/customers/{customer}"
CONSENT_RECORD_PATTERN = (
    "workspaces/{workspace}/customers/{customer}/consentRecords/{consent_record}"
)
DATA_SUBJECT_REQUEST_PATTERN = "workspaces/{workspace}/dataSubjectRequests/{data_subject_request}"


@dataclass(frozen=True, slots=True)
class CustomerName:
    workspace: str
    customer: str


@dataclass(frozen=True, slots=True)
class ConsentRecordName:
    workspace: str
    customer: str
    consent_record: str


@dataclass(frozen=True, slots=True)
class DataSubjectRequestName:
    workspace: str
    data_subject_request: str


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


def data_subject_request_name(workspace: str, data_subject_request: str) -> str:
    return format_name(
        DATA_SUBJECT_REQUEST_PATTERN,
        workspace=workspace,
        data_subject_request=data_subject_request,
    )


def profile_name(workspace: str, customer: str) -> str:
    """Profile's name of a customer's profile (its EraseProfile and ExportProfile)."""
    return f"{customer_name(workspace, customer)}/profile"


def parse_workspace(value: str, *, field: str) -> str:
    """The workspace id of `workspaces/{workspace}`."""
    return parse_name(WORKSPACE_PATTERN, value, field=field)["workspace"]


def parse_customer(value: str, *, field: str) -> CustomerName:
    ids = parse_name(CUSTOMER_PATTERN, value, field=field)
    return CustomerName(ids["workspace"], ids["customer"])


def customer_id_in(name: str, workspace: str) -> str:
    """The id of a customer name of ``workspace`` answered by a peer; "" for anything
    else (another workspace, not a customer name)."""
    try:
        ref = parse_customer(name, field="customer")
    except InvalidArgument:
        return ""
    return ref.customer if ref.workspace == workspace else ""


def parse_consent_record(value: str, *, field: str) -> ConsentRecordName:
    ids = parse_name(CONSENT_RECORD_PATTERN, value, field=field)
    return ConsentRecordName(ids["workspace"], ids["customer"], ids["consent_record"])


def parse_data_subject_request(value: str, *, field: str) -> DataSubjectRequestName:
    ids = parse_name(DATA_SUBJECT_REQUEST_PATTERN, value, field=field)
    return DataSubjectRequestName(ids["workspace"], ids["data_subject_request"])
