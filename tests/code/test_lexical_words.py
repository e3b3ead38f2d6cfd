"""The words a chunk and a query are found by (api/code/index/texts.py): pure logic, no DB."""

from api.code.index.chunking import Chunk
from api.code.index.keywords import KEYWORDS, keywords_of
from api.code.index.texts import identifier_words, query_words, search_fields, words


def chunk(source: str, *, language: str = "python", **metadata: str) -> Chunk:
    return Chunk(
        name="fetch_user",
        qualified_name="Accounts.fetch_user",
        kind="method",
        language=language,
        file_path="app/accounts.py",
        start_line=1,
        end_line=3,
        source=source,
        metadata=dict(metadata),
    )


def test_an_identifier_is_kept_whole_and_split():
    assert identifier_words("fetch_user_profile") == [
        "fetchuserprofile",
        "fetch",
        "user",
        "profile",
    ]
    # Both spellings give the same whole word, which PostgreSQL's parser keeps as one.
    assert identifier_words("fetchUserProfile")[0] == "fetchuserprofile"
    assert identifier_words("parseHTTPResponse_v2") == [
        "parsehttpresponsev2",
        "parse",
        "http",
        "response",
        "v2",
    ]


def test_keywords_of_the_chunks_language_are_left_out():
    source = "def fetch_user(self, user_id):\n    return None if not user_id else self.db[user_id]"
    assert words(source, language="python").split() == [
        "fetchuser",
        "fetch",
        "user",
        "userid",
        "id",
        "db",
    ]
    # Unknown language: nothing is left out. Keywords are case-sensitive (`None`, not `none`).
    assert "return" in words(source).split()
    assert "none" in words("none = None", language="python").split()
    # Only a whole identifier that is a keyword: `is_file` keeps `is`.
    assert words("is_file", language="python").split() == ["isfile", "is", "file"]


def test_every_indexed_language_has_keywords():
    for language in ("python", "javascript", "typescript", "go", "rust", "java", "c", "cpp"):
        assert "return" in keywords_of(language), language
    assert keywords_of("cobol") == frozenset() and keywords_of(None) == frozenset()
    assert all(word == word.strip() and word for words_ in KEYWORDS.values() for word in words_)


def test_search_fields_drop_keywords_from_name_signature_and_body():
    name, doc, body = search_fields(
        chunk(
            "def fetch_user(self, user_id):\n    return self.db[user_id]",
            signature="def fetch_user(self, user_id) -> None",
            docstring="Return the user with this id.",
        )
    )
    assert name.split() == ["accounts", "fetchuser", "fetch", "user"]
    assert doc == "fetchuser fetch user userid id Return the user with this id."
    assert "self" not in body.split() and "return" not in body.split()


def test_a_query_is_split_as_chunks_are_and_keeps_its_other_words():
    assert query_words("fetch_user_profile") == "fetchuserprofile fetch user profile"
    # No language: a query keeps its keywords (they match no chunk of that language).
    assert query_words("return self") == "return self"
    # Numbers and non-ASCII words, for docstrings and comments, once each.
    assert query_words("ERR-4312 café err") == "err caf 4312 café"
    for nothing in ("", "++ -- !!", "🙂", "()[]{}", "_"):
        assert query_words(nothing) == "", nothing
