"""WebVTT and SRT captions timed on the audio clock.

Cue times are sample indices at the video's audio rate, converted to
milliseconds only when written, so they never drift from the picture. A
phrase longer than two 42-character lines or 6 seconds is split at word
boundaries using the voice's word times.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..script.model import join_words
from ..speech.utterance import Word

MAX_LINE = 42
MAX_CUE_S = 6.0
AI_CUE = "[AI-generated video]"
# The first caption of a video in its own language, so its viewers read it; the English follows for anyone
# (and anything) that checks for it. Languages without a line here get the English alone.
_AI_WORDS = {
    "de": "KI-generiertes Video", "fr": "Vidéo générée par IA", "es": "Vídeo generado por IA",
    "it": "Video generato dall'IA", "pt": "Vídeo gerado por IA", "nl": "Door AI gegenereerde video",
    "pl": "Wideo wygenerowane przez AI", "sv": "AI-genererad video", "da": "AI-genereret video",
    "nb": "AI-generert video", "fi": "Tekoälyn tuottama video", "cs": "Video vytvořené umělou inteligencí",
    "ru": "Видео, созданное ИИ", "uk": "Відео, створене ШІ", "tr": "Yapay zekâ ile oluşturulmuş video",
    "ja": "AI生成動画", "zh": "AI生成的视频", "ko": "AI 생성 동영상", "ar": "فيديو مُنشأ بالذكاء الاصطناعي",
    "he": "סרטון שנוצר בבינה מלאכותית", "hi": "एआई-जनित वीडियो",
}


def ai_cue(language: str | None) -> str:
    """The first caption that says the video is AI-generated, in `language` (BCP-47) and in English."""
    words = _AI_WORDS.get((language or "en").split("-")[0].lower())
    return f"[{words} · AI-generated video]" if words else AI_CUE


@dataclass(frozen=True)
class Cue:
    """Caption text shown over samples [start, end)."""

    start: int
    end: int
    text: str


def _wrap(text: str) -> str:
    if len(text) <= MAX_LINE:
        return text
    words = text.split()
    best, best_cost = text, 1e9
    for i in range(1, len(words)):
        a, b = " ".join(words[:i]), " ".join(words[i:])
        cost = max(len(a), len(b))
        if cost < best_cost:
            best, best_cost = f"{a}\n{b}", cost
    return best


def phrase_cues(words: list[Word], offset: int, sample_rate: int) -> list[Cue]:
    """Cues for one phrase whose words are timed relative to `offset` (samples)."""
    cues: list[Cue] = []
    group: list[Word] = []

    def flush():
        if group:
            text = join_words(w.text for w in group)
            cues.append(Cue(offset + group[0].start, offset + group[-1].end, _wrap(text)))
            group.clear()

    for w in words:
        trial = join_words(x.text for x in group + [w])
        too_long = len(trial) > 2 * MAX_LINE
        too_slow = group and (w.end - group[0].start) / sample_rate > MAX_CUE_S
        if group and (too_long or too_slow):
            flush()
        group.append(w)
    flush()
    # Let each cue stay up until the next one starts (or briefly after speech).
    out = []
    for i, c in enumerate(cues):
        end = cues[i + 1].start if i + 1 < len(cues) else c.end + int(0.3 * sample_rate)
        out.append(Cue(c.start, max(end, c.start + 1), c.text))
    return out


def _ts(samples: int, sample_rate: int, sep: str) -> str:
    ms = (samples * 1000 + sample_rate // 2) // sample_rate
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(cues: list[Cue]) -> list[Cue]:
    out: list[Cue] = []
    for c in sorted(cues, key=lambda c: c.start):
        if out and out[-1].end > c.start:
            out[-1] = Cue(out[-1].start, c.start, out[-1].text)
        out.append(c)
    return [c for c in out if c.end > c.start]


def to_vtt(cues: list[Cue], sample_rate: int, title: str = "", language: str | None = None, note: str = AI_CUE) -> str:
    """WebVTT text with an AI-generated `note`; `language` (a BCP 47 tag) goes into a `Language:` header line."""
    lines = ["WEBVTT", *([f"Language: {language}"] if language else []), "", f"NOTE {note} {title}".rstrip(), ""]
    for c in _clean(cues):
        lines += [f"{_ts(c.start, sample_rate, '.')} --> {_ts(c.end, sample_rate, '.')}", c.text, ""]
    return "\n".join(lines)


def to_srt(cues: list[Cue], sample_rate: int) -> str:
    """SubRip text."""
    lines = []
    for i, c in enumerate(_clean(cues), 1):
        lines += [str(i), f"{_ts(c.start, sample_rate, ',')} --> {_ts(c.end, sample_rate, ',')}", c.text, ""]
    return "\n".join(lines)
