"""Offline voice for the lobby devices: announcement texts, synthesizers, a queued speaker.

Three layers, so each can be tested and swapped on its own:

* **Announcement texts** (pure): what to say. Japanese texts carry the *reading* of every
  number in katakana (ヒャクゴバン) rather than digits or kanji, because the synthesizer's own
  analysis is where numbers go wrong: Open JTalk reads 105番の方 as ヒャクゴバンノ**ホー** and
  hiragana ろっぴゃくはちばん as ロッピャク**ワ**チバン (は taken for the particle). Katakana is
  spoken as written. Chinese numbers are written in hanzi for the same reason (espeak-ng reads
  "105" as 一百五, which a listener hears as 150).
* **Synthesizers**: text + language → WAV bytes. ``OpenJTalkSynthesizer`` (pyopenjtalk,
  Japanese), ``OpenJTalkCliSynthesizer`` (Debian's ``open_jtalk`` command, Japanese),
  ``EspeakSynthesizer`` (espeak-ng, every lobby language; Japanese only from kana).
* **Speakers** (the :class:`Speaker` protocol the UI uses): ``LobbySpeaker`` routes each
  language to a synthesizer and speaks on its own worker thread, so ``say`` never blocks the
  UI; ``RecordingSpeaker`` is the fake for UI tests; ``NullSpeaker`` is "no voice configured".

Backends are chosen by name (:func:`make_speaker`). A backend whose packages are missing raises
:class:`SpeechBackendMissing` naming the package; it is never replaced by another one, so a
lobby that should speak Japanese properly never ends up with a robot voice unnoticed.

Audio output: ``LobbySpeaker`` hands each WAV to an *output* callable. The default plays it
with ``aplay``; when there is no ``aplay`` or no sound device (CI, a board without audio) it
reports that once in the log and carries on. The Kivy apps pass their own output that plays the
WAV with ``SoundLoader`` on the UI thread.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, get_args

import msgspec

from common.validation import info
from drivers.japanese_numbers import counter_kana, number_kanji, says_number, to_katakana

log = logging.getLogger(__name__)

# The six languages of the lobby (the same codes as common.i18n.LANGUAGES).
LANGUAGES: tuple[str, ...] = ("ja", "en", "zh_CN", "ko", "vi", "pt")
_LANGUAGE_ALIASES = {"zh": "zh_CN", "zh-CN": "zh_CN", "zh_Hans": "zh_CN", "pt_BR": "pt", "pt-BR": "pt"}

Backend = Literal["openjtalk", "openjtalk-cli", "espeak", "recording", "none"]
BACKENDS: tuple[str, ...] = get_args(Backend)


class SpeechConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[speech]`` section of a device configuration: which speech backend to use
    (:func:`make_speaker`); ``none`` keeps the device silent."""

    noun: ClassVar[str] = "table"

    backend: Annotated[
        Backend,
        info(what='a speech backend: "openjtalk", "openjtalk-cli", "espeak", "recording" or "none"'),
    ] = "none"


# Debian's open-jtalk-mecab-naist-jdic; pyopenjtalk would otherwise download its dictionary.
DEBIAN_DICT_DIR = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
# Debian's hts-voice-nitech-jp-atr503-m001 (contrib; enabled on Raspberry Pi OS).
DEBIAN_HTS_VOICE = "/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice"

_SUBPROCESS_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class SpeechError(Exception):
    """Root of the speech errors."""


class SpeechBackendMissing(SpeechError):
    """The configured backend cannot run here; the message names what to install."""


class UnsupportedLanguage(SpeechError, ValueError):
    """A language the speaker (or the announcement texts) does not have."""


class SynthesisFailed(SpeechError):
    """The synthesizer ran but produced no audio (the message carries its error output)."""


