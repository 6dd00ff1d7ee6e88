"""Voices: Whisper round-trip character error rate and compute per second of speech, per language and voice.

    python benchmarks/voices.py                      # every catalogue voice; writes benchmarks/results/voices.json
    python benchmarks/voices.py --language fr ja     # only these languages
    python benchmarks/voices.py --speakers DIR       # also try every Kokoro style table in DIR/kokoro/
    python benchmarks/voices.py --samples docs/voices  # only: a short listening sample per default voice

Each voice reads two fixed sets in its language: `course`, the sentences of
the five-language course sample (`samples/course.yaml` and its translations;
written here for the languages the sample lacks), and `hard`, sentences full
of numbers, names and acronyms. Whisper base (int8, beam 5, language given)
transcribes the audio; CER is the edit distance between the normalised
transcript and the normalised text (NFKC, lower case, no punctuation or
spaces) over the text's characters, pooled per set. Compute is the wall time
of the engine (model loaded, one warm-up phrase) over the audio's length.
A voice is read by the project's own engines exactly as a render would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from transcribe import edits  # noqa: E402  (the Levenshtein distance the WER benchmark uses)

# Sentences the course sample does not have in these languages (same content, written here).
COURSE_EXTRA = {
    "es": ["Hola y bienvenidos. En dos minutos sabrá cómo presentar un informe de gastos en Northwind.",
           "Primero, guarde cada recibo. Luego envíe su informe en un plazo de treinta días.",
           "¡Gracias por mirar!"],
    "it": ["Ciao e benvenuti. In due minuti saprete come presentare una nota spese in Northwind.",
           "Per prima cosa, conservate ogni ricevuta. Poi inviate la nota entro trenta giorni.",
           "Grazie per la visione!"],
    "pt": ["Olá e bem-vindos. Em dois minutos, você saberá como enviar um relatório de despesas na Northwind.",
           "Primeiro, guarde todos os recibos. Depois envie o relatório em até trinta dias.",
           "Obrigado por assistir!"],
    "hi": ["नमस्ते और स्वागत है। दो मिनट में आप जान जाएंगे कि खर्च की रिपोर्ट कैसे जमा करें।",
           "पहले हर रसीद संभाल कर रखें। फिर तीस दिनों के अंदर अपनी रिपोर्ट जमा करें।",
           "देखने के लिए धन्यवाद!"],
    "zh": ["大家好，欢迎。两分钟后，您就会知道如何提交费用报告。",
           "首先，保留每一张收据。然后在三十天内提交您的报告。",
           "感谢观看！"],
}
HARD = {
    "en": ["On March 14, 2025, Dr. Priya Natarajan moved 1,250 laptops from Zurich to Osaka.",
           "Send the PDF to the HR team before 9:30 a.m. and call 555 0199 if the VPN fails.",
           "NASA and the WHO signed a 3-year agreement worth 42 million euros."],
    "de": ["Am 14. März 2025 brachte Frau Dr. Schneider 1250 Laptops von Zürich nach Osaka.",
           "Schicken Sie das PDF vor 9:30 Uhr an die Personalabteilung und rufen Sie 0199 an.",
           "Die NASA und die WHO unterzeichneten einen Vertrag über 42 Millionen Euro."],
    "fr": ["Le 14 mars 2025, le docteur Lefèvre a envoyé 1250 ordinateurs de Zurich à Osaka.",
           "Envoyez le PDF aux RH avant 9 h 30 et appelez le 0199 si le VPN ne marche pas.",
           "La NASA et l'OMS ont signé un accord de 3 ans pour 42 millions d'euros."],
    "es": ["El 14 de marzo de 2025, la doctora García trasladó 1250 portátiles de Zúrich a Osaka.",
           "Envíe el PDF a Recursos Humanos antes de las 9:30 y llame al 0199 si falla la VPN.",
           "La NASA y la OMS firmaron un acuerdo de 3 años por 42 millones de euros."],
    "it": ["Il 14 marzo 2025 la dottoressa Rossi ha spostato 1250 portatili da Zurigo a Osaka.",
           "Inviate il PDF alle risorse umane prima delle 9:30 e chiamate lo 0199 se la VPN non va.",
           "La NASA e l'OMS hanno firmato un accordo di 3 anni da 42 milioni di euro."],
    "pt": ["Em 14 de março de 2025, a doutora Souza levou 1250 notebooks de Zurique para Osaka.",
           "Envie o PDF ao RH antes das 9h30 e ligue para 0199 se a VPN falhar.",
           "A NASA e a OMS assinaram um acordo de 3 anos no valor de 42 milhões de euros."],
    "hi": ["14 मार्च 2025 को डॉक्टर प्रिया ने 1250 लैपटॉप ज़्यूरिख से ओसाका भेजे।",
           "सुबह 9:30 से पहले पीडीएफ़ एचआर टीम को भेजें।",
           "नासा और डब्ल्यूएचओ ने 3 साल का समझौता किया।"],
    "ja": ["2025年3月14日に、田中博士は1250台のパソコンをチューリッヒから大阪へ送りました。",
           "午前9時30分までにPDFを人事部に送ってください。",
           "NASAとWHOは3年間の契約を結びました。"],
    "zh": ["2025年3月14日，王博士把1250台笔记本电脑从苏黎世运到大阪。",
           "请在上午9点30分之前把PDF发给人事部。",
           "NASA和世卫组织签署了一项为期3年的协议。"],
    "ar": ["في 14 مارس 2025 نقلت الدكتورة سارة 1250 حاسوبا من زيورخ إلى أوساكا.",
           "أرسل ملف PDF إلى قسم الموارد البشرية قبل الساعة 9:30.",
           "وقعت ناسا ومنظمة الصحة العالمية اتفاقا لمدة 3 سنوات."],
    "he": ["ב-14 במרץ 2025 העבירה ד\"ר כהן 1250 מחשבים מציריך לאוסקה.",
           "שלחו את קובץ ה-PDF למשאבי אנוש לפני 9:30.",
           "נאס\"א וארגון הבריאות העולמי חתמו על הסכם לשלוש שנים."],
}


def course_sentences() -> dict[str, list[str]]:
    """The spoken sentences of the course sample per primary language (markup removed)."""
    from avatarkit.localize import localized_script
    from avatarkit.script import load_script

    script = load_script(ROOT / "samples" / "course.yaml")
    out: dict[str, list[str]] = {}
    for lang in [script.language] + [s.code for s in script.languages]:
        loc = script if lang == script.language else localized_script(script, lang)
        out[lang.split("-")[0]] = [" ".join(m.text for ph in seg.phrases for m in ph.words)
                                   for scene in loc.scenes for seg in scene.segments if seg.phrases]
    return {**COURSE_EXTRA, **out}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def speak(engine, sentences: list[str]):
    from avatarkit.script import parse_text
    from avatarkit.speech.utterance import Token

    out, compute = [], 0.0
    for s in sentences:
        parts = []
        for ph in parse_text(s):
            tokens = [Token(m.text) for m in ph.words]
            t = time.perf_counter()
            parts.append(engine.synthesize(tokens))
            compute += time.perf_counter() - t
        out.append((np.concatenate([p.audio for p in parts]), parts[0].sample_rate))
    return out, compute


def score(voice, sets: dict[str, list[str]], whisper) -> dict:
    import librosa

    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.whisper import whisper_language

    engine = make_engine(voice)
    speak(engine, ["One."])  # warm-up
    row = {"voice": voice.id, "engine": voice.engine, "language": voice.language, "gender": voice.gender}
    seconds = compute = 0.0
    for name, sentences in sets.items():
        audios, c = speak(engine, sentences)
        compute += c
        err = ref = 0
        heard = []
        for (audio, sr), text in zip(audios, sentences):
            seconds += audio.size / sr
            a16 = librosa.resample(audio, orig_sr=sr, target_sr=16000)
            tr = whisper.transcribe([a16], language=whisper_language(voice.language), duration=a16.size / 16000)
            err += edits(normalise(text), normalise(tr.text))
            ref += len(normalise(text))
            heard.append(tr.text)
        row[f"cer_{name}"] = round(err / max(ref, 1), 4)
        row[f"heard_{name}"] = heard
    row["cer"] = round(float(np.mean([row[f"cer_{n}"] for n in sets])), 4)
    row["compute_per_s"] = round(compute / max(seconds, 1e-9), 3)
    row["audio_s"] = round(seconds, 1)
    return row


def write_samples(folder: Path, course: dict[str, list[str]]) -> None:
    """A listening sample per default voice: the course's first sentence, as `<voice id>.ogg` (Vorbis)."""
    import soundfile as sf

    from avatarkit.speech.engines.base import make_engine
    from avatarkit.speech.voice import default_voices, get_voice

    folder.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    for lang, vid in sorted(default_voices().items()):
        if vid in done:
            continue
        done.add(vid)
        lang = lang.split("-")[0]
        text = (course.get(lang) or HARD.get(lang) or [""])[0]
        if not text:
            continue
        (audio, sr), = speak(make_engine(get_voice(vid)), [text])[0]
        sf.write(folder / f"{vid}.ogg", audio, sr, format="OGG", subtype="VORBIS")
        print(f"wrote {folder / (vid + '.ogg')}: {text}")


