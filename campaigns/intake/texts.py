"""The bot's own words, in English and Spanish. A clinic's own texts (intro, completion,
reminder, expiry, re-ask messages) always win; these fill what the clinic left blank."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "Hello! {org} would like a few details before your visit.",
        "completion": "Thank you, we have your answers. See you soon!",
        "reminder": "Just a reminder: we still need a few answers. Reply to continue.",
        "expired": "This questionnaire has expired. Reply {keyword} to start again.",
        "expired_no_keyword": "This questionnaire has expired. The clinic will contact you if needed.",
        "cancelled": (
            "This questionnaire is no longer available. Thank you; the clinic will contact you if needed."
        ),
        "skip_hint": "(Reply SKIP to skip.)",
        "numbers_hint": "Reply with the number of your answer.",
        "multi_hint": "Reply with the numbers of all that apply, separated by commas (e.g. 1,3).",
        "yes_no_hint": "Reply YES or NO.",
        "choose": "Choose",
        "invalid": "Sorry, I could not use that answer: {reason}.",
        "required": "this question needs an answer",
        "too_long": "the answer is {length} characters long; the limit is {limit}",
        "not_a_number": "that is not a number",
        "below_min": "the number must be at least {min}",
        "above_max": "the number must be at most {max}",
        "not_a_date": "that is not a date I understand (try {example})",
        "impossible_date": "that date does not exist",
        "future_date": "that date is in the future",
        "not_yes_no": "please answer yes or no",
        "not_an_option": "please answer with one of the numbers shown",
        "not_a_phone": "that is not a valid phone number (include the area code)",
        "not_an_email": "that is not a valid e-mail address",
        "photo_needed": "please send a photo",
        "not_an_image": "that file is not a photo (send a JPEG or PNG picture)",
        "image_too_big": "that photo is larger than 10 MB; send a smaller one",
        "photo_unavailable": "the photo could not be downloaded; please send it again",
        "nothing_to_go_back": "this is the first question",
        "yes": "Yes",
        "no": "No",
        "poster_invitation": "Text {keyword} to {number}",
        "poster_scan": "Scan with your phone's camera",
    },
    "es": {
        "intro": "¡Hola! {org} necesita algunos datos antes de su visita.",
        "completion": "Gracias, hemos recibido sus respuestas. ¡Hasta pronto!",
        "reminder": "Un recordatorio: todavía necesitamos algunas respuestas. Responda para continuar.",
        "expired": "Este cuestionario ha caducado. Responda {keyword} para empezar de nuevo.",
        "expired_no_keyword": "Este cuestionario ha caducado. La clínica le contactará si es necesario.",
        "cancelled": (
            "Este cuestionario ya no está disponible. Gracias; la clínica le contactará si es necesario."
        ),
        "skip_hint": "(Responda OMITIR para saltar esta pregunta.)",
        "numbers_hint": "Responda con el número de su respuesta.",
        "multi_hint": (
            "Responda con los números de todas las que correspondan, separados por comas (p. ej. 1,3)."
        ),
        "yes_no_hint": "Responda SÍ o NO.",
        "choose": "Elegir",
        "invalid": "Lo siento, no pude usar esa respuesta: {reason}.",
        "required": "esta pregunta necesita una respuesta",
        "too_long": "la respuesta tiene {length} caracteres; el límite es {limit}",
        "not_a_number": "eso no es un número",
        "below_min": "el número debe ser al menos {min}",
        "above_max": "el número debe ser como máximo {max}",
        "not_a_date": "no entiendo esa fecha (pruebe {example})",
        "impossible_date": "esa fecha no existe",
        "future_date": "esa fecha está en el futuro",
        "not_yes_no": "responda sí o no",
        "not_an_option": "responda con uno de los números indicados",
        "not_a_phone": "ese número de teléfono no es válido (incluya el código de área)",
        "not_an_email": "esa dirección de correo no es válida",
        "photo_needed": "envíe una foto",
        "not_an_image": "ese archivo no es una foto (envíe una imagen JPEG o PNG)",
        "image_too_big": "esa foto pesa más de 10 MB; envíe una más pequeña",
        "photo_unavailable": "no se pudo descargar la foto; envíela de nuevo",
        "nothing_to_go_back": "esta es la primera pregunta",
        "yes": "Sí",
        "no": "No",
        "poster_invitation": "Envíe {keyword} al {number}",
        "poster_scan": "Escanee el código con la cámara de su teléfono",
    },
}

LANGUAGES = (("en", "English"), ("es", "Español"))


def text(language: str, key: str, **values: object) -> str:
    """The default text ``key`` in ``language`` (English when the language is unknown)."""
    table = _TEXTS.get((language or "en")[:2].lower(), _TEXTS["en"])
    return table.get(key, _TEXTS["en"][key]).format(**values)
