"""Languages the code index parses with tree-sitter, described as data for one generic walker.

Grammars come from `tree-sitter-languages` (compiled, offline). A language's spec names the
syntax-node types that are functions, containers (classes and their kin, which get a chunk of
their own), scopes (namespaces that only qualify names), comments, decision points (for
cyclomatic complexity), calls and imports.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import Any


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    grammar: str
    extensions: tuple[str, ...]
    functions: frozenset[str]
    containers: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    comments: frozenset[str] = frozenset({"comment"})
    decisions: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset({"call_expression"})
    imports: frozenset[str] = frozenset()
    # Variable declarations whose value is one of these node types are functions (JS arrows).
    function_values: frozenset[str] = field(default_factory=frozenset)


def _types(*names: str) -> frozenset[str]:
    return frozenset(names)


C_DECISIONS = _types(
    "if_statement",
    "for_statement",
    "while_statement",
    "do_statement",
    "case_statement",
    "conditional_expression",
    "catch_clause",
)
JS_DECISIONS = _types(
    "if_statement",
    "for_statement",
    "for_in_statement",
    "while_statement",
    "do_statement",
    "switch_case",
    "catch_clause",
    "ternary_expression",
)
JS_FUNCTIONS = _types("function_declaration", "generator_function_declaration", "method_definition")
JS_VALUES = _types("arrow_function", "function_expression", "function", "generator_function")

SPECS = (
    LanguageSpec(
        name="python",
        grammar="python",
        extensions=(".py", ".pyi"),
        functions=_types("function_definition"),
        containers=_types("class_definition"),
        decisions=_types(
            "if_statement",
            "elif_clause",
            "for_statement",
            "while_statement",
            "except_clause",
            "conditional_expression",
            "boolean_operator",
            "case_clause",
        ),
        calls=_types("call"),
        imports=_types("import_statement", "import_from_statement"),
    ),
    LanguageSpec(
        name="javascript",
        grammar="javascript",
        extensions=(".js", ".jsx", ".mjs", ".cjs"),
        functions=JS_FUNCTIONS,
        containers=_types("class_declaration"),
        decisions=JS_DECISIONS,
        imports=_types("import_statement"),
        function_values=JS_VALUES,
    ),
    LanguageSpec(
        name="typescript",
        grammar="typescript",
        extensions=(".ts", ".mts", ".cts"),
        functions=JS_FUNCTIONS | {"function_signature"},
        containers=_types(
            "class_declaration", "abstract_class_declaration", "interface_declaration"
        ),
        scopes=_types("internal_module"),
        decisions=JS_DECISIONS,
        imports=_types("import_statement"),
        function_values=JS_VALUES,
    ),
    LanguageSpec(
        name="tsx",
        grammar="tsx",
        extensions=(".tsx",),
        functions=JS_FUNCTIONS,
        containers=_types(
            "class_declaration", "abstract_class_declaration", "interface_declaration"
        ),
        decisions=JS_DECISIONS,
        imports=_types("import_statement"),
        function_values=JS_VALUES,
    ),
    LanguageSpec(
        name="go",
        grammar="go",
        extensions=(".go",),
        functions=_types("function_declaration", "method_declaration"),
        containers=_types("type_declaration"),
        decisions=_types(
            "if_statement",
            "for_statement",
            "expression_case",
            "type_case",
            "communication_case",
        ),
        imports=_types("import_declaration"),
    ),
    LanguageSpec(
        name="rust",
        grammar="rust",
        extensions=(".rs",),
        functions=_types("function_item", "function_signature_item"),
        containers=_types("impl_item", "struct_item", "enum_item", "trait_item"),
        scopes=_types("mod_item"),
        comments=_types("line_comment", "block_comment"),
        decisions=_types(
            "if_expression", "for_expression", "while_expression", "loop_expression", "match_arm"
        ),
        calls=_types("call_expression", "macro_invocation"),
        imports=_types("use_declaration"),
    ),
    LanguageSpec(
        name="java",
        grammar="java",
        extensions=(".java",),
        functions=_types("method_declaration", "constructor_declaration"),
        containers=_types(
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
        ),
        comments=_types("line_comment", "block_comment"),
        decisions=_types(
            "if_statement",
            "for_statement",
            "enhanced_for_statement",
            "while_statement",
            "do_statement",
            "switch_label",
            "catch_clause",
            "ternary_expression",
        ),
        calls=_types("method_invocation", "object_creation_expression"),
        imports=_types("import_declaration"),
    ),
    LanguageSpec(
        name="c",
        grammar="c",
        extensions=(".c", ".h"),
        functions=_types("function_definition"),
        containers=_types("struct_specifier"),
        decisions=C_DECISIONS,
        imports=_types("preproc_include"),
    ),
    LanguageSpec(
        name="cpp",
        grammar="cpp",
        extensions=(".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx"),
        functions=_types("function_definition"),
        containers=_types("class_specifier", "struct_specifier"),
        scopes=_types("namespace_definition"),
        decisions=C_DECISIONS | {"for_range_loop"},
        imports=_types("preproc_include", "using_declaration"),
    ),
    LanguageSpec(
        name="ruby",
        grammar="ruby",
        extensions=(".rb",),
        functions=_types("method", "singleton_method"),
        containers=_types("class", "module"),
        decisions=_types(
            "if",
            "elsif",
            "unless",
            "while",
            "until",
            "for",
            "when",
            "rescue",
            "conditional",
            "if_modifier",
            "unless_modifier",
            "while_modifier",
            "until_modifier",
        ),
        calls=_types("call"),
    ),
    LanguageSpec(
        name="php",
        grammar="php",
        extensions=(".php",),
        functions=_types("function_definition", "method_declaration"),
        containers=_types("class_declaration", "interface_declaration", "trait_declaration"),
        scopes=_types("namespace_definition"),
        decisions=_types(
            "if_statement",
            "else_if_clause",
            "for_statement",
            "foreach_statement",
            "while_statement",
            "do_statement",
            "case_statement",
            "catch_clause",
            "conditional_expression",
        ),
        calls=_types(
            "function_call_expression",
            "member_call_expression",
            "scoped_call_expression",
            "object_creation_expression",
        ),
        imports=_types("namespace_use_declaration"),
    ),
    LanguageSpec(
        name="csharp",
        grammar="c_sharp",
        extensions=(".cs",),
        functions=_types(
            "method_declaration", "constructor_declaration", "local_function_statement"
        ),
        containers=_types(
            "class_declaration",
            "interface_declaration",
            "struct_declaration",
            "record_declaration",
            "enum_declaration",
        ),
        scopes=_types("namespace_declaration", "file_scoped_namespace_declaration"),
        decisions=_types(
            "if_statement",
            "for_statement",
            "for_each_statement",
            "while_statement",
            "do_statement",
            "switch_section",
            "catch_clause",
            "conditional_expression",
        ),
        calls=_types("invocation_expression", "object_creation_expression"),
        imports=_types("using_directive"),
    ),
)

BY_NAME = {spec.name: spec for spec in SPECS}
BY_EXTENSION = {extension: spec for spec in SPECS for extension in spec.extensions}


def language_for(path: str, declared: str | None = None) -> LanguageSpec | None:
    """The spec for a file: the declared language when known, else from its extension."""
    if declared:
        key = declared.strip().lower().replace("c#", "csharp").replace("c++", "cpp")
        if key in BY_NAME:
            return BY_NAME[key]
    return BY_EXTENSION.get(PurePosixPath(path).suffix.lower())


@cache
def parser_for(spec: LanguageSpec) -> Any:
    """A tree-sitter parser (loaded lazily: the grammars are a 90 MB shared library)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tree-sitter 0.21 deprecation notice
        from tree_sitter_languages import get_parser

        return get_parser(spec.grammar)
