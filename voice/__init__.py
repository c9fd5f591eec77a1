"""Offline voice for the kiosk: speech in (Vosk + a catalogue grammar + snapping) and speech out.

- `voice.grammar`: pure: phrases from the catalogue and `phrases/<lang>.yaml`, the model's
  vocabulary, the Vosk grammar, and snapping a transcript to the nearest phrase.
- `voice.recognizer`: the one Vosk model of the process (loaded in the background) and the
  recogniser that turns 16 kHz PCM into an `Interpretation`.
- `voice.audio`: microphone capture, voice-activity endpointing, level meter, `WavSource` (FakeMic).
- `voice.service`: `VoiceService`, the thread-safe API the kiosk UI uses (events by callback).
- `voice.speech`: text-to-speech to cached WAV files, Vietnamese number reading, a stoppable player.

See docs/voice.md.
"""
