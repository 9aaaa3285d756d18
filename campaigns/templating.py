"""A message template ready to render: its variants compiled, one picked per patient language.

Language fallback: the patient's language exactly (``fr-CA``), then its base language
(``fr``), then the organisation's default language, then the template's first variant.
SMS variants render their body; WhatsApp variants render the parameters of an approved
WhatsApp template (and a preview text made from it, as messaging's ``send_template`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.models import MessageTemplate, TemplateVariant
from campaigns.rendering import (
    CompiledTemplate,
    Placeholder,
    RenderContext,
    compile_expression,
    compile_template,
    render,
    resolve,
)
from messaging.segments import count_segments


def normalize_language(code: str | None) -> str:
    """``fr_CA`` / ``FR-ca`` → ``fr-ca``; blank → ``""``."""
    return (code or "").strip().replace("_", "-").lower()


@dataclass(frozen=True)
class RenderedMessage:
    """One patient's message: the text (SMS body or WhatsApp preview), WhatsApp parameters,
    segments it costs and the variables that had no value and no fallback."""

    text: str
    parameters: tuple[str, ...]
    missing: frozenset[str]
    segments: int
    encoding: str
    language: str


@dataclass(frozen=True)
class CompiledVariant:
    language: str
    body: CompiledTemplate | None
    whatsapp_template_id: int | None
    whatsapp_preview: str
    parameters: tuple[Placeholder, ...]

    @property
    def variables(self) -> frozenset[str]:
        names = set(self.body.variables) if self.body else set()
        names.update(p.variable for p in self.parameters)
        return frozenset(names)

    def render(self, context: RenderContext) -> RenderedMessage:
        if self.whatsapp_template_id is None:
            rendered = render(self.body or CompiledTemplate(()), context)
            info = count_segments(rendered.text)
            return RenderedMessage(rendered.text, (), rendered.missing, info.segments, info.encoding,
                                   self.language)
        missing: set[str] = set()
        values = tuple(resolve(p, context, missing) for p in self.parameters)
        text = self.whatsapp_preview
        for number, value in enumerate(values, start=1):
            text = text.replace(f"{{{{{number}}}}}", value)
        # WhatsApp is priced per message, not per segment: one unit each.
        return RenderedMessage(text, values, frozenset(missing), 1, "whatsapp", self.language)


@dataclass(frozen=True)
class CompiledMessageTemplate:
    template_id: int
    skip_on_missing: bool
    variants: dict[str, CompiledVariant]
    default_language: str
    first_language: str

    @property
    def variables(self) -> frozenset[str]:
        names: set[str] = set()
        for variant in self.variants.values():
            names |= variant.variables
        return frozenset(names)

    @property
    def uses_names(self) -> bool:
        return bool({"first_name", "last_name"} & self.variables)

    @property
    def uses_custom(self) -> bool:
        return any(v.startswith("custom.") for v in self.variables)

    def variant_for(self, language: str | None) -> CompiledVariant:
        wanted = normalize_language(language)
        for candidate in (wanted, wanted.split("-", 1)[0], self.default_language, self.first_language):
            if candidate and candidate in self.variants:
                return self.variants[candidate]
        raise LookupError("The template has no variants.")


def compile_variant(variant: TemplateVariant, *, custom_keys) -> CompiledVariant:
    """Compile one stored variant (raises TemplateSyntaxError if it no longer parses, e.g. a
    custom field it used was deleted)."""
    language = normalize_language(variant.language)
    if variant.whatsapp_template_id:
        wa = variant.whatsapp_template
        params = tuple(compile_expression(expr, custom_keys=custom_keys)
                       for expr in variant.whatsapp_parameters)
        return CompiledVariant(language, None, wa.pk, wa.preview or wa.name, params)
    return CompiledVariant(language, compile_template(variant.body, custom_keys=custom_keys), None, "", ())


def compile_message_template(template: MessageTemplate, *, default_language: str,
                             custom_keys) -> CompiledMessageTemplate:
    """All variants of ``template`` compiled, for rendering many patients."""
    variants = list(template.variants.select_related("whatsapp_template").order_by("created_at", "pk"))
    if not variants:
        raise LookupError("The template has no variants.")
    compiled = {normalize_language(v.language): compile_variant(v, custom_keys=custom_keys) for v in variants}
    return CompiledMessageTemplate(
        template_id=template.pk,
        skip_on_missing=template.on_missing == MessageTemplate.OnMissing.SKIP,
        variants=compiled,
        default_language=normalize_language(default_language),
        first_language=normalize_language(variants[0].language),
    )
