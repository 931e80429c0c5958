"""Which writing system texts are in, counted per text; and, for Latin-script texts, which
language their commonest words say."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence


def share_mostly_in(texts: Sequence[str], in_script: Callable[[str], int]) -> float:
    """The share of the texts with letters whose `in_script` characters (a count per text)
    are over half of their letters; 0.0 when no text has letters. Counted per text, so that
    half-English, half-Chinese data reads as half Chinese (walk 10: 20% of its letters)."""
    shown = mostly = 0
    for t in texts:
        letters = sum(c.isalpha() for c in t)
        if letters:
            shown += 1
            mostly += in_script(t) > 0.5 * letters
    return mostly / shown if shown else 0.0


# the commonest function words of the Latin-script languages users bring most; words that
# are also common English words (a, in, no, die, is) are left out so that they cannot win
_FUNCTION_WORDS = {
    "en": "the and of to is that it for with you this are was be have not but what they "
    "we his her from at by or an will would there their been has can which",
    "es": "el la los las que y del un una por con para es se lo al como más pero sus le ya "
    "o este sí porque esta entre cuando muy sin sobre también",
    "fr": "le la les des et est un une du que qui dans pour pas sur au avec il elle ce sont "
    "mais ou nous vous ils être",
    "de": "der das und ist nicht ein eine zu den von mit sich des auf für dem ich sie es "
    "auch wie oder aber wir",
    "it": "il la che di è e per un una sono non del della con le gli lo si ma come più anche "
    "questo ho ti mi",
    "pt": "o os as que de do da em um uma para com não uma se na por mais dos como mas ao "
    "ele ela são você",
    "nl": "de het een van en dat niet op te zijn voor met als maar ook er aan om bij dit wat wordt",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _FUNCTION_WORDS.items()}
_WORD = re.compile(r"[^\W\d_]+")
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}


def _function_words(words: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(language, word) for each of `words` that is a function word of a language."""
    for w in words:
        for lang, function in _WORDS.items():
            if w in function:
                yield lang, w


def likely_language(texts: Sequence[str], min_words: int = 100) -> str | None:
    """The language whose function words the texts use most ('en', 'es', ...), or None when
    that is unclear: too few words (titles, product names, codes), or a winner that holds a
    small share of the words or few different ones (Yoruba's 'si', 'ti', 'mi' are Italian
    words too)."""
    hits = dict.fromkeys(_WORDS, 0)
    seen: dict[str, set[str]] = {lang: set() for lang in _WORDS}
    n = 0
    for t in texts:
        words = _WORD.findall(t.lower())
        n += len(words)
        for lang, w in _function_words(words):
            hits[lang] += 1
            seen[lang].add(w)
    best = max(hits, key=lambda k: hits[k])
    if n < min_words or hits[best] < 0.12 * n or len(seen[best]) < 8:
        return None
    # shared words (de, que, la) lift neighbours too: a winner must clearly lead English
    if best != "en" and hits["en"] * 2 > hits[best]:
        return None
    return best


def language_mix(texts: Sequence[str], min_hits: int = 3) -> dict[str, float]:
    """Per text, the language whose function words it uses most (where it uses `min_hits`
    or more of them); each language's share of those texts, largest first. Where
    `likely_language` names one language for the whole, this tells one from several (walk
    43: man pages in 10 languages read as 'Portuguese', 10 of 36 texts)."""
    from collections import Counter

    won: Counter[str] = Counter()
    for t in texts:
        hits = dict.fromkeys(_WORDS, 0)
        for lang, _ in _function_words(_WORD.findall(t.lower())):
            hits[lang] += 1
        best = max(hits, key=lambda k: hits[k])
        if hits[best] >= min_hits:
            won[best] += 1
    total = sum(won.values())
    return {lang: n / total for lang, n in won.most_common()} if total else {}


ACCENTED = 0.3  # a share of texts with such letters that English data does not reach
ACCENTED_TEXTS = 10  # ... counted from this many such texts
# Latin letters with accents, and the letters English lacks (ß, ø, ł, ...): Latin-1's and
# Extended-A's letters, less the multiplication and division signs
_ACCENT = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f]")


def accent_share(texts: Sequence[str]) -> tuple[float, list[str]]:
    """The share of the texts holding a Latin letter that English rarely uses (é, ü, ß,
    ñ, ...), and the commonest of those letters (up to 5); 0 below ACCENTED_TEXTS such
    texts. Where a text is too short for its words to tell the language (addresses,
    names), its letters may."""
    from collections import Counter

    seen: Counter[str] = Counter()
    hit = 0
    for t in texts:
        found = _ACCENT.findall(t.lower())
        hit += bool(found)
        seen.update(found)
    if hit < ACCENTED_TEXTS:  # a few names (café, Zoë) in a handful of texts tell nothing
        return 0.0, []
    return hit / len(texts), [c for c, _ in seen.most_common(5)]
