"""eSpeak NG speech: sample-exact phones, words mapped to tokens, lexicon, errors, catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit import VoiceError
from avatarkit.speech.engines.base import make_engine
from avatarkit.speech.engines.espeak import _words
from avatarkit.speech.utterance import Phone, Token
from avatarkit.speech.voice import Voice, get_voice


@pytest.fixture(scope="module")
def en():
    return make_engine(get_voice("en-espeak"))


def _tokens(text):
    return [Token(w) for w in text.split()]


def _check_phones(u):
    prev = 0
    for p in u.phones:
        assert prev <= p.start < p.end <= u.num_samples
        assert p.symbol.strip() and not set(p.symbol) & set("ˈˌ_: ")
        prev = p.end


def test_phrase_audio_and_phones(en):
    u = en.synthesize(_tokens("Hello and welcome to the course."))
    assert u.sample_rate == en.sample_rate == 22050
    assert u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert 1.0 < u.duration < 4.0
    assert 0.02 < np.sqrt(np.mean(u.audio ** 2)) and np.abs(u.audio).max() <= 1.0
    assert len(u.phones) > 15
    _check_phones(u)
    # IPA names, not eSpeak's ASCII mnemonics.
    assert any(ch in "əɛɔʌɪʊæɹ" for p in u.phones for ch in p.symbol)
    assert u.text == "Hello and welcome to the course."


def test_phone_times_are_exact_to_the_sample(en):
    # eSpeak's pauses are digital silence: sound stops on the sample where a
    # pause starts and resumes on the sample where the next phone starts. A
    # millisecond clock (`audio_position`) would be off by up to 22 samples.
    u = en.synthesize(_tokens("Apples, oranges; bananas."))
    a = u.audio
    first, last = u.phones[0].start, u.phones[-1].end
    assert np.all(a[:first] == 0) and np.all(a[last:] == 0)
    # (A single sample can be exactly 0 mid-sound, and which one depends on the glottal state eSpeak
    # carries over from earlier calls in the process: look at three.)
    assert np.any(a[first:first + 3] != 0) and np.any(a[last - 3:last] != 0)
    gaps = [(p.end, q.start) for p, q in zip(u.phones, u.phones[1:]) if q.start - p.end > 1000]
    assert len(gaps) == 2  # the comma and the semicolon
    for end, start in gaps:
        assert np.all(a[end:start] == 0)
        assert np.any(a[end - 3:end] != 0) and np.any(a[start:start + 3] != 0)
    inside = np.mean(a[first:last] ** 2)
    assert inside > 1e-3


def test_words_map_back_to_tokens(en):
    # eSpeak reads "in the", "for a", "so much" as one word; every token still
    # gets its own Word, in order, inside the speech.
    for text in ("A bird in the hand is worth two in the bush.",
                 "So much for a plan, I am going in 2025."):
        toks = _tokens(text)
        u = en.synthesize(toks)
        assert [w.index for w in u.words] == list(range(len(toks)))
        assert [w.text for w in u.words] == [t.text for t in toks]
        prev = 0
        for w in u.words:
            assert prev <= w.start < w.end <= u.num_samples
            prev = w.end
        assert u.words[0].start == u.phones[0].start and u.words[-1].end == u.phones[-1].end


def test_emphasis_and_markup_characters_keep_words_in_place(en):
    toks = [Token("We"), Token("<really>", emphasis=True), Token("like"), Token("R&D"),
            Token("—"), Token("truly", emphasis=True), Token("café.")]
    u = en.synthesize(toks)
    _check_phones(u)
    # The dash alone is not spoken as a word.
    assert [w.index for w in u.words] == [0, 1, 2, 3, 5, 6]
    assert [w.emphasis for w in u.words] == [False, True, False, False, True, False]


def test_say_respelling_is_used(en):
    plain = en.synthesize([Token("SQL")])
    said = en.synthesize([Token("SQL", say="sequel", ipa="ˈsiːkwəl")])
    assert [w.text for w in said.words] == ["SQL"]
    assert said.num_samples < plain.num_samples  # "sequel" is shorter than "S Q L"


def test_ipa_only_lexicon_entry_is_an_error(en):
    with pytest.raises(VoiceError, match=r"LMS.*say"):
        en.synthesize([Token("the"), Token("LMS", ipa="ˈɛl ˈɛm ˈɛs")])


def test_german_voice():
    de = make_engine(get_voice("de-espeak"))
    toks = _tokens("Guten Tag, wie geht es Ihnen?")
    u = de.synthesize(toks)
    _check_phones(u)
    assert 1.0 < u.duration < 4.0
    assert [w.text for w in u.words] == [t.text for t in toks]


def test_catalogue_voices():
    for vid, lang in [("en-espeak", "en-US"), ("de-espeak", "de-DE"),
                      ("fr-espeak", "fr-FR"), ("es-espeak", "es-ES")]:
        v = get_voice(vid)
        assert v.engine == "espeak" and v.language == lang
        make_engine(v)
    assert make_engine(get_voice("espeak:fr")).synthesize(_tokens("Bonjour")).phones


def test_unknown_voice_name_is_an_error():
    v = Voice(id="my-voice", engine="espeak", language="xx", settings={"voice": "xx-nope"})
    with pytest.raises(VoiceError, match=r"my-voice.*xx-nope"):
        make_engine(v)
    v = Voice(id="my-voice", engine="espeak", language="en", settings={"voice": "en", "variant": "nope"})
    with pytest.raises(VoiceError, match=r"my-voice.*nope"):
        make_engine(v)


def test_rate_pitch_and_variant_settings():
    toks = _tokens("This is a test of the speaking rate.")

    def say(**settings):
        v = Voice(id="t", engine="espeak", language="en-US", settings={"voice": "en-us", **settings})
        return make_engine(v).synthesize(toks)

    slow, fast = say(rate=120), say(rate=300, pitch=70, variant="f3")
    assert fast.duration < 0.6 * slow.duration
    _check_phones(fast)


def test_merged_words_are_split_by_letters():
    ph = [Phone(s, 10 * i, 10 * i + 10) for i, s in enumerate("wɪððə")]
    ws = _words(_tokens("with the"), [(0, ph)])
    assert [(w.index, w.start, w.end) for w in ws] == [(0, 0, 30), (1, 30, 50)]
    # More tokens than phones: the extra token gets an empty span, not a lost word.
    ws = _words(_tokens("a b c"), [(0, ph[:2])])
    assert [w.index for w in ws] == [0, 1, 2] and ws[-1].start == ws[-1].end == 20


def test_japanese_kanji_are_read_not_named():
    """eSpeak names each kanji as a "Chinese letter"; the Japanese voice reads them as kana instead."""
    engine = make_engine(get_voice("ja-espeak"))
    kanji = engine.synthesize(_tokens("経費精算の基本"))
    kana = engine.synthesize(_tokens("けいひせいさんのきほん"))
    assert abs(kanji.duration - kana.duration) < 0.15 * kana.duration
    assert [p.symbol for p in kanji.phones] == [p.symbol for p in kana.phones]
    assert [w.text for w in kanji.words] == ["経費精算の基本"]     # captions keep the written word
