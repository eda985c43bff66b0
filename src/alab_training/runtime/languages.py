"""How texts are split into sentences and tokens, per language: the Spark NLP stages every trainer builds on.

English keeps Spark NLP's own ``SentenceDetector`` and ``Tokenizer`` exactly as they are. Their rules are
English ones, and on German and Spanish they break entity spans (measured on GermEval 2014 and CoNLL-2002, see
``docs/languages.md``): the detector splits at every period not in its English abbreviation list, so German
ordinals (``am 3. Oktober``, ``im 16. Jahrhundert``), ``bzw.``, ``Sr.`` or ``St. Gallen`` end a sentence, and it
starts a "list item" before any ``3.``; the tokenizer keeps ``¿Qué``, ``¡Nada``, ``«Juan»``, ``„Das`` and
``gut“`` as single tokens, so an entity inside quotes gets the quote in its span.

Every other language gets:

- **sentences** from the same ``SentenceDetector`` with only our boundaries (``useCustomBoundsOnly``), written
  to split where a sentence surely ends and an entity can hardly go on: a line break; a lower-case word ending in
  ``.``, ``?``, ``!`` or ``…``; or one of those marks next to a closing quote or bracket — each followed by white
  space and an upper-case letter or an opening mark (``¿ ¡ « » „ " (`` …). Not after a capitalised word (a name,
  a German noun, ``Trabajo.`` inside a CoNLL-2002 organisation), an abbreviation of the language's list, a
  single letter (``z. B.``, ``u. a.``) or a digit (German ordinals: ``am 3. Oktober``). A boundary missed only
  makes a longer sentence, which NerDL handles; a wrong one cuts an entity in two.
- **tokens** from the same ``Tokenizer`` with the typographic marks of those languages added to the characters it
  splits off a token's edges: ``¿ ¡ « » „ “ ” ‚ ‘ ’ ‹ › … – —``.

Spanish clitics (``dámelo``, ``del``, ``al``) and German compounds (``EU-Kommission``, ``Baden-Württemberg``)
stay one token, as the corpora annotate them; a span ending at a hyphen (``Stadt-`` of ``Stadt- und Landkreis``)
covers the hyphen's own token, so its offsets come out whole.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["ABBREVIATIONS", "TextProfile", "base_language", "sentence_detector", "text_profile", "tokenizer"]

#: What Spark NLP's ``Tokenizer`` splits off token edges by default (its ``contextChars``).
_ENGINE_CONTEXT_CHARS = (".", ",", ";", ":", "!", "?", "*", "-", "(", ")", '"', "'")
#: Added for every language but English: inverted marks, guillemets, low and curly quotes, ellipsis, dashes.
_TYPOGRAPHIC = ("¿", "¡", "«", "»", "„", "“", "”", "‚", "‘", "’", "‹", "›", "…", "–", "—")

#: Abbreviations that end in a lower-case letter and precede a capital often (a period after a capital never
#: splits), lower-cased; matched case-insensitively.
ABBREVIATIONS = {
    "de": (
        "abs", "allg", "art", "aufl", "ausg", "bd", "bde", "bspw", "bsp", "bzgl", "bzw", "ca", "chr", "dr", "dt",
        "ebd", "ehem", "eigtl", "einschl", "engl", "erg", "etc", "ev", "evang", "evtl", "fa", "fam", "ff", "frz",
        "geb", "gebr", "gegr", "gem", "ges", "gest", "ggf", "griech", "hl", "hpts", "hrsg", "inkl", "insb", "ital",
        "jh", "jhd", "jr", "jun", "kap", "kath", "kfm", "lat", "lt", "max", "min", "mind", "mio", "mr", "mrd",
        "mrs", "nachf", "nr", "nördl", "od", "östl", "pfd", "prof", "rd", "russ", "sen", "sog", "span", "spr",
        "st", "std", "str", "südl", "tel", "tsd", "urspr", "usf", "usw", "verh", "verw", "vgl", "vorm", "vs",
        "westl", "zit", "zt", "zzgl",
    ),
    "es": (
        "admón", "apdo", "aprox", "aptdo", "arq", "art", "arts", "atte", "av", "avda", "cap", "caps", "cf", "cfr",
        "cia", "cit", "col", "coord", "ctra", "cía", "dcha", "depto", "dir", "dpto", "dr", "dra", "dres", "dña",
        "ed", "eds", "ej", "esq", "etc", "excma", "excmo", "fig", "fr", "gral", "hnos", "ilma", "ilmo", "ing",
        "izq", "izqda", "jr", "lic", "mons", "mr", "mrs", "máx", "mín", "min", "núm", "op", "pbro", "pl", "pp",
        "ppal", "pral", "prof", "prov", "pza", "pág", "págs", "sdad", "sig", "sigs", "sr", "sra", "sras", "sres",
        "srta", "ss", "sta", "stma", "sto", "tel", "telf", "trad", "ud", "uds", "vd", "vds", "vol", "vols", "vs",
    ),
}

_OPENERS = r"[\p{Lu}¿¡\"'«»„“‚‘‹›(\[]"
_CLOSERS = r"[\"'»«”“’‘›‹)\]]"


def _bounds(abbreviations: tuple[str, ...]) -> tuple[str, ...]:
    """The ``customBounds`` regular expressions (Java syntax) of a language with these abbreviations."""
    not_abbreviation = ""
    if abbreviations:
        listed = "|".join(re.escape(word) for word in sorted(abbreviations, key=lambda w: (-len(w), w)))
        not_abbreviation = rf"(?<!\b(?iu:{listed})\.)"
    # A lone letter before the period ("z. B.", "u. a.", an initial): not a sentence end.
    not_letter = r"(?<![\s.(\[]\p{Ll}\.)(?<!^\p{Ll}\.)"
    # A capitalised word before the mark (a name, a German noun, "Trabajo." inside a CoNLL-2002 organisation,
    # "Yahoo!"): maybe a sentence end, maybe inside an entity; left whole.
    not_capitalised = r"(?<!\p{Lu}\p{L}{0,40}[.?!…])"
    after_word = rf"(?<=\p{{Ll}}[.?!…]){not_capitalised}{not_abbreviation}{not_letter}\s+(?={_OPENERS})"
    after_closer = rf"(?<=[.?!…]{_CLOSERS}|{_CLOSERS}[.?!…])\s+(?={_OPENERS})"
    return (r"\s*\n\s*", after_word, after_closer)


@attrs.frozen
class TextProfile:
    """How one language's texts become sentences and tokens.

    Attributes:
        language: the language code it serves (``en``, ``de``, ``es`` …; the part before ``-``/``_``).
        sentence_bounds: ``None`` keeps Spark NLP's own (English) sentence rules; otherwise the regular
            expressions the ``SentenceDetector`` splits at, and only there.
        context_chars: the characters the ``Tokenizer`` splits off token edges (``None``: the engine's own).
    """

    language: str
    sentence_bounds: tuple[str, ...] | None = None
    context_chars: tuple[str, ...] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What tokens depend on, for cache keys (learned vectors are trained on these tokens)."""
        return {"language": self.language, "sentence_bounds": list(self.sentence_bounds or ()) or None,
                "context_chars": list(self.context_chars or ()) or None}


def base_language(language: str) -> str:
    """``language`` without a region or script suffix, lower-cased: ``de-AT`` → ``de``, ``pt_BR`` → ``pt``."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower() or "en"


def text_profile(language: str) -> TextProfile:
    """The profile of ``language`` (an ISO 639 code, a region suffix ignored): English keeps the engine's rules."""
    base = base_language(language)
    if base == "en":
        return TextProfile("en")
    return TextProfile(base, sentence_bounds=_bounds(ABBREVIATIONS.get(base, ())),
                       context_chars=(*_ENGINE_CONTEXT_CHARS, *_TYPOGRAPHIC))


def sentence_detector(language: str, input_col: str = "document", output_col: str = "sentence") -> Any:
    """The Spark NLP ``SentenceDetector`` of ``language``'s profile."""
    from sparknlp.annotator import SentenceDetector

    detector = SentenceDetector().setInputCols([input_col]).setOutputCol(output_col)
    profile = text_profile(language)
    if profile.sentence_bounds is not None:
        detector.setCustomBounds(list(profile.sentence_bounds)).setUseCustomBoundsOnly(True)
    return detector


def tokenizer(language: str, input_col: str = "sentence", output_col: str = "token") -> Any:
    """The Spark NLP ``Tokenizer`` of ``language``'s profile."""
    from sparknlp.annotator import Tokenizer

    stage = Tokenizer().setInputCols([input_col]).setOutputCol(output_col)
    profile = text_profile(language)
    if profile.context_chars is not None:
        stage.setContextChars(list(profile.context_chars))
    return stage
