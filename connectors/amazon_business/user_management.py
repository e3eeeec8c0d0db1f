"""User Management API (2021-08-30): create business user accounts.

Not part of reconciliation; present so that every Amazon Business operation has a typed entry
point. Role: *User Management*, which Amazon grants only after an offline approval. Amazon
creates the account with a generated password and e-mails the holder to set one (unless
``EMAIL`` notifications are suppressed); the holder's e-mail must not already belong to an
Amazon Business user. The answer is HTTP 201 with an empty object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from connectors.amazon_business.models import parse_json_object
from connectors.amazon_business.transport import Transport

#: The business roles Amazon's model lists for a new user.
BUSINESS_ROLES = ("Requisitioner", "PunchoutUser", "Administrator", "Finance", "Tech")
#: The stores a user account can be created in.
USER_REGIONS = ("DE", "FR", "UK", "IT", "ES", "US", "CA", "JP")


class UserManagementClient:
    """The User Management API over a :class:`Transport` (role: User Management)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def create_business_user_account(
        self,
        email: str,
        given_name: str,
        family_name: str,
        group_id: str,
        role: str,
        region: str,
        *,
        group_id_type: Literal["GroupId", "GroupTag"] = "GroupId",
        notification_types_to_suppress: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """createBusinessUserAccount: add ``email`` to an existing group with a role.

        ``group_id`` is Amazon's group id, or the customer's group tag with
        ``group_id_type="GroupTag"``. ``role`` is one of :data:`BUSINESS_ROLES`, ``region`` one of
        :data:`USER_REGIONS`; ``notification_types_to_suppress=["EMAIL"]`` suppresses the e-mail.
        """
        if role not in BUSINESS_ROLES:
            raise ValueError(f"role must be one of {', '.join(BUSINESS_ROLES)}, not {role!r}")
        if region not in USER_REGIONS:
            raise ValueError(f"region must be one of {', '.join(USER_REGIONS)}, not {region!r}")
        for name, value in (
            ("email", email),
            ("given_name", given_name),
            ("family_name", family_name),
            ("group_id", group_id),
        ):
            if not value:
                raise ValueError(f"{name} must not be empty")
        body: dict[str, Any] = {
            "accountHolder": {"email": email, "givenName": given_name, "familyName": family_name},
            "groupId": {"idType": group_id_type, "id": group_id},
            "role": role,
            "region": region,
        }
        if notification_types_to_suppress is not None:
            body["notificationTypesToSuppress"] = list(notification_types_to_suppress)
        response = self.transport.call("createBusinessUserAccount", body=body)
        return parse_json_object(
            response.body,
            operation="createBusinessUserAccount",
            status=response.status,
            request_id=response.request_id,
        )
