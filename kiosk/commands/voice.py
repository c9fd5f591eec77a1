"""`kiosk voice …`: install the speech model, recognise a WAV, speak a text, list audio devices.

    kiosk voice install-model FILE.zip|DIR   check the layout, install under <data_dir>/models/,
                                             set voice.model_path and voice.engine: vosk in config.yaml
    kiosk voice recognize FILE.wav [--json]  text, procedure (or not understood), score, timings,
                                             with the configured engine (viet-asr by default)
    kiosk voice say TEXT [--lang vi] [--out F.wav]
    kiosk voice devices [--json]

`doctor` reports the microphone, the recogniser (engine, version, whether it works) and the
speaker (espeak-ng, player, output device).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from pathlib import Path

from centre.config import ConfigError, parse_config
from kiosk.cli import Check, CliError, print_json

#: `kiosk voice say` reads a sentence or a page, not a book: 100,000 characters kept espeak-ng busy past 30 s
MAX_SAY_CHARS = 5_000


def register(sub) -> None:
    p = sub.add_parser("voice", help="speech recognition model, text-to-speech and audio devices")
    vsub = p.add_subparsers(dest="voice_command", metavar="ACTION")
    vsub.required = True

    inst = vsub.add_parser("install-model", help="install a Vosk model from a .zip or a folder and select it")
    inst.add_argument("source", help="model .zip (e.g. vosk-model-small-vn-0.4.zip) or unpacked model folder")
    inst.add_argument("--name", help="folder name under <data_dir>/models (default: the model's own name)")
    inst.add_argument("--no-config", action="store_true", help="install only; leave config.yaml unchanged")
    inst.set_defaults(func=cmd_install_model)

    rec = vsub.add_parser("recognize", help="recognise a WAV file (16 kHz mono) and show the procedure")
    rec.add_argument("wav", help="WAV file; other formats are converted with sox when it is installed")
    rec.add_argument("--json", action="store_true", help="one JSON object")
    rec.add_argument("--no-grammar", action="store_true", help="Vosk: decode freely (ignore the catalogue grammar)")
    rec.add_argument("--engine", choices=["vietasr", "vosk"], help="recogniser (default: voice.engine)")
    rec.add_argument("--model", help="Vosk model folder (default: voice.model_path)")
    rec.add_argument("--lang", help="language of the model's phrases (default: voice.language)")
    rec.set_defaults(func=cmd_recognize)

    say = vsub.add_parser("say", help="speak a text (Vietnamese by default) or write it to a WAV")
    say.add_argument("text", help="what to say (in quotes)")
    say.add_argument("--lang", default="vi", choices=["vi", "en"], help="language of the text (default: vi)")
    say.add_argument("--out", help="write the WAV here instead of playing it")
    say.set_defaults(func=cmd_say)

    dev = vsub.add_parser("devices", help="list audio input and output devices")
    dev.add_argument("--json", action="store_true", help="print JSON")
    dev.set_defaults(func=cmd_devices)


# -- install-model -------------------------------------------------------------------------------


def set_yaml_value(text: str, section: str, key: str, value: str) -> str:
    """Set `section.key` in YAML text with a one-line edit that keeps comments and layout."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(section)}:\s*(#.*)?$", line)), None)
    if start is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        return text + f"{sep}\n{section}:\n  {key}: {value}\n"
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "\t", "#")):
            end = i
            break
    pat = re.compile(rf"^(\s+){re.escape(key)}:(\s*)(\"[^\"]*\"|'[^']*'|[^#\n]*?)(\s*#.*)?(\r?\n)?$")
    for i in range(start + 1, end):
        m = pat.match(lines[i])
        if m:
            indent, space, _, comment, nl = m.groups()
            lines[i] = f"{indent}{key}:{space or ' '}{value}{comment or ''}{nl or ''}"
            return "".join(lines)
    indent = "  "
    for i in range(start + 1, end):
        m = re.match(r"^(\s+)\S", lines[i])
        if m:
            indent = m.group(1)
            break
    lines.insert(start + 1, f"{indent}{key}: {value}\n")
    return "".join(lines)


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if not str(target).startswith(str(root)):
            raise CliError(f"refusing to unpack {info.filename!r}: it points outside the model folder")
    zf.extractall(dest)