def table(rows: list[dict]) -> str:
    """The results as a Markdown table per language, best mean CER first; the default voice in bold."""
    from avatarkit.speech.voice import default_voices

    defaults = set(default_voices().values())
    out = []
    for lang in sorted({r["language"].split("-")[0].lower() for r in rows}):
        rs = sorted((r for r in rows if r["language"].split("-")[0].lower() == lang),
                    key=lambda r: (r.get("cer", 9), r.get("compute_per_s", 9)))
        out += [f"\n**{lang}**\n", "| voice | engine | tag | gender | CER course | CER hard | CER mean | compute s/s |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rs:
            name = f"**{r['voice']}**" if r["voice"] in defaults else r["voice"]
            if "error" in r:
                out.append(f"| {name} | {r['engine']} | {r['language']} | | failed: {r['error'][:60]} | | | |")
                continue
            out.append(f"| {name} | {r['engine']} | {r['language']} | {r.get('gender', '')} | "
                       f"{r.get('cer_course', '–')} | {r.get('cer_hard', '–')} | {r['cer']} | {r['compute_per_s']} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--language", nargs="*", help="primary language codes to measure (default: all)")
    ap.add_argument("--speakers", type=Path, help="a folder with kokoro/<name>.bin style tables to try too")
    ap.add_argument("--samples", type=Path, help="only write a listening sample (.ogg) per default voice here")
    ap.add_argument("--table", action="store_true", help="only rewrite the Markdown table from --out's JSON")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "voices.json")
    args = ap.parse_args()

    from avatarkit.speech.engines.kokoro import SPEAKER_LANGUAGES
    from avatarkit.speech.voice import Voice, list_voices
    from avatarkit.speech.whisper import get_whisper

    if args.table:
        rows = json.loads(args.out.read_text())["rows"]
        args.out.with_suffix(".md").write_text(table(rows), encoding="utf-8")
        print(table(rows))
        return
    course = course_sentences()
    if args.samples:
        write_samples(args.samples, course)
        return
    voices = list_voices()
    if args.speakers:
        # Style tables are looked up in the catalogue folders, so the extra folder joins them.
        os.environ["AVATARKIT_VOICES"] = os.pathsep.join(filter(None, [str(args.speakers),
                                                                       os.environ.get("AVATARKIT_VOICES")]))
        for f in sorted((args.speakers / "kokoro").glob("*.bin")):
            lang, espeak = SPEAKER_LANGUAGES.get(f.stem[:1], (None, None))
            if lang and not any(v.settings.get("speaker") == f.stem for v in voices):
                voices.append(Voice(id=f"kokoro:{f.stem}", engine="kokoro", language=lang, source=str(f),
                                    settings={"speaker": f.stem, "espeak": espeak},
                                    gender="female" if f.stem[1:2] == "f" else "male"))
    whisper = get_whisper()
    rows = []
    for v in voices:
        lang = v.language.split("-")[0].lower()
        if args.language and lang not in args.language:
            continue
        if lang not in HARD:
            print(f"skip {v.id}: no sentences for {lang}")
            continue
        sets = {"course": course.get(lang, []), "hard": HARD[lang]}
        sets = {k: s for k, s in sets.items() if s}
        t = time.time()
        try:
            row = score(v, sets, whisper)
        except Exception as e:  # a voice that fails is a result too
            row = {"voice": v.id, "engine": v.engine, "language": v.language, "error": str(e)}
        rows.append(row)
        print(f"{v.id:24s} {v.language:6s} CER course {row.get('cer_course', '-')} hard {row.get('cer_hard', '-')}"
              f"  compute {row.get('compute_per_s', '-')} s/s  ({time.time() - t:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    keep = [r for r in old["rows"] if r["voice"] not in {r2["voice"] for r2 in rows}]
    args.out.write_text(json.dumps({"rows": keep + rows}, ensure_ascii=False, indent=1))
    args.out.with_suffix(".md").write_text(table(keep + rows), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
