"""The text rules for what callers name things by: the ids that become part of a URL (order ids, return ids), and
members' identifiers in one canonical form, so that one address or card is one member however it was typed.

Identifiers are compared in Unicode NFKC form (fullwidth `ａｎｎａ` is `anna`), emails also case-folded. Control,
format (zero-width) and other invisible characters are refused rather than dropped: a value that carries them
was not typed by a person. Letters must come from one script — or from a mix Unicode's "highly restrictive"
profile (UTS #39) allows: Latin with Han and Japanese kana, with Han and Bopomofo, or with Han and Hangul — so a
Cyrillic `а` inside a Latin email cannot pass for another member's. An email is checked per part (the local part
and each domain label, as IDNA does), so `info@почта.рф` is fine. A value written wholly in look-alike letters of
another script (`АВС` for `ABC`) is not detected: that needs Unicode's confusables data."""

from __future__ import annotations

import re
import unicodedata

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:#-]*$"
ID_RULE = "must start with a letter or digit and hold only the ASCII letters, digits and _ . : # -"
_ID = re.compile(ID_PATTERN)

# Control, format (zero-width joiners and spaces, BOM, bidi marks), surrogate, private-use and unassigned code
# points, and the line and paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SCRIPT_OF_NAME = {"CJK": "Han"}  # Unicode names a letter after its script, except the unified ideographs
_TOGETHER = (  # the mixes of scripts UTS #39's highly restrictive profile allows
    frozenset({"LATIN", "Han", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "Han", "BOPOMOFO"}),
    frozenset({"LATIN", "Han", "HANGUL"}),
)


def id_problem(value: str, what: str) -> str | None:
    """Why `value` cannot be the id of `what` whose URL holds it (`/v1/orders/{order_id}`), or None.

    A `/` would split the path, and `?`, `%`, spaces and the like do not survive every client's URL handling."""
    if _ID.match(value):
        return None
    if "/" in value:
        return f"must not contain '/': the {what} is part of a URL path; {ID_RULE}"
    return f"{ID_RULE} (the {what} is part of a URL path)"


def canonical(value: str, *, fold_case: bool = False) -> str:
    """NFKC, trimmed, and with `fold_case` case-folded (then NFKC again, as Unicode's NFKC_Casefold does)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if fold_case:
        text = unicodedata.normalize("NFKC", text.casefold())
    return text


def invisible_problem(text: str) -> str | None:
    """Why `text` is refused for a character one cannot see, or None."""
    for char in text:
        if unicodedata.category(char) in _INVISIBLE or (char.isspace() and char != " "):
            return f"must not contain control or invisible characters (found U+{ord(char):04X})"
    return None


def mixed_scripts_problem(text: str, *, parts: str = "") -> str | None:
    """Why `text` is refused for mixing scripts, or None. With `parts` (separator characters), each part of the
    text is checked on its own."""
    pieces = re.split(f"[{re.escape(parts)}]", text) if parts else [text]
    for piece in pieces:
        scripts: dict[str, str] = {}
        for char in piece:
            script = _script(char)
            if script is not None:
                scripts.setdefault(script, char)
        if len(scripts) > 1 and not any(scripts.keys() <= allowed for allowed in _TOGETHER):
            names = " and ".join(sorted(_title(s) for s in scripts))
            examples = ", ".join(f"'{c}' U+{ord(c):04X}" for c in scripts.values())
            return f"mixes {names} letters ({examples}), so it could pass for another; write it in one script"
    return None


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name (`CYRILLIC SMALL LETTER A`); None for anything else.
    Modifier letters (such as the kana prolonged sound mark) belong to no script of their own."""
    category = unicodedata.category(char)
    if not category.startswith("L") or category == "Lm":
        return None
    first = unicodedata.name(char, "UNNAMED").split(" ", 1)[0]
    return _SCRIPT_OF_NAME.get(first, first)


def _title(script: str) -> str:
    return script if script == "Han" else script.capitalize()
