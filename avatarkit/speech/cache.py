"""Speech made once: phrases of slow neural voices kept by content, so a re-render speaks them for free.

A training video is rendered many times while its visuals are edited, and a
course's source language again with every translation; Kokoro spends about
0.66 s of CPU per second of speech. An engine whose output is a pure function
of its voice and tokens says so with a `cache_tag` (a string that changes
whenever its model, its speaker or avatarkit's timing rules change); its
phrases are then stored as `$AVATARKIT_HOME/cache/speech/<ab>/<digest>.npz`
(samples, phones and words; no pickles). Delete the folder to reclaim the
space; nothing else refers to it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..utils.files import atomic_path, avatarkit_home
from .utterance import Token, Utterance, read_speech, speech_bytes


def speech_cache() -> Path:
    """`$AVATARKIT_HOME/cache/speech` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "cache" / "speech"


def cached_synthesize(engine, tokens: Sequence[Token], folder: Path | None = None) -> Utterance:
    """`engine.synthesize(tokens)`, from the cache when this engine, voice and phrase were spoken before."""
    tag = getattr(engine, "cache_tag", None)
    if not tag:
        return engine.synthesize(tokens)
    key = json.dumps([tag, engine.voice.to_dict(), [asdict(t) for t in tokens]], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = (folder or speech_cache()) / digest[:2] / f"{digest}.npz"
    try:
        (utt,), _ = read_speech(path)
        return utt
    except (OSError, ValueError, KeyError):
        pass
    utt = engine.synthesize(tokens)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(speech_bytes([utt], {}))
    except OSError:
        pass  # a read-only home only costs the time
    return utt
