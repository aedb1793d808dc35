"""Saved templates through the real gRPC server: the resource, checks when saved,
previews, and sends that name a template (locales, undefined variables at send)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, assert_refused, delivery, send_request

PARENT = "workspaces/default"
WITHIN = 10.0


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def welcome(**overrides: Any) -> pb.Template:
    template = pb.Template(
        display_name="Welcome",
        default_locale="en",
        contents={
            "en": pb.TemplateContent(
                subject="Welcome {{ traits.first_name }}",
                text_body="Your code: {{ data.code }}",
                html_body="<p>Your code: <b>{{ data.code }}</b></p>",
                sms_body="Code {{ data.code }}",
            ),
            "fr": pb.TemplateContent(
                subject="Bienvenue {{ traits.first_name }}",
                text_body="Votre code : {{ data.code }}",
            ),
        },
        sample_data=struct({"code": "ABC"}),
    )
    for field, value in overrides.items():
        if field == "contents":
            template.ClearField("contents")
            for locale, content in value.items():
                template.contents[locale].CopyFrom(content)
        elif isinstance(value, struct_pb2.Struct):
            getattr(template, field).CopyFrom(value)
        else:
            setattr(template, field, value)
    return template


async def create(
    stub: pb_grpc.DeliveryServiceStub, template_id: str = "welcome", **overrides: Any
) -> pb.Template:
    return await stub.CreateTemplate(
        pb.CreateTemplateRequest(
            parent=PARENT, template_id=template_id, template=welcome(**overrides)
        )
    )


async def final(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return (
            message
            if message.state not in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING)
            else None
        )

    return await eventually(done, timeout=WITHIN)


# --- the resource --------------------------------------------------------------------------------


async def test_create_get_list_update_delete(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        created = await create(
            stub, contents={"fr_ca": welcome().contents["fr"]}, default_locale="FR-ca"
        )
        assert created.name == f"{PARENT}/templates/welcome"
        assert created.default_locale == "fr-CA" and list(created.contents) == ["fr-CA"]
        assert created.HasField("create_time") and created.update_time == created.create_time
        assert await stub.GetTemplate(pb.GetTemplateRequest(name=created.name)) == created

        for template_id in ("b-second", "c-third"):
            await create(stub, template_id)
        first = await stub.ListTemplates(pb.ListTemplatesRequest(parent=PARENT, page_size=2))
        rest = await stub.ListTemplates(
            pb.ListTemplatesRequest(parent=PARENT, page_size=2, page_token=first.next_page_token)
        )
        names = [t.name.rsplit("/", 1)[1] for t in [*first.templates, *rest.templates]]
        assert names == ["b-second", "c-third", "welcome"] and rest.next_page_token == ""

        changed = welcome(display_name="Hello", default_locale="de")  # only display_name applies
        updated = await stub.UpdateTemplate(
            pb.UpdateTemplateRequest(
                template=pb.Template(name=created.name, display_name=changed.display_name),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
        assert updated.display_name == "Hello" and updated.contents == created.contents
        assert updated.create_time == created.create_time
        assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()
        # Without a mask, everything is replaced.
        replaced = await stub.UpdateTemplate(
            pb.UpdateTemplateRequest(template=welcome(name=created.name))
        )
        assert sorted(replaced.contents) == ["en", "fr"] and replaced.default_locale == "en"

        await stub.DeleteTemplate(pb.DeleteTemplateRequest(name=created.name))
        for call in (
            stub.GetTemplate(pb.GetTemplateRequest(name=created.name)),
            stub.DeleteTemplate(pb.DeleteTemplateRequest(name=created.name)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create(stub, "b-second")
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_variable_the_sample_lacks_is_refused_naming_part_and_variable(
    make_settings: Any,
) -> None:
    nickname = welcome().contents["fr"]
    nickname.subject = "Salut {{ traits.nickname }}"
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create(stub, contents={"en": welcome().contents["en"], "fr": nickname})
        assert_refused(
            caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", 'template.contents["fr"].subject'
        )
        assert "traits.nickname" in (caught.value.details() or "")
        assert (
            list((await stub.ListTemplates(pb.ListTemplatesRequest(parent=PARENT))).templates) == []
        )

        # The sample data too: `data.code` is used, and an empty sample has none.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create(stub, sample_data=struct({}))
        assert "data.code" in (caught.value.details() or "")

        # With a sample that has it, it is saved; an update reintroducing a gap is refused
        # and changes nothing.
        saved = await create(
            stub,
            contents={"en": welcome().contents["en"], "fr": nickname},
            sample_traits=struct({"first_name": "Ada", "nickname": "Ace"}),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTemplate(
                pb.UpdateTemplateRequest(
                    template=pb.Template(
                        name=saved.name, sample_traits=struct({"first_name": "A"})
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["sample_traits"]),
                )
            )
        assert_refused(
            caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", 'template.contents["fr"].subject'
        )
        assert await stub.GetTemplate(pb.GetTemplateRequest(name=saved.name)) == saved


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"template_id": ""}, "template_id"),
        ({"template_id": "Bad Id"}, "template_id"),
        ({"parent": "workspaces/default/x"}, "parent"),
        ({"default_locale": ""}, "template.default_locale"),
        ({"default_locale": "de"}, "template.contents"),
        ({"default_locale": "english!"}, "template.default_locale"),
        ({"contents": {}}, "template.contents"),
        (
            {"contents": {"not a locale": pb.TemplateContent(text_body="x")}},
            'template.contents["not a locale"]',
        ),
        ({"contents": {"en": pb.TemplateContent()}}, 'template.contents["en"]'),
        (
            {"contents": {"en": pb.TemplateContent(subject="{{ oops")}},
            'template.contents["en"].subject',
        ),
        (
            {"contents": {"en": pb.TemplateContent(subject="x" * 1001)}},
            'template.contents["en"].subject',
        ),
        # Refused when saved, not found when a customer's message goes out.
        (
            {
                "contents": {
                    "en": pb.TemplateContent(
                        text_body="{% for i in range(100000) %}{% for j in range(100000) %}"
                        "{% endfor %}{% endfor %}"
                    )
                }
            },
            'template.contents["en"].text_body',
        ),
        (
            {
                "contents": {
                    "en": pb.TemplateContent(
                        text_body="{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
                    )
                }
            },
            'template.contents["en"].text_body',
        ),
        (
            {
                "contents": {
                    "en": pb.TemplateContent(
                        text_body="{% for x in [1] recursive %}{{ loop([]) }}{% endfor %}"
                    )
                }
            },
            'template.contents["en"].text_body',
        ),
        (
            {"contents": {f"en-x{i}": pb.TemplateContent(text_body="x") for i in range(51)}},
            "template.contents",
        ),
        ({"display_name": "x" * 201}, "template.display_name"),
        (
            {
                "sample_data": struct_pb2.Struct(
                    fields={"x": struct_pb2.Value(number_value=float("inf"))}
                )
            },
            "template.sample_data.x",
        ),
    ],
)
async def test_bad_templates_are_refused_and_change_nothing(
    make_settings: Any, request_fields: dict[str, Any], field: str
) -> None:
    request = pb.CreateTemplateRequest(parent=PARENT, template_id="t", template=welcome())
    template_fields = {
        k: v for k, v in request_fields.items() if k not in ("parent", "template_id")
    }
    request.template.CopyFrom(welcome(**template_fields))
    for name in ("parent", "template_id"):
        if name in request_fields:
            setattr(request, name, request_fields[name])
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateTemplate(request)
        listed = await stub.ListTemplates(pb.ListTemplatesRequest(parent=PARENT))
    assert_refused(caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", field)
    assert list(listed.templates) == []


async def test_update_mask_paths_are_checked(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        saved = await create(stub)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTemplate(
                pb.UpdateTemplateRequest(
                    template=pb.Template(name=saved.name),
                    update_mask=field_mask_pb2.FieldMask(paths=["create_time"]),
                )
            )
        assert_refused(caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "update_mask")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateTemplate(
                pb.UpdateTemplateRequest(template=welcome(name=f"{PARENT}/templates/none"))
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# --- previews ---------------------------------------------------------------------------


async def test_render_template_previews_for_a_sample_a_customer_and_inline(
    make_settings: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"first_name": "Zoé", "locale": "fr_CA"}
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        saved = await create(stub)
        sample = await stub.RenderTemplate(
            pb.RenderTemplateRequest(parent=PARENT, template=saved.name)
        )
        assert sample.locale == "en" and sample.channel == channel_pb2.CHANNEL_EMAIL
        assert sample.content == message_content_pb2.MessageContent(
            subject="Welcome Ada",
            text_body="Your code: ABC",
            html_body="<p>Your code: <b>ABC</b></p>",
        )
        # The customer's locale (fr_CA -> fr-CA -> fr) and profile, data given here.
        theirs = await stub.RenderTemplate(
            pb.RenderTemplateRequest(
                parent=PARENT, template=saved.name, customer=CUSTOMER, data=struct({"code": "Z9"})
            )
        )
        assert (theirs.locale, theirs.content.subject, theirs.content.text_body) == (
            "fr",
            "Bienvenue Zoé",
            "Votre code : Z9",
        )
        # What an SMS would say, in a locale asked for.
        text = await stub.RenderTemplate(
            pb.RenderTemplateRequest(
                parent=PARENT, template=saved.name, locale="en-US", channel=channel_pb2.CHANNEL_SMS
            )
        )
        assert (text.locale, text.content.text_body, text.content.subject) == ("en", "Code ABC", "")
        inline = await stub.RenderTemplate(
            pb.RenderTemplateRequest(
                parent=PARENT,
                inline_template=pb.Template(
                    default_locale="en",
                    contents={"en": pb.TemplateContent(subject="Hi {{ traits.x }}", text_body="b")},
                ),
                traits=struct({"x": "there"}),
            )
        )
        assert inline.content.subject == "Hi there"
        # What would fail a send fails the preview, naming the variable.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RenderTemplate(
                pb.RenderTemplateRequest(
                    parent=PARENT, template=saved.name, customer=CUSTOMER, data=struct({})
                )
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        info, _ = status_details(caught.value)
        assert info is not None and info.reason == "TEMPLATE_ERROR"
        assert dict(info.metadata) == {"part": "text_body", "locale": "fr", "variable": "data.code"}


@pytest.mark.parametrize(
    ("request_fields", "code", "field"),
    [
        ({}, "INVALID_ARGUMENT", "template"),
        (
            {
                "template": "workspaces/default/templates/welcome",
                "inline_template": pb.Template(default_locale="en"),
            },
            "INVALID_ARGUMENT",
            "template",
        ),
        ({"template": "workspaces/default/templates/nope"}, "NOT_FOUND", None),
        (
            {
                "template": "workspaces/default/templates/welcome",
                "customer": "workspaces/default/customers/nobody",
            },
            "NOT_FOUND",
            None,
        ),
        (
            {"template": "workspaces/default/templates/welcome", "locale": "??"},
            "INVALID_ARGUMENT",
            "locale",
        ),
        (
            {
                "template": "workspaces/default/templates/welcome",
                "channel": channel_pb2.CHANNEL_INBOUND,
            },
            "INVALID_ARGUMENT",
            "channel",
        ),
        (
            {"template": "workspaces/default/templates/welcome", "channel": 99},
            "INVALID_ARGUMENT",
            "channel",
        ),
        (
            {
                "inline_template": pb.Template(
                    default_locale="en", contents={"en": pb.TemplateContent(subject="{{ x")}
                )
            },
            "INVALID_ARGUMENT",
            'inline_template.contents["en"].subject',
        ),
    ],
)
async def test_bad_previews(
    make_settings: Any, request_fields: dict[str, Any], code: str, field: str | None
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await create(stub)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RenderTemplate(pb.RenderTemplateRequest(parent=PARENT, **request_fields))
    assert caught.value.code() == grpc.StatusCode[code]
    if field is not None:
        assert_refused(caught.value, code, "INVALID_ARGUMENT", field)


# --- sending with a template ---------------------------------------------------------------------


async def test_a_message_names_a_template_and_goes_out_in_the_customers_locale(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {
        "email": "zoe@example.com",
        "first_name": "Zoé",
        "locale": "fr-CA",
    }
    upstreams.consent.grant(CUSTOMER)
    async with delivery(make_settings()) as stub:
        saved = await create(stub)
        accepted = await stub.SendMessage(
            send_request(
                template=saved.name,
                content=message_content_pb2.MessageContent(),
                data=struct({"code": "Q1"}),
            )
        )
        assert accepted.template == saved.name
        message = await final(stub, accepted.name)
    assert (message.state, message.locale) == (pb.MESSAGE_STATE_SENT, "fr")
    [(_, mail)] = smtp.received
    assert mail["Subject"] == "Bienvenue Zoé"
    text = mail.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n").split("\n\n--\nUnsubscribe: ")[0] == "Votre code : Q1"


async def test_an_undefined_variable_at_send_fails_the_message_naming_it(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    # Deliberately changed behaviour: this mail used to go out with the subject "Hi".
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com"}
    upstreams.consent.grant(CUSTOMER)
    content = message_content_pb2.MessageContent(
        subject="Hi {{ traits.first_name }}", text_body="b"
    )
    async with delivery(make_settings()) as stub:
        inline = await stub.SendMessage(send_request("inline", content=content))
        saved = await create(stub)  # checked against the built-in sample, which has a first_name
        templated = await stub.SendMessage(
            send_request(
                "templated",
                template=saved.name,
                content=message_content_pb2.MessageContent(),
                data=struct({"code": "1"}),
            )
        )
        failed = [await final(stub, m.name) for m in (inline, templated)]
    for message in failed:
        assert (message.state, message.failure_reason) == (
            pb.MESSAGE_STATE_FAILED,
            "TEMPLATE_ERROR",
        )
        assert message.failure_detail == "subject: undefined variable traits.first_name"
        assert "ada@example.com" not in message.failure_detail
    assert smtp.received == []


async def test_a_template_deleted_before_sending_fails_the_message(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        saved = await create(stub)
        accepted = await stub.SendMessage(
            send_request(
                template=saved.name,
                content=message_content_pb2.MessageContent(),
                data=struct({"code": "1"}),
            )
        )
        await stub.DeleteTemplate(pb.DeleteTemplateRequest(name=saved.name))
    async with delivery(make_settings()) as stub:
        message = await final(stub, accepted.name)
    assert (message.state, message.failure_reason) == (
        pb.MESSAGE_STATE_FAILED,
        "TEMPLATE_NOT_FOUND",
    )
    assert smtp.received == []


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        (
            {
                "template": "workspaces/default/templates/nope",
                "content": message_content_pb2.MessageContent(),
            },
            "NOT_FOUND",
            None,
        ),
        ({"template": "workspaces/default/templates/welcome"}, "INVALID_ARGUMENT", "content"),
        (
            {
                "template": "workspaces/brand-b/templates/welcome",
                "content": message_content_pb2.MessageContent(),
            },
            "INVALID_ARGUMENT",
            "template",
        ),
        (
            {"template": "templates/welcome", "content": message_content_pb2.MessageContent()},
            "INVALID_ARGUMENT",
            "template",
        ),
    ],
)
async def test_bad_template_references_are_refused(
    make_settings: Any, overrides: dict[str, Any], code: str, field: str | None
) -> None:
    async with delivery(
        make_settings(dispatcher_enabled=False, workspaces=["default", "brand-b"])
    ) as stub:
        await create(stub)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(**overrides))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent=PARENT))
    assert caught.value.code() == grpc.StatusCode[code]
    if field is not None:
        assert_refused(caught.value, code, "INVALID_ARGUMENT", field)
    assert list(listed.messages) == []


async def test_template_scopes(make_settings: Any) -> None:
    settings = make_settings(
        dispatcher_enabled=False,
        auth_tokens={"reader": ["delivery.read"], "author": ["delivery.templates"]},
    )

    def auth(token: str) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {token}"),)

    request = pb.CreateTemplateRequest(parent=PARENT, template_id="t", template=welcome())
    async with delivery(settings) as stub:
        for forbidden in (
            stub.CreateTemplate(request, metadata=auth("reader")),
            stub.RenderTemplate(
                pb.RenderTemplateRequest(parent=PARENT, template=f"{PARENT}/templates/t"),
                metadata=auth("reader"),
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await forbidden
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        created = await stub.CreateTemplate(request, metadata=auth("author"))
        got = await stub.GetTemplate(
            pb.GetTemplateRequest(name=created.name), metadata=auth("reader")
        )
        assert got == created
