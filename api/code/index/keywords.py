"""Keywords of each indexed language that say nothing about what a chunk does.

`def`, `self`, `return` or `func` stand in nearly every chunk of their language: as search words
they only lengthen the text BM25 normalises by, so the words a chunk is found by leave them out
(api/code/index/texts.py). A word is left out only when a whole identifier is one: `is_file`
keeps `is`. Names of types and built-in operations (`int`, `map`, `match`, `type`, `string`)
stay: they do say something. Queries keep every word (a query has no language; a keyword it
holds simply matches no chunk of that language).
"""

import keyword


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# As written: keywords are case-sensitive (`None` is one, a class `Return` is not).
PYTHON = frozenset(keyword.kwlist) | {"self", "cls"}
_JS = _words(
    "async await break case catch class const continue debugger default delete do else export "
    "extends false finally for function if import in instanceof let new null of return super "
    "switch this throw true try typeof undefined var void while with yield"
)
_TS = _JS | _words("abstract declare implements private protected public readonly")
_C = _words(
    "break case const continue default do else extern for goto if inline register return "
    "signed sizeof static switch typedef unsigned void volatile while"
)
KEYWORDS: dict[str, frozenset[str]] = {
    "python": PYTHON,
    "javascript": _JS,
    "typescript": _TS,
    "tsx": _TS,
    "go": _words(
        "break case const continue default defer else fallthrough for func goto if import nil "
        "package return switch true false var"
    ),
    "rust": _words(
        "as async await break const continue crate dyn else extern false fn for if impl in let "
        "loop mod move mut pub ref return self super true unsafe use where while"
    ),
    "java": _words(
        "abstract break case catch class continue default do else extends false final finally "
        "for if implements import instanceof new null package private protected public return "
        "static super switch this throw throws true try void while"
    ),
    "c": _C,
    "cpp": _C
    | _words(
        "class constexpr delete explicit false namespace new nullptr override private "
        "protected public template this true typename using virtual"
    ),
    "ruby": _words(
        "and begin break case class def do else elsif end ensure false if in module next nil "
        "not or rescue return self then true unless until when while yield"
    ),
    "php": _words(
        "as break case catch class const continue default do echo else elseif extends false "
        "finally for foreach function if implements namespace new null private protected "
        "public return static switch this throw true try use while"
    ),
    "csharp": _words(
        "abstract async await break case catch class const continue default do else false "
        "finally for foreach if internal namespace new null override private protected public "
        "readonly return sealed static switch this throw true try using var virtual void while"
    ),
}


def keywords_of(language: str | None) -> frozenset[str]:
    """The words `words()` leaves out for a chunk in `language` (none for an unknown one)."""
    return KEYWORDS.get(language or "", frozenset())