def normalize_language(language: str) -> str:
    """One of :data:`LANGUAGES` for ``language`` ("zh" → "zh_CN", "pt-BR" → "pt"), or raise."""
    code = _LANGUAGE_ALIASES.get(language, language)
    if code not in LANGUAGES:
        raise UnsupportedLanguage(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
    return code


# --------------------------------------------------------------------------------------------
# announcement texts (pure)
# --------------------------------------------------------------------------------------------

_HANZI_DIGITS = "零一二三四五六七八九"


def _hanzi_below_10000(n: int, *, leading: bool) -> str:
    """Mandarin numerals of 1..9999; ``leading`` allows 十五 instead of 一十五."""
    out: list[str] = []
    started = zero_pending = False
    for unit, mark in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d == 0:
            zero_pending = started  # one 零 stands for any run of inner zeros
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(mark if (unit == 10 and d == 1 and leading and not started) else _HANZI_DIGITS[d] + mark)
        started = True
    return "".join(out)


def hanzi_number(n: int) -> str:
    """A number in Mandarin numerals for speech (105 → 一百零五, 1005 → 一千零五, 15 → 十五)."""
    number_kanji(n)  # the same range and type checks as the Japanese readings
    if n == 0:
        return "零"
    man, rest = divmod(n, 10_000)
    if not man:
        return _hanzi_below_10000(rest, leading=True)
    head = _hanzi_below_10000(man, leading=True) + "万"
    if not rest:
        return head
    return head + ("零" if rest < 1000 else "") + _hanzi_below_10000(rest, leading=False)


def _spoken_number(n: int, language: str, *, digitwise: bool) -> str:
    """The number as the synthesizer of ``language`` should receive it (without a counter word)."""
    if language == "zh_CN":
        return " ".join(_HANZI_DIGITS[int(c)] for c in str(n)) if digitwise else hanzi_number(n)
    number_kanji(n)  # range and type checks
    # Spaces make espeak-ng say each digit instead of the number.
    return " ".join(str(n)) if digitwise else str(n)


def _ban(n: int, *, digitwise: bool) -> str:
    """n番 as katakana reading (see the module docstring for why katakana).

    Digits read one by one are separated by 、: run together, Open JTalk finds words in them
    (キュウイチ → キウイ + チ).
    """
    return to_katakana(counter_kana(n, digitwise=digitwise, separator="、"))


_FOCUS = {
    "ja": "{name}。けっていボタンで、えらべます。",
    "en": "{name}. Press OK to choose.",
    "zh_CN": "{name}。按确定键选择。",
    "ko": "{name}. 확인 버튼으로 선택하세요.",
    "vi": "{name}. Nhấn OK để chọn.",
    "pt": "{name}. Aperte OK para escolher.",
}
_TICKET = {
    "ja": "ばんごうは、{ban}です。ばんごうふだを、おとりください。",
    "en": "Your number is {n}. Please take your ticket.",
    "zh_CN": "您的号码是{n}号。请取走号码票。",
    "ko": "고객님의 번호는 {n}번입니다. 번호표를 받아 주세요.",
    "vi": "Số của bạn là {n}. Xin vui lòng nhận phiếu.",
    # "senha" is the queue ticket in Brazilian Portuguese, the variety most residents speak.
    "pt": "Seu número é {n}. Por favor, retire a sua senha.",
}
_CALL = {
    "ja": "{ban}のかた、{counter_ban}まどぐちへ、おこしください。",
    "en": "Number {n}, please come to counter {c}.",
    "zh_CN": "请{n}号到{c}号窗口。",
    "ko": "{n}번 고객님, {c}번 창구로 와 주세요.",
    "vi": "Mời số {n} đến quầy số {c}.",
    "pt": "Senha {n}, por favor, dirija-se ao guichê {c}.",
}
# A counter whose name does not say its number ("相談室"): the number first, as on the board,
# then the name in place of "counter" (まどぐち).
_CALL_NAMED = {
    "ja": "{ban}のかた、{counter_ban}、{name}へ、おこしください。",
    "en": "Number {n}, please come to counter {c}, {name}.",
    "zh_CN": "请{n}号到{c}号{name}。",
    "ko": "{n}번 고객님, {c}번 {name}에 와 주세요.",
    "vi": "Mời số {n} đến quầy số {c}, {name}.",
    "pt": "Senha {n}, por favor, dirija-se ao guichê {c}, {name}.",
}


def announce_focus(name: str, language: str) -> str:
    """What to say when the keypad moves to an item (a purpose, a certificate, a button).

    For Japanese pass the item's reading in kana (てんにゅう・てんしゅつ), not its kanji.
    """
    return _FOCUS[normalize_language(language)].format(name=name.strip())


def announce_ticket(number: int, language: str, *, digitwise: bool = False) -> str:
    """What the dispenser says when a ticket is printed ("ばんごうは、ヒャクゴバンです。…")."""
    lang = normalize_language(language)
    return _TICKET[lang].format(
        n=_spoken_number(number, lang, digitwise=digitwise), ban=_ban(number, digitwise=digitwise)
    )


def spoken_counter_name(names: Mapping[str, str], counter: int, language: str) -> str | None:
    """The name to say for a counter in ``language``, from its names per language (the office's
    configuration): for Japanese its reading (``kana``, in katakana: see the module docstring)
    when the office gives one, else its Japanese name. None when it has none in that language,
    or when its written name says the number (then the number is said, as without a name).
    """
    lang = normalize_language(language)
    written = " ".join((names.get(lang) or names.get(lang.split("_")[0]) or "").split())
    if not written or says_number(written, counter):
        return None
    reading = " ".join(names.get("kana", "").split()) if lang == "ja" else ""
    return to_katakana(reading) if reading else written


def announce_call(number: int, counter: int, language: str, *, digitwise: bool = False, name: str | None = None) -> str:
    """What the board says when a number is called to a counter ("ヒャクゴバンのかた、サンバンまどぐちへ…").

    ``digitwise`` applies to the ticket number only; counters are always read as numbers.
    ``name`` is the counter's name in ``language`` (its reading, for Japanese): said after the
    counter's number ("…ゴバン、相談室へ…") unless it says the number itself, when the call is
    said as without a name.
    """
    lang = normalize_language(language)
    spoken = " ".join((name or "").split()).rstrip("。.")
    named = bool(spoken) and not says_number(spoken, counter)
    return (_CALL_NAMED if named else _CALL)[lang].format(
        n=_spoken_number(number, lang, digitwise=digitwise),
        c=_spoken_number(counter, lang, digitwise=False),
        ban=_ban(number, digitwise=digitwise),
        counter_ban=_ban(counter, digitwise=False),
        name=spoken,
    )


# --------------------------------------------------------------------------------------------
# WAV helpers
# --------------------------------------------------------------------------------------------


def pcm16_wav(frames: bytes, sample_rate: int) -> bytes:
    """A mono 16-bit little-endian PCM WAV file around ``frames``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(frames)
    return buf.getvalue()


def silent_wav(seconds: float = 0.0, sample_rate: int = 16_000) -> bytes:
    """A valid WAV of silence (what the fakes and the "none" backend return)."""
    return pcm16_wav(b"\x00\x00" * round(seconds * sample_rate), sample_rate)


def wav_duration(wav: bytes) -> float:
    """Length of a WAV in seconds (raises ``wave.Error`` if it is not a WAV)."""
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / w.getframerate()


# --------------------------------------------------------------------------------------------
# audio output
# --------------------------------------------------------------------------------------------

Output = Callable[[bytes, threading.Event], None]
"""Plays one WAV, returning early once the event is set (an interrupting utterance)."""

_reported: set[str] = set()
_reported_lock = threading.Lock()


def _report_once(problem: str) -> None:
    # A lobby board calls hundreds of numbers a day; one warning per problem is enough.
    with _reported_lock:
        first = problem not in _reported
        _reported.add(problem)
    if first:
        log.warning("speech: audio not played: %s", problem)
    else:
        log.debug("speech: audio not played: %s", problem)


def audio_output_problem() -> str | None:
    """Why WAVs cannot be played with aplay here, or None if they (probably) can."""
    if shutil.which("aplay") is None:
        return "aplay is not installed (apt-get install alsa-utils)"
    snd = Path("/dev/snd")
    if not snd.is_dir() or not any(snd.glob("pcmC*p")):
        return "no sound device (no playback device in /dev/snd)"
    return None


def play_wav(path: str | os.PathLike[str], *, stop: threading.Event | None = None) -> bool:
    """Play a WAV file with aplay and wait for it; True if it played.

    Never raises: with no aplay, no sound device or an aplay error it logs why (once) and
    returns False. Setting ``stop`` cuts the sound short.
    """
    problem = audio_output_problem()
    if problem:
        _report_once(problem)
        return False
    try:
        proc = subprocess.Popen(
            ["aplay", "-q", os.fspath(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as err:
        _report_once(f"aplay did not start: {err}")
        return False
    stop = stop or threading.Event()
    while proc.poll() is None:
        if stop.wait(0.05):
            proc.terminate()
            proc.wait()
            return True
    err_text = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        _report_once(f"aplay failed ({proc.returncode}): {err_text.splitlines()[0] if err_text else 'no message'}")
        return False
    return True


def play_wav_bytes(wav: bytes, *, stop: threading.Event | None = None) -> bool:
    """:func:`play_wav` for WAV bytes (through a temporary file, so a stop is never stuck in a pipe)."""
    problem = audio_output_problem()
    if problem:
        _report_once(problem)
        return False
    with tempfile.NamedTemporaryFile(prefix="madoguchi-speech-", suffix=".wav") as f:
        f.write(wav)
        f.flush()
        return play_wav(f.name, stop=stop)


def aplay_output(wav: bytes, stop: threading.Event) -> None:
    """The default :data:`Output`: play through aplay, or report why not."""
    play_wav_bytes(wav, stop=stop)


# --------------------------------------------------------------------------------------------
# synthesizers
# --------------------------------------------------------------------------------------------


class Synthesizer(Protocol):
    """Turns text into a WAV, for the languages it has."""

    languages: frozenset[str]

    def synthesize(self, text: str, language: str) -> bytes:
        """The WAV of ``text`` spoken in ``language``."""
        ...


def _check_language(synth: Synthesizer, language: str) -> str:
    lang = normalize_language(language)
    if lang not in synth.languages:
        raise UnsupportedLanguage(f"{type(synth).__name__} does not speak {lang!r}")
    return lang


def _resolve_dict_dir(dict_dir: str | None) -> str:
    """The Open JTalk dictionary: argument, else $OPEN_JTALK_DICT_DIR, else Debian's; must exist."""
    path = dict_dir or os.environ.get("OPEN_JTALK_DICT_DIR") or DEBIAN_DICT_DIR
    if not (Path(path) / "sys.dic").is_file():
        raise SpeechBackendMissing(
            f"Open JTalk dictionary not found at {path}: apt-get install open-jtalk-mecab-naist-jdic "
            "(or point OPEN_JTALK_DICT_DIR at a naist-jdic directory)"
        )
    return path


class OpenJTalkSynthesizer:
    """Japanese through pyopenjtalk (Open JTalk in-process, HTS voice "mei" bundled with it).

    The dictionary comes from Debian (``open-jtalk-mecab-naist-jdic``) because pyopenjtalk
    would download its own on first use, which an offline lobby cannot.
    """

    languages = frozenset({"ja"})

    def __init__(self, *, dict_dir: str | None = None, voice: str | None = None, speed: float = 1.0) -> None:
        try:
            import pyopenjtalk
            from pyopenjtalk.htsengine import HTSEngine
            from pyopenjtalk.openjtalk import OpenJTalk
        except ImportError as err:
            raise SpeechBackendMissing(
                "pyopenjtalk is not installed: pip install pyopenjtalk (builds from source; needs a C++ compiler)"
            ) from err
        path = _resolve_dict_dir(dict_dir)
        voice_path = voice or pyopenjtalk.DEFAULT_HTS_VOICE.decode()
        if not Path(voice_path).is_file():
            raise SpeechBackendMissing(f"HTS voice file not found: {voice_path}")
        try:
            # The classes, not pyopenjtalk's module functions: those share a global instance
            # that downloads a dictionary when OPEN_JTALK_DICT_DIR is unset.
            self._jtalk: Any = OpenJTalk(dn_mecab=path.encode())
            self._engine: Any = HTSEngine(voice_path.encode())
        except RuntimeError as err:
            raise SpeechBackendMissing(f"Open JTalk did not start with {path} and {voice_path}: {err}") from err
        self._speed = speed
        # The C objects keep per-call state; the worker and a UI thread may both call us.
        self._lock = threading.Lock()

    def reading(self, text: str) -> str:
        """How Open JTalk will read ``text``, in katakana (for tests and for checking a new phrase)."""
        with self._lock:
            return str(self._jtalk.g2p(text, kana=True))

    def synthesize(self, text: str, language: str = "ja") -> bytes:
        """The WAV (48 kHz mono) of Japanese ``text``."""
        _check_language(self, language)
        with self._lock:
            labels = self._jtalk.make_label(self._jtalk.run_frontend(text))
            if not labels:
                # Nothing speakable (punctuation, emoji): HTS_Engine crashes on empty labels.
                return silent_wav(0.0, 48_000)
            self._engine.set_speed(self._speed)
            samples = self._engine.synthesize(labels)
            rate = int(self._engine.get_sampling_frequency())
        import numpy as np  # pyopenjtalk's own dependency; imported only when it is present

        pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
        return pcm16_wav(pcm, rate)


class OpenJTalkCliSynthesizer:
    """Japanese through Debian's ``open_jtalk`` command (no compiler needed to install).

    It needs an HTS voice file: Debian's ``hts-voice-nitech-jp-atr503-m001`` (contrib, which
    Raspberry Pi OS enables) by default, or any ``.htsvoice`` passed as ``voice``.
    """

    languages = frozenset({"ja"})

    def __init__(self, *, dict_dir: str | None = None, voice: str | None = None, speed: float = 1.0) -> None:
        exe = shutil.which("open_jtalk")
        if exe is None:
            raise SpeechBackendMissing("the open_jtalk command is missing: apt-get install open-jtalk")
        self._exe = exe
        self._dict_dir = _resolve_dict_dir(dict_dir)
        self._voice = voice or DEBIAN_HTS_VOICE
        if not Path(self._voice).is_file():
            raise SpeechBackendMissing(
                f"HTS voice file not found: {self._voice}: apt-get install hts-voice-nitech-jp-atr503-m001 "
                "(Debian contrib) or configure the path of another .htsvoice file"
            )
        self._speed = speed

    def synthesize(self, text: str, language: str = "ja") -> bytes:
        """The WAV of Japanese ``text``."""
        _check_language(self, language)
        with tempfile.TemporaryDirectory(prefix="madoguchi-jtalk-") as tmp:
            src, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            # One line: open_jtalk synthesizes each input line separately into the same file.
            src.write_text(" ".join(text.split()), encoding="utf-8")
            cmd = [
                self._exe,
                "-x",
                self._dict_dir,
                "-m",
                self._voice,
                "-r",
                str(self._speed),
                "-ow",
                str(out),
                str(src),
            ]
            result = subprocess.run(cmd, capture_output=True, timeout=_SUBPROCESS_TIMEOUT_S, check=False)
            if out.is_file() and out.stat().st_size > 44:
                return out.read_bytes()
            err = result.stderr.decode(errors="replace")
            if result.returncode == 0 or "No phoneme" in err:
                return silent_wav(0.0, 48_000)  # nothing speakable in the text (punctuation, emoji)
            raise SynthesisFailed(f"open_jtalk failed ({result.returncode}): {err.strip()}")


# espeak-ng voice per lobby language, and why where it is not the obvious one.
ESPEAK_VOICES: Mapping[str, str] = {
    "ja": "ja",  # kana only: kanji come out as "Chinese letter"
    "en": "en-us",
    # The plain "cmn" voice of espeak-ng 1.51 reads its own pinyin as English letters.
    "zh_CN": "cmn-latn-pinyin",
    "ko": "ko",
    "vi": "vi",
    "pt": "pt-br",  # most Portuguese-speaking residents of Japan are Brazilian
}


class EspeakSynthesizer:
    """Every lobby language through the ``espeak-ng`` command (Japanese from kana only)."""

    def __init__(self, *, rate_wpm: int = 160, languages: frozenset[str] | None = None) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise SpeechBackendMissing("the espeak-ng command is missing: apt-get install espeak-ng")
        self._exe = exe
        self._rate = rate_wpm
        self.languages = languages if languages is not None else frozenset(ESPEAK_VOICES)

    def _run(self, language: str, args: list[str], text: str) -> subprocess.CompletedProcess[bytes]:
        lang = _check_language(self, language)
        # Text on stdin, never argv: a text starting with "-" must not become an option.
        cmd = [self._exe, "-v", ESPEAK_VOICES[lang], "-s", str(self._rate), "-b", "1", *args, "--stdin"]
        return subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=_SUBPROCESS_TIMEOUT_S, check=False)

    def phonemes(self, text: str, language: str) -> str:
        """espeak-ng's phoneme mnemonics for ``text`` (shows which voice and reading it used)."""
        return self._run(language, ["-q", "-x"], text).stdout.decode(errors="replace").strip()

    def synthesize(self, text: str, language: str) -> bytes:
        """The WAV (22.05 kHz mono) of ``text``."""
        with tempfile.TemporaryDirectory(prefix="madoguchi-espeak-") as tmp:
            # A file, not --stdout: on a pipe espeak-ng cannot go back to fill in the WAV sizes.
            out = Path(tmp) / "out.wav"
            result = self._run(language, ["-w", str(out)], text)
            if result.returncode != 0 or not out.is_file():
                raise SynthesisFailed(
                    f"espeak-ng failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
                )
            return out.read_bytes()


