"""Resource names delivery reads and writes: the one place their patterns are spelled out."""

from __future__ import annotations

from rapport.resourcenames import format_name, parse_name

WORKSPACE = "workspaces/{workspace}"
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
MESSAGE = "workspaces/{workspace}/messages/{message}"
INBOX_MESSAGE = "workspaces/{workspace}/customers/{customer}/inboxMessages/{inbox_message}"
TEMPLATE = "workspaces/{workspace}/templates/{template}"
# The profile service's name for a customer's profile (what GetProfile takes).
PROFILE = "workspaces/{workspace}/customers/{customer}/profile"


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE, workspace=workspace)


def customer_name(workspace: str, customer: str) -> str:
    return format_name(CUSTOMER, workspace=workspace, customer=customer)


def message_name(workspace: str, message: str) -> str:
    return format_name(MESSAGE, workspace=workspace, message=message)


def inbox_message_name(workspace: str, customer: str, inbox_message: str) -> str:
    return format_name(
        INBOX_MESSAGE, workspace=workspace, customer=customer, inbox_message=inbox_message
    )


def template_name(workspace: str, template: str) -> str:
    return format_name(TEMPLATE, workspace=workspace, template=template)


def parse_workspace(name: str, *, field: str) -> str:
    """The workspace id of `workspaces/{workspace}`; InvalidArgument naming `field` if malformed."""
    return parse_name(WORKSPACE, name, field=field)["workspace"]


def parse_customer(name: str, *, field: str) -> tuple[str, str]:
    """(workspace, customer) ids of a customer name."""
    ids = parse_name(CUSTOMER, name, field=field)
    return ids["workspace"], ids["customer"]


def parse_message(name: str, *, field: str) -> tuple[str, str]:
    """(workspace, message) ids of a message name."""
    ids = parse_name(MESSAGE, name, field=field)
    return ids["workspace"], ids["message"]


def parse_inbox_message(name: str, *, field: str) -> tuple[str, str, str]:
    """(workspace, customer, inbox message) ids of an inbox message name."""
    ids = parse_name(INBOX_MESSAGE, name, field=field)
    return ids["workspace"], ids["customer"], ids["inbox_message"]


def parse_template(name: str, *, field: str) -> tuple[str, str]:
    """(workspace, template) ids of a template name."""
    ids = parse_name(TEMPLATE, name, field=field)
    return ids["workspace"], ids["template"]


def profile_name(customer: str) -> str:
    """The profile of a customer given by its name (`.../customers/{customer}/profile`)."""
    workspace, customer_id = parse_customer(customer, field="customer")
    return format_name(PROFILE, workspace=workspace, customer=customer_id)