def install_model(source: Path, models_dir: Path, name: str | None = None) -> tuple[Path, object]:
    """Check and copy a model (zip or folder) to `models_dir/<name>`; returns (path, ModelInfo)."""
    from voice.recognizer import ModelError, find_model_root, inspect_model

    source = Path(source)
    if not source.exists():
        raise CliError(f"{source} does not exist")
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=models_dir))
    try:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise CliError(f"{source} is not a .zip file nor a model folder")
            try:
                with zipfile.ZipFile(source) as zf:
                    _safe_extract(zf, staging / "unpacked")
            except (zipfile.BadZipFile, OSError) as exc:
                raise CliError(f"{source}: cannot unpack: {exc}") from exc
            root = find_model_root(staging / "unpacked")
            default_name = root.name if root != staging / "unpacked" else source.stem
        else:
            root = find_model_root(source)
            default_name = root.name
        try:
            info = inspect_model(root)
        except ModelError as exc:
            raise CliError(f"not installed: {exc}") from exc
        name = name or default_name
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
            raise CliError(f"bad model name {name!r}: use letters, digits, '.', '-' and '_'")
        dest = models_dir / name
        if source.is_file():
            ready = root
        else:
            ready = staging / name
            shutil.copytree(root, ready, symlinks=False)
        inspect_model(ready)
        if dest.exists():
            old = staging / "previous"
            dest.rename(old)  # the old model goes away only after the new one is in place
        ready.rename(dest)
        return dest, info
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cmd_install_model(args, ctx) -> int:
    cfg = ctx.config
    models_dir = cfg.data_dir / "models"
    dest, info = install_model(Path(args.source), models_dir, args.name)
    kind = "lookahead (runtime grammar)" if info.lookahead else "static graph (free decoding)"
    print(f"installed {dest} — {info.size_mb} MB, {kind}, unknown-word token {info.unk or 'none'}")
    if args.no_config:
        return 0
    if cfg.source is None:
        raise CliError("the configuration was not loaded from a file; set voice.model_path yourself")
    cfg_path = Path(cfg.source)
    text = cfg_path.read_text(encoding="utf-8")
    try:
        value = str(dest.resolve().relative_to(cfg.base_dir.resolve()))
    except ValueError:
        value = str(dest.resolve())
    new_text = set_yaml_value(text, "voice", "model_path", _yaml_str(value))
    new_text = set_yaml_value(new_text, "voice", "engine", '"vosk"')  # installing a Vosk model chooses Vosk
    try:
        parse_config(new_text, base_dir=cfg.base_dir, source=cfg_path)
    except ConfigError as exc:
        raise CliError(f"model installed, but config.yaml would not be valid; not changed: {exc}") from exc
    tmp = cfg_path.with_suffix(cfg_path.suffix + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(cfg_path)
    print(f"{cfg_path}: voice.model_path = {value}, voice.engine = vosk")
    return 0


# -- recognize -----------------------------------------------------------------------------------


def read_wav_16k(path: Path, rate: int = 16000) -> bytes:
    """PCM of a WAV, converted to `rate` Hz mono 16-bit with sox when it is not already."""
    if not path.is_file():
        raise CliError(f"{path} is a folder, not a WAV file" if path.is_dir() else f"{path} does not exist")
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == rate:
                return w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        pass
    sox = shutil.which("sox")
    if not sox:
        raise CliError(f"{path} is not {rate} Hz mono 16-bit WAV and sox is not installed to convert it")
    proc = subprocess.run([sox, "-q", str(path), "-t", "raw", "-r", str(rate), "-c", "1", "-b", "16",
                           "-e", "signed-integer", "-"], capture_output=True)
    if proc.returncode != 0:
        raise CliError(f"{path}: cannot read audio: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout


def _recognize_engine(args, cfg):
    """(engine, loader) for `recognize`, the database holding the catalogue (imported when empty)."""
    from centre.catalogue import ensure_catalogue
    from centre.db import connect
    from voice.engines import make_engine
    from voice.recognizer import ModelLoader
    from voice.vietasr_engine import VietAsrLoader

    updates = {k: v for k, v in (("engine", args.engine), ("language", args.lang)) if v}
    if args.model:
        updates.update(model_path=Path(args.model), engine=args.engine or "vosk")
    if updates:
        cfg = cfg.model_copy(update={"voice": cfg.voice.model_copy(update=updates)})
    db_path = cfg.database_path
    conn = connect(db_path)
    try:
        shipped = not cfg.path(cfg.paths.catalogue).exists()  # a config copied elsewhere: the shipped catalogue
        ensure_catalogue(conn, None if shipped else cfg)
    except Exception as exc:  # recognition still works; the answer will be "not understood"
        print(f"warning: cannot import the catalogue: {exc}", file=sys.stderr)
    finally:
        conn.close()
    loader = VietAsrLoader() if cfg.voice.engine == "vietasr" else ModelLoader(cfg.path(cfg.voice.model_path))
    loader.start()
    if not loader.wait():
        raise CliError(loader.error or "the voice model could not be loaded")
    engine = make_engine(cfg, lambda: connect(db_path), loader, lang=args.lang,
                         use_grammar=False if args.no_grammar else None)
    return engine, loader


def cmd_recognize(args, ctx) -> int:
    cfg = ctx.config
    pcm = read_wav_16k(Path(args.wav), cfg.voice.sample_rate)
    engine, loader = _recognize_engine(args, cfg)
    t0 = time.perf_counter()
    result = engine.recognize_pcm(pcm)
    result.timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out = result.to_dict()
    out["engine"] = getattr(engine, "name", "vosk")
    out["model_load_s"] = round(loader.load_s or 0.0, 2)
    out["grammar"] = engine.grammar.report() if engine.uses_grammar and engine.grammar else "none (free decoding)"
    if args.json:
        print_json(out)
        return 0 if result.understood else 1
    _print_result(result, engine, out)
    return 0 if result.understood else 1


def _print_result(result, engine, out: dict) -> None:
    print(f"heard:      {result.text or '(nothing)'}")
    if result.understood:
        print(f"understood: {result.kind} {result.target} — {result.label} (score {result.score:.2f}, via {result.via})")
    else:
        print(f"not understood (best score {result.score:.2f} < {engine.min_score})")
        for c in result.candidates[:3]:
            print(f"  maybe:    {c['kind']} {c['target']} — {c['label']} ({c['score']:.2f})")
        if result.referral:
            print(f"  go to:    {result.referral}")
    t = result.timings
    print(f"timings:    audio {t.get('audio_s')} s, decode {t.get('decode_ms')} ms, end of speech → answer "
          f"{t.get('end_to_answer_ms')} ms; model load {out['model_load_s']} s")
    print(f"engine:     {out['engine']}; grammar: {out['grammar']}")


# -- say / devices ------------------------------------------------------------------------------------


def cmd_say(args, ctx) -> int:
    from voice.speech import Speaker, SpeechError, wav_duration

    if len(args.text) > MAX_SAY_CHARS:
        raise CliError(f"the text is {len(args.text):,} characters; `kiosk voice say` takes at most {MAX_SAY_CHARS:,}")
    cfg = ctx.config
    speaker = Speaker(cfg)
    try:
        path = speaker.synthesize_wav(args.text, args.lang)
    except SpeechError as exc:
        raise CliError(str(exc)) from exc
    if args.out:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
        except OSError as exc:
            raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"{out}: {wav_duration(out):.2f} s")
        return 0
    if not speaker.player.play(path):
        print(f"could not play (no audio output?); the speech is in {path}")
        return 1
    return 0


def cmd_devices(args, ctx) -> int:
    from voice.audio import AudioError, input_devices

    try:
        devices = input_devices()
    except AudioError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        for d in devices:
            print_json(d)
        return 0
    if not devices:
        print("no audio devices (no sound card): voice input and speech playback are off")
    for d in devices:
        mark = "*" if d["default_input"] else " "
        print(f"{mark}{d['index']:>3}  in {d['inputs']}  out {d['outputs']}  {d['default_rate']:.0f} Hz  {d['name']}")
    return 0


# -- doctor ------------------------------------------------------------------------------------------


def doctor(ctx) -> list[Check]:
    from voice.audio import check_input, check_output
    from voice.engines import engine_status
    from voice.speech import EspeakSynth, SubprocessPlayer

    cfg = ctx.config
    checks = []
    if not cfg.voice.enabled:
        checks.append(Check("microphone", True, "voice input disabled in config.yaml (voice.enabled: false)"))
    else:
        ok, msg = check_input(cfg)
        checks.append(Check("microphone", ok, msg))
        st = engine_status(cfg, load=True)
        msg = f"engine {st.engine}: {st.message}" + ("" if st.ok else " — the kiosk runs without voice")
        checks.append(Check("voice model", st.ok, msg))
    synth = EspeakSynth(cfg.speech)
    player = SubprocessPlayer()
    out_ok, out_msg = check_output()
    problems = []
    if not synth.available:
        problems.append("espeak-ng is not installed (apt-get install espeak-ng)")
    if not player.command:
        problems.append("no audio player (install alsa-utils or sox)")
    if not out_ok:
        problems.append(out_msg)
    if cfg.speech.enabled:
        msg = "; ".join(problems) if problems else f"espeak-ng voice {cfg.speech.voice_vi}, player {player.command[0]}, {out_msg}"
        checks.append(Check("speaker", not problems, msg))
    else:
        checks.append(Check("speaker", True, "speech disabled in config.yaml (speech.enabled: false)"))
    return checks