# --------------------------------------------------------------------------------------------
# speakers
# --------------------------------------------------------------------------------------------


class Priority(Enum):
    """How a new utterance treats the ones before it."""

    QUEUE = "queue"  # after everything already queued (number calls on the board)
    INTERRUPT = "interrupt"  # cut the current one and drop the queue (keypad focus moves)


@dataclass(frozen=True)
class Utterance:
    """One thing to say."""

    text: str
    language: str
    priority: Priority = Priority.QUEUE


class Speaker(Protocol):
    """What the dispenser, the board and the kiosk speak through."""

    def say(self, text: str, language: str, priority: Priority = Priority.QUEUE) -> None:
        """Queue ``text`` and return at once; it is spoken on the speaker's own thread."""
        ...

    def synthesize(self, text: str, language: str) -> bytes:
        """The WAV of ``text``, synchronously (for an app that plays audio itself)."""
        ...

    def close(self) -> None:
        """Stop speaking and release the worker; later ``say`` calls are ignored."""
        ...


class LobbySpeaker:
    """Speaks each language through its synthesizer, one utterance at a time, on a worker thread.

    ``say`` only queues, so a UI thread never waits for synthesis or playback. ``output``
    receives each WAV on the worker thread: an app that must play audio on its UI thread
    (Kivy) passes an output that hands the WAV over and waits for it or for the stop event.
    """

    def __init__(self, synthesizers: Mapping[str, Synthesizer], *, output: Output | None = None) -> None:
        self._synths = {normalize_language(lang): s for lang, s in synthesizers.items()}
        self._output = output or aplay_output
        self._cv = threading.Condition()
        self._queue: collections.deque[Utterance] = collections.deque()
        self._current_stop: threading.Event | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None

    @property
    def languages(self) -> frozenset[str]:
        """The languages this speaker has a synthesizer for."""
        return frozenset(self._synths)

    def synthesize(self, text: str, language: str) -> bytes:
        """The WAV of ``text`` from the synthesizer of ``language``."""
        lang = normalize_language(language)
        synth = self._synths.get(lang)
        if synth is None:
            raise UnsupportedLanguage(f"no synthesizer configured for {lang!r}; have {', '.join(sorted(self._synths))}")
        return synth.synthesize(text, lang)

    def say(self, text: str, language: str, priority: Priority = Priority.QUEUE) -> None:
        """Queue ``text``; :attr:`Priority.INTERRUPT` first silences the current and queued ones."""
        lang = normalize_language(language)
        if lang not in self._synths:
            # A configuration mistake, reported to the caller rather than lost on the worker.
            raise UnsupportedLanguage(f"no synthesizer configured for {lang!r}; have {', '.join(sorted(self._synths))}")
        with self._cv:
            if self._closed:
                log.warning("speech: say() after close() ignored")
                return
            if priority is Priority.INTERRUPT:
                self._queue.clear()
                if self._current_stop is not None:
                    self._current_stop.set()
            self._queue.append(Utterance(text, lang, priority))
            if self._thread is None:
                # Started on first use, not in __init__: building a speaker starts nothing.
                self._thread = threading.Thread(target=self._run, name="speech", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything queued has been spoken; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self) -> None:
        """Cut the current utterance, drop the queue and stop the worker."""
        with self._cv:
            self._closed = True
            self._queue.clear()
            if self._current_stop is not None:
                self._current_stop.set()
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    return
                utterance = self._queue.popleft()
                stop = threading.Event()
                self._current_stop = stop
                self._busy = True
            try:
                wav = self.synthesize(utterance.text, utterance.language)
                if not stop.is_set():
                    self._output(wav, stop)
            except Exception as err:  # one bad utterance must not silence the lobby for the day
                self.errors += 1
                self.last_error = f"{type(err).__name__}: {err}"
                log.exception("speech: could not speak a %s utterance", utterance.language)
            finally:
                with self._cv:
                    self._current_stop = None
                    self._busy = False
                    self._cv.notify_all()


