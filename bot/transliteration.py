"""Ukrainian place names in Latin letters (and their common words in English), for English readers.

The table is Ukraine's official romanization (Cabinet of Ministers resolution No. 55 of
27 January 2010), the one on road signs, maps and passports: "Київ" → "Kyiv", "Львів" →
"Lviv", "вул. Хрещатик" → "vul. Khreshchatyk". Letters only Russian has (GdePosylka's texts)
follow the same spirit. Carriers' names of cities, branches and streets are shown this way to
English readers, so they can match them with the Latin names on maps.
"""

from __future__ import annotations

import re

# Letter → (at the start of a word, elsewhere). Most letters read the same in both places.
_LETTERS: dict[str, tuple[str, str]] = {
    "а": ("a", "a"),
    "б": ("b", "b"),
    "в": ("v", "v"),
    "г": ("h", "h"),
    "ґ": ("g", "g"),
    "д": ("d", "d"),
    "е": ("e", "e"),
    "є": ("ye", "ie"),
    "ж": ("zh", "zh"),
    "з": ("z", "z"),
    "и": ("y", "y"),
    "і": ("i", "i"),
    "ї": ("yi", "i"),
    "й": ("y", "i"),
    "к": ("k", "k"),
    "л": ("l", "l"),
    "м": ("m", "m"),
    "н": ("n", "n"),
    "о": ("o", "o"),
    "п": ("p", "p"),
    "р": ("r", "r"),
    "с": ("s", "s"),
    "т": ("t", "t"),
    "у": ("u", "u"),
    "ф": ("f", "f"),
    "х": ("kh", "kh"),
    "ц": ("ts", "ts"),
    "ч": ("ch", "ch"),
    "ш": ("sh", "sh"),
    "щ": ("shch", "shch"),
    "ь": ("", ""),
    "ю": ("yu", "iu"),
    "я": ("ya", "ia"),
    # Russian letters, not in the resolution's table.
    "ы": ("y", "y"),
    "э": ("e", "e"),
    "ё": ("yo", "io"),
    "ъ": ("", ""),
}
_APOSTROPHES = "'’ʼ`"  # dropped: "Znamianka"
# [?] The common words of carriers' branch and route names, said in English before the rest is
# romanized ("Відділення №5 (до 30 кг)" → "Branch No. 5 (up to 30 kg)"): names of places stay
# names, words that describe them are translated. Lower-case Ukrainian (and Russian) forms.
_ENGLISH_WORDS = {
    "відділення": "Branch",
    "отделение": "Branch",
    "поштомат": "Parcel locker",
    "почтомат": "Parcel locker",
    "пункт": "Point",
    "вантажне": "Cargo",
    "під'їзд": "entrance",
    "під’їзд": "entrance",
    "поверх": "floor",
    "україна": "Ukraine",
    "украина": "Ukraine",
    "кг": "kg",
}
_NUMBER_SIGN = re.compile(r"№\s*")
_UP_TO = re.compile(r"\(до\s+(\d)", re.IGNORECASE)  # "(до 30 кг)"
_CITY = re.compile(r"(?<![^\W\d_])[мМ]\.\s*(?=[^\W\d_])")  # "м.Київ", "м. Київ": the city
_WORD = re.compile(r"[^\W\d_]+(?:[" + _APOSTROPHES + r"][^\W\d_]+)*")
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def to_latin(text: str) -> str:
    """Return the text with its Cyrillic words in Latin letters; anything else is kept."""
    if not _CYRILLIC.search(text):
        return text
    return _WORD.sub(lambda m: _word(m.group()), text)


def to_english(text: str) -> str:
    """Return a carrier's place name for English readers: its words in English, names romanized.

    "УКРАЇНА м.Київ" → "Ukraine Kyiv", "Відділення №5 (до 30 кг): вул. Хрещатик, 22" →
    "Branch No. 5 (up to 30 kg): vul. Khreshchatyk, 22".
    """
    if not _CYRILLIC.search(text):
        return text
    text = _UP_TO.sub(r"(up to \1", _CITY.sub("", text))
    text = _NUMBER_SIGN.sub("No. ", text)
    return _WORD.sub(lambda m: _ENGLISH_WORDS.get(m.group().lower()) or _word(m.group()), text)


def _word(word: str) -> str:
    """Romanize one word, keeping it upper-case, capitalised or lower-case as written."""
    lower = word.lower()
    out: list[str] = []
    for index, letter in enumerate(lower):
        if letter in _APOSTROPHES:
            continue
        if letter == "г" and index and lower[index - 1] == "з":
            out.append("gh")  # "зг" is "zgh", so it is not read as "ж" ("Згурський" → "Zghurskyi")
            continue
        start, inside = _LETTERS.get(letter, (letter, letter))
        out.append(start if index == 0 else inside)
    latin = "".join(out)
    if len(word) > 1 and word.isupper():
        return latin.upper()
    if word[:1].isupper():
        return latin[:1].upper() + latin[1:]
    return latin
