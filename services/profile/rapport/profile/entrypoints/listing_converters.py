"""ListProfiles' response: each profile with the fields its read_mask selected."""

from __future__ import annotations

from rapport.profile.domain.profile_selection import SUMMARY_FIELDS
from rapport.profile.service_layer.profile_listing import ProfilePage
from rapport.profile.v1 import profile_service_pb2 as pb

from .converters import profile_message


def list_profiles_response(page: ProfilePage) -> pb.ListProfilesResponse:
    response = pb.ListProfilesResponse(next_page_token=page.next_page_token)
    left_out = [f for f in SUMMARY_FIELDS if f not in page.selection.summary_fields]
    for view in page.profiles:
        # The view's traits are already the selected ones.
        message = profile_message(view)
        for field in left_out:
            message.ClearField(field)
        response.profiles.append(message)
    return response
