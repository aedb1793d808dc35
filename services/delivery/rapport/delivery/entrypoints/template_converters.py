"""Protobuf <-> commands and results for the Template RPCs (see converters.py for the
conventions: Structs through rapport.wellknowntypes, bad values refused naming their
field)."""

from __future__ import annotations

from rapport.delivery.domain.sms_length import SmsEncoding
from rapport.delivery.domain.templates import Template, TemplateContent
from rapport.delivery.service_layer import commands
from rapport.delivery.service_layer.templates import RenderedPreview, TemplatePage
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.type.v1 import message_content_pb2
from rapport.wellknowntypes import dict_to_struct

from .converters import channel_from_proto, channel_to_proto, data_from_proto, optional_timestamp


def draft_from_proto(template: pb.Template, *, field: str) -> commands.TemplateDraft:
    return commands.TemplateDraft(
        default_locale=template.default_locale,
        contents={
            locale: TemplateContent(
                subject=content.subject,
                text_body=content.text_body,
                html_body=content.html_body,
                sms_body=content.sms_body,
                push_body=content.push_body,
            )
            for locale, content in template.contents.items()
        },
        display_name=template.display_name,
        sample_traits=data_from_proto(template.sample_traits, field=f"{field}.sample_traits"),
        sample_data=data_from_proto(template.sample_data, field=f"{field}.sample_data"),
    )


def template_to_proto(template: Template) -> pb.Template:
    message = pb.Template(
        name=template.name,
        display_name=template.display_name,
        default_locale=template.default_locale,
        create_time=optional_timestamp(template.create_time),
        update_time=optional_timestamp(template.update_time),
    )
    for locale, content in template.contents.items():
        message.contents[locale].CopyFrom(pb.TemplateContent(**content.parts()))
    if template.sample_traits:
        message.sample_traits.CopyFrom(dict_to_struct(template.sample_traits))
    if template.sample_data:
        message.sample_data.CopyFrom(dict_to_struct(template.sample_data))
    return message


def create_template_command(request: pb.CreateTemplateRequest) -> commands.CreateTemplate:
    return commands.CreateTemplate(
        parent=request.parent,
        template_id=request.template_id,
        draft=draft_from_proto(request.template, field="template"),
    )


def get_template_command(request: pb.GetTemplateRequest) -> commands.GetTemplate:
    return commands.GetTemplate(name=request.name)


def list_templates_command(request: pb.ListTemplatesRequest) -> commands.ListTemplates:
    return commands.ListTemplates(
        parent=request.parent, page_size=request.page_size, page_token=request.page_token
    )


def template_page_to_proto(page: TemplatePage) -> pb.ListTemplatesResponse:
    return pb.ListTemplatesResponse(
        templates=[template_to_proto(t) for t in page.templates],
        next_page_token=page.next_page_token,
    )


def update_template_command(request: pb.UpdateTemplateRequest) -> commands.UpdateTemplate:
    return commands.UpdateTemplate(
        name=request.template.name,
        draft=draft_from_proto(request.template, field="template"),
        update_mask=tuple(request.update_mask.paths),
    )


def delete_template_command(request: pb.DeleteTemplateRequest) -> commands.DeleteTemplate:
    return commands.DeleteTemplate(name=request.name)


def render_template_command(request: pb.RenderTemplateRequest) -> commands.RenderTemplate:
    return commands.RenderTemplate(
        parent=request.parent,
        template=request.template,
        inline=(
            draft_from_proto(request.inline_template, field="inline_template")
            if request.HasField("inline_template")
            else None
        ),
        customer=request.customer,
        traits=(
            data_from_proto(request.traits, field="traits") if request.HasField("traits") else None
        ),
        data=data_from_proto(request.data, field="data") if request.HasField("data") else None,
        locale=request.locale,
        channel=channel_from_proto(request.channel, field="channel"),
        purpose=request.purpose,
    )


def rendered_to_proto(preview: RenderedPreview) -> pb.RenderTemplateResponse:
    rendered = preview.content
    response = pb.RenderTemplateResponse(
        locale=preview.locale,
        channel=channel_to_proto(preview.channel),
        content=message_content_pb2.MessageContent(
            subject=rendered.subject,
            text_body=rendered.text_body,
            html_body=rendered.html_body or "",
        ),
    )
    if preview.sms is not None:
        response.sms.CopyFrom(
            pb.SmsLength(
                encoding=_SMS_ENCODINGS[preview.sms.encoding],
                unit_count=preview.sms.units,
                segment_count=preview.sms.segments,
                max_segment_count=preview.max_sms_segments,
            )
        )
    return response


_SMS_ENCODINGS = {
    SmsEncoding.GSM_7: pb.SMS_ENCODING_GSM_7,
    SmsEncoding.UCS_2: pb.SMS_ENCODING_UCS_2,
}
