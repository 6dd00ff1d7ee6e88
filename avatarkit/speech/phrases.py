"""From a script's phrases to what a voice reads, or to a user's recording with its words timed.

`tokens_for` applies the script's lexicon (`say`, `ipa`) to a phrase's
words for a language, and `check_readable` refuses text a voice cannot read;
`recorded_utterance` turns a segment's `audio:` into
an `Utterance` whose words (its captions) come from the segment's text,
aligned to the recording, or from what Whisper hears in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..audio.io import load_audio, stream_audio
from ..errors import ScriptError, VoiceError
from ..script.model import Phrase, Script
from .align import MAX_SECONDS as MAX_ALIGN_S
from .align import align
from .loudness import LoudnessNormalizer
from .reading import check_script
from .utterance import Token, Utterance, Word
from .voice import Voice


def recorded_utterance(path: Path, phrase: Phrase, voice: Voice | None = None,
                       sample_rate: int = 48_000) -> Utterance:
    """A user's recording as an `Utterance` at `sample_rate` Hz, loudness-normalised.

    When the segment gave text (its captions) and a `voice`, the words are
    timed by aligning the text, spoken by that voice, to the recording
    (`speech.align`); a segment without text gets the words Whisper hears
    in the recording (in the voice's language), so its captions come from
    the recording itself. Text too long to align is spread over the voiced
    part in proportion to the words' lengths.
    """
    audio = LoudnessNormalizer(sample_rate)(load_audio(path, sample_rate))
    if not phrase.words:
        from .whisper import SAMPLE_RATE as WHISPER_RATE
        from .whisper import get_whisper, whisper_language

        heard = get_whisper().transcribe(stream_audio(path, WHISPER_RATE, block=WHISPER_RATE * 30),
                                         language=whisper_language(voice.language) if voice is not None else None)
        return Utterance(audio, sample_rate, words=heard.timed_words(sample_rate, audio.size), text=heard.text)
    if voice is not None and audio.size <= MAX_ALIGN_S * sample_rate:
        return align(audio, sample_rate, phrase.text, voice)
    level = np.abs(audio)
    loud = np.flatnonzero(level > 10 ** (-40 / 20) * max(level.max(), 1e-9))
    a, b = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, audio.size)
    lengths = np.array([len(m.text) + 1 for m in phrase.words], np.float64)
    edges = a + np.concatenate([[0], np.cumsum(lengths)]) / max(lengths.sum(), 1) * (b - a)
    words = [Word(m.text, int(edges[i]), int(edges[i + 1]), i, m.emphasis) for i, m in enumerate(phrase.words)]
    return Utterance(audio, sample_rate, words=words, text=phrase.text)


def tokens_for(phrase: Phrase, script: Script, language: str) -> list[Token]:
    """The phrase's words as `Token`s, with the script's lexicon applied for `language`."""
    out = []
    for m in phrase.words:
        entry = script.lexicon.lookup(m.text, language)
        if entry is None:
            out.append(Token(m.text, emphasis=m.emphasis))
            continue
        core = m.text.rstrip(".,;:!?\"')…")
        tail = m.text[len(core):]
        out.append(Token(m.text, say=(entry.say + tail) if entry.say else None,
                         ipa=entry.ipa, emphasis=m.emphasis))
    return out


def check_readable(script: Script, voices: Mapping[str, Voice]) -> None:
    """Refuse, before any speech is made, a segment written in a script its voice cannot read.

    `voices` maps each segment's voice reference to its `Voice`. Raises
    `ScriptError` naming the file, the segment's line and field, the voice
    and the word (see `reading.check_script`).
    """
    for i, sc in enumerate(script.scenes):
        for j, seg in enumerate(sc.segments):
            if seg.audio:
                continue
            v = voices[seg.voice]
            try:
                for ph in seg.phrases:
                    check_script(tokens_for(ph, script, v.language), v.language, v.id)
            except VoiceError as e:
                raise ScriptError(str(e), file=script.source, line=seg.line,
                                  field=f"scenes[{i}].segments[{j}]") from None