class RecordingSpeaker:
    """The fake for UI tests: remembers what it was asked to say, speaks nothing."""

    def __init__(self) -> None:
        self.spoken: list[Utterance] = []
        self.closed = False
        self._lock = threading.Lock()

    def say(self, text: str, language: str, priority: Priority = Priority.QUEUE) -> None:
        """Record the utterance (unknown languages are refused, as by the real speaker)."""
        u = Utterance(text, normalize_language(language), priority)
        with self._lock:
            self.spoken.append(u)

    def synthesize(self, text: str, language: str) -> bytes:
        """A short silent WAV (the text is recorded like ``say``'s)."""
        self.say(text, language)
        return silent_wav(0.1)

    def texts(self) -> list[tuple[str, str]]:
        """(text, language) of everything said so far."""
        with self._lock:
            return [(u.text, u.language) for u in self.spoken]

    def clear(self) -> None:
        """Forget what was said."""
        with self._lock:
            self.spoken.clear()

    def close(self) -> None:
        """Mark closed (tests can check the app closes its speaker)."""
        self.closed = True


class NullSpeaker:
    """The "none" backend: a device configured without voice."""

    def say(self, text: str, language: str, priority: Priority = Priority.QUEUE) -> None:
        """Do nothing (the language is still checked, so a bad one shows up in testing)."""
        normalize_language(language)

    def synthesize(self, text: str, language: str) -> bytes:
        """An empty WAV."""
        normalize_language(language)
        return silent_wav(0.0)

    def close(self) -> None:
        """Nothing to release."""


