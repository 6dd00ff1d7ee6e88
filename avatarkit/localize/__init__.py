"""Localisation: a script's strings out to translators (XLIFF 2.0 / 1.2) and back, machine and pseudo
translation, and the script in another language.

    units(script)                           translatable strings with stable ids
    export_xliff(script, ["de"], "c.xlf")   one XLIFF file per language
    import_xliff(script, "c.xlf")           translations into course.translations.yaml
    translate_missing(script, None, make_translator("pseudo"))
    localized_script(script, "de")          the script in German, spoken by a German voice
"""

from .apply import (
    Coverage,
    Localized,
    coverage,
    language_voice,
    load_localized,
    localize,
    localized_script,
    script_languages,
)
from .inline import Code, Keep, Span, join_markup, split_markup
from .store import Entry, Store, load_store, save_store, script_store, store_path
from .strings import KINDS, Unit, units
from .translators import (
    MARIAN_MISSING,
    FillReport,
    LanguageFill,
    MarianTranslator,
    MemoryTranslator,
    PseudoTranslator,
    Translator,
    make_translator,
    register_translator,
    translate_missing,
    translator_kinds,
)
from .xliff import export_xliff, output_paths, target_languages
from .xliff_import import ImportReport, LanguageImport, import_xliff, xliff_script

__all__ = [
    "KINDS", "MARIAN_MISSING", "Code", "Coverage", "Entry", "FillReport", "ImportReport", "Keep", "LanguageFill",
    "LanguageImport", "Localized", "MarianTranslator", "MemoryTranslator", "PseudoTranslator", "Span", "Store",
    "Translator", "Unit", "coverage", "export_xliff", "import_xliff", "join_markup", "language_voice", "load_localized",
    "load_store", "localize", "localized_script", "make_translator", "output_paths", "register_translator",
    "save_store", "script_languages", "script_store", "split_markup", "store_path", "target_languages",
    "translate_missing", "translator_kinds", "units", "xliff_script",
]
