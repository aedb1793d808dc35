"""The template sandbox: strict about undefined variables, bounded in cost, and still
everything a message template needs."""

from __future__ import annotations

import time

import pytest
from rapport.delivery.domain import rendering
from rapport.delivery.domain.model import Channel, MessageContent
from rapport.delivery.domain.templates import (
    Template,
    TemplateContent,
    as_sent_on,
    check_against_sample,
    locale_chain,
    normalise_locale,
)
from rapport.errors import InvalidArgument

VARIABLES = {
    "traits": {"first_name": "Ada", "plan": None, "tags": ["a", "b"]},
    "data": {"order": {"total": 12.5, "lines": [{"sku": "x1"}]}},
    "customer": "workspaces/default/customers/c1",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hi {{ traits.first_name }}", "Hi Ada"),
        ("{{ traits.nickname | default('friend') }}", "friend"),
        ("{% if traits.vip is defined %}VIP{% else %}-{% endif %}", "-"),
        ("{{ traits.plan }}|", "|"),  # None renders empty
        ("{{ '%.2f' % data.order.total }}", "12.50"),
        ("{{ '{:>4}'.format('a') }}", "   a"),
        ("{{ traits.tags | join(', ') }}", "a, b"),
        ("{{ data.order.lines | map(attribute='sku') | list }}", "['x1']"),
        ("{% for t in traits.tags %}{{ loop.index }}{{ t }}{% endfor %}", "1a2b"),
        ("{{ traits.first_name ~ '!' }}", "Ada!"),
        ("{{ traits.first_name | upper | center(7) }}", "  ADA  "),
        ("{% macro hi(n) %}hi {{ n }}{% endmacro %}{{ hi(traits.first_name) }}", "hi Ada"),
        ("{{ 'a\nb' | indent(2, first=True) }}", "  a\n  b"),
        ("{{ traits.get('nickname', 'none') }}", "none"),
    ],
)
def test_what_templates_need_still_renders(source: str, expected: str) -> None:
    assert rendering.render(source, VARIABLES) == expected


@pytest.mark.parametrize(
    "source",
    [
        # Loops that would run for hours.
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) if false %}{% endfor %}{% endfor %}",
        # Recursion, plain and exponential.
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% macro f() %}{% for i in range(10) %}{{ f() }}{% endfor %}{% endmacro %}{{ f() }}",
        # Values that would fill the memory, one operation at a time...
        "{{ 'x' | center(9999999999) }}",
        "{{ ('x' * 100000) | replace('x', 'x' * 100000) }}",
        "{{ '%99999999999s' % 'x' }}",
        "{{ '{:>9999999999}'.format('x') }}",
        "{{ 'x'.ljust(10 ** 9) }}",
        "{{ (['x' * 100000] * 50) | join }}",
        # ...or by doubling.
        "{% set a = 'x' * 100000 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}"
        "{% set e = d ~ d %}{% set f = e ~ e %}{{ f | length }}",
        # Literal text written many times over, inside a macro.
        "{% macro m() %}" + "y" * 10_000 + "{% endmacro %}"
        "{% for i in range(100000) %}{{ m() }}{% endfor %}",
    ],
)
def test_costly_templates_are_stopped_quickly(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(rendering.TemplateRenderError) as caught:
        rendering.render(source, VARIABLES)
    assert caught.value.kind == "TOO_COSTLY", caught.value.detail
    assert time.monotonic() - started < 5 * rendering.MAX_SECONDS


def test_recursive_loops_are_refused_when_parsed() -> None:
    problem = rendering.template_syntax_error(
        "{% for x in traits.tags recursive %}{{ loop(x) }}{% endfor %}"
    )
    assert problem is not None and "recursive loops are not allowed" in problem


def test_deeply_nested_expressions_are_a_syntax_error_not_a_crash() -> None:
    problem = rendering.template_syntax_error("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert problem is not None and problem.startswith("is not a valid template")


def test_lipsum_is_gone() -> None:
    with pytest.raises(rendering.TemplateRenderError) as caught:
        rendering.render("{{ lipsum(1000000) }}", VARIABLES)
    assert caught.value.variable == "lipsum"


# --- locales ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "normalised"),
    [
        ("fr_ca", "fr-CA"),
        ("FR-ca", "fr-CA"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("en", "en"),
        ("", None),
        ("english!", None),
        ("x", None),
        ("a" * 40, None),
    ],
)
def test_locale_tags_are_normalised(tag: str, normalised: str | None) -> None:
    assert normalise_locale(tag) == normalised


def test_locales_fall_back_to_shorter_tags_then_the_default() -> None:
    assert locale_chain("fr-CA") == ["fr-CA", "fr"]
    template = Template(
        id="t",
        workspace="default",
        default_locale="en",
        contents={"en": TemplateContent(text_body="Hi"), "fr": TemplateContent(text_body="Salut")},
    )
    assert template.pick_locale("fr_CA") == "fr"
    assert template.pick_locale("fr") == "fr"
    assert template.pick_locale("de-DE") == "en"
    assert template.pick_locale(None) == "en"
    assert template.pick_locale("not a tag") == "en"


def test_each_channel_gets_its_parts() -> None:
    content = TemplateContent(
        subject="S", text_body="T", html_body="H", sms_body="short", push_body="P"
    )
    assert content.for_channel(Channel.SMS) == MessageContent("", "short", "")
    assert content.for_channel(Channel.PUSH) == MessageContent("S", "P", "")
    assert content.for_channel(Channel.EMAIL) == MessageContent("S", "T", "H")
    # Without a channel body, SMS falls back to the text body; parts SMS does not send
    # are never rendered, so they cannot fail it.
    assert TemplateContent(subject="{{ x }}", text_body="T").for_channel(Channel.SMS) == (
        MessageContent("", "T", "")
    )
    assert as_sent_on(MessageContent("{{ x }}", "T", "{{ y }}"), Channel.SMS).subject == ""


def test_the_sample_check_names_the_part_and_the_variable() -> None:
    template = Template(
        id="t",
        workspace="default",
        default_locale="en",
        contents={
            "en": TemplateContent(subject="Hi {{ traits.first_name }}", text_body="ok"),
            "fr": TemplateContent(subject="Salut", text_body="{{ data.offer.code }}"),
        },
    )
    with pytest.raises(InvalidArgument) as caught:
        check_against_sample(template, field="template")
    assert caught.value.field == 'template.contents["fr"].text_body'
    assert "data.offer" in caught.value.description
    template.sample_data = {"offer": {"code": "X"}}
    check_against_sample(template, field="template")  # the built-in sample has first_name