def make_speaker(
    backend: str,
    *,
    output: Output | None = None,
    dict_dir: str | None = None,
    voice: str | None = None,
    speed: float = 1.0,
    espeak_rate_wpm: int = 160,
) -> Speaker:
    """The speaker named by a device's configuration.

    * ``openjtalk``: Japanese through pyopenjtalk, the other lobby languages through espeak-ng;
      without pyopenjtalk (the Debian package), through Debian's ``open_jtalk`` command.
    * ``openjtalk-cli``: the same with Debian's ``open_jtalk`` command and ``voice`` (.htsvoice).
    * ``espeak``: every language through espeak-ng (Japanese texts must be kana).
    * ``recording``: :class:`RecordingSpeaker`; ``none``: :class:`NullSpeaker`.

    Raises :class:`SpeechBackendMissing` (naming the package) when something is not installed.
    """
    if backend == "recording":
        return RecordingSpeaker()
    if backend == "none":
        return NullSpeaker()
    if backend == "espeak":
        espeak = EspeakSynthesizer(rate_wpm=espeak_rate_wpm)
        return LobbySpeaker(dict.fromkeys(LANGUAGES, espeak), output=output)
    if backend in ("openjtalk", "openjtalk-cli"):
        japanese: Synthesizer
        if backend == "openjtalk":
            try:
                japanese = OpenJTalkSynthesizer(dict_dir=dict_dir, voice=voice, speed=speed)
            except SpeechBackendMissing as missing:
                # The Debian package carries no pyopenjtalk (a C++ build per architecture): the
                # same engine through Debian's open_jtalk command speaks instead.
                try:
                    japanese = OpenJTalkCliSynthesizer(dict_dir=dict_dir, voice=voice, speed=speed)
                except SpeechBackendMissing as also:
                    raise SpeechBackendMissing(f"{missing}; and the open_jtalk fallback: {also}") from None
                log.info("speech: pyopenjtalk is not installed; Japanese through Debian's open_jtalk")
        else:
            japanese = OpenJTalkCliSynthesizer(dict_dir=dict_dir, voice=voice, speed=speed)
        others = frozenset(LANGUAGES) - {"ja"}
        espeak = EspeakSynthesizer(rate_wpm=espeak_rate_wpm, languages=others)
        return LobbySpeaker({"ja": japanese, **dict.fromkeys(others, espeak)}, output=output)
    raise SpeechError(f"unknown speech backend {backend!r}; choose one of {', '.join(BACKENDS)}")
