"""robot/protocol.py: frames, checksum, stream decoding and messages (issue 5). Pure: no port."""

from __future__ import annotations

import random
from pathlib import Path

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot import protocol as p

SAMPLES = [
    p.Encoder().message(p.hello_command(1, "KIOSK")),
    p.Encoder().message(p.goto(42, "counter_3")),
    p.Encoder().message(p.Command("DOCK", 99999)),
    p.Encoder().message(p.Command("CANCEL", 7)),
    p.Encoder().message(p.Command("STATQ", 8)),
    p.Encoder().message(p.Command("SAY", 9, ("FOLLOW_ME",))),
    p.Encoder().message(p.Command("CHECK", 10, ("counter_4",))),
    p.Encoder().message(p.Command("ESTOP", 11)),
    p.Encoder().message(p.Command("RESET", 12)),
    p.Encoder().frame("HB"),
    p.Encoder().message(p.Ack(42, p.AckCode.BUSY, "35")),
    p.Encoder().message(p.Heartbeat(p.RobotState.RETURNING, 100, 99999, p.GoalStatus.ABORTED, "LOCALIZATION_LOST")),
    p.Encoder().message(
        p.Status(p.RobotState.GUIDING, 87, 42, p.GoalStatus.ACTIVE, "FAILED_TO_DOCK", 123.4, 56.7, "counter_3", True)
    ),
    p.Encoder().message(p.Feedback(42, 12.3, 17.6)),
    p.Encoder().message(p.Result(42, p.GoalStatus.ABORTED, "UNKNOWN_WAYPOINT")),
    p.Encoder().message(p.Hello(1, "XVK-SIM", "a1b2c3d4", 0.7)),
]


@pytest.mark.parametrize("raw", SAMPLES, ids=lambda r: r.split(b",")[2].decode())
def test_every_frame_we_send_is_a_valid_nmea_proprietary_sentence(raw):
    assert len(raw) <= 82 and raw.endswith(b"\r\n")
    msg = pynmea2.parse(raw.decode("ascii").strip(), check=True)  # raises ChecksumError if wrong
    assert isinstance(msg, pynmea2.ProprietarySentence)
    assert msg.manufacturer == "XVK"
    assert p.decode_frame(raw).encode() == raw


def test_pynmea2_rejects_a_frame_with_a_flipped_byte():
    raw = bytearray(SAMPLES[1])
    raw[10] ^= 0x01
    with pytest.raises(pynmea2.ChecksumError):
        pynmea2.parse(raw.decode("ascii").strip(), check=True)
    with pytest.raises(p.FrameError) as exc:
        p.decode_frame(bytes(raw))
    assert exc.value.reason == "checksum"


def test_checksum_is_xor_of_body():
    assert p.checksum("AB") == 0x41 ^ 0x42
    assert p.checksum(b"") == 0
    assert p.encode_frame(0, "HB") == b"$PXVK,0,HB*%02X\r\n" % p.checksum("PXVK,0,HB")


@pytest.mark.parametrize(
    "fields, why",
    [
        (("a,b",), "comma"),
        (("a*b",), "star"),
        (("Quầy",), "non-ASCII"),
        (("x" * 80,), "too long"),
        (("a\r\n",), "control"),
    ],
)
def test_encoding_refuses_what_would_break_a_frame(fields, why):
    with pytest.raises(p.ProtocolError):
        p.encode_frame(1, "SAY", *fields)


def test_bad_waypoint_name_is_refused_before_sending():
    with pytest.raises(p.ProtocolError):
        p.goto(1, "counter 3")
    with pytest.raises(p.ProtocolError):
        p.goto(1, "")


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"$PXVK,1,HB*00\r\n", "checksum"),
        (b"PXVK,1,HB*00\r\n", "malformed"),
        (b"$PXVK,1,HB\r\n", "malformed"),
        (b"$GPGGA,1*" + b"%02X" % p.checksum("GPGGA,1") + b"\r\n", "foreign"),
        (b"$PXVK,x,HB*" + b"%02X" % p.checksum("PXVK,x,HB") + b"\r\n", "malformed"),
        (b"$" + b"A" * 90 + b"\r\n", "too_long"),
    ],
)
def test_decode_frame_names_the_reason(line, reason):
    with pytest.raises(p.FrameError) as exc:
        p.decode_frame(line)
    assert exc.value.reason == reason


def _stream(frames: list[bytes]) -> bytes:
    return b"".join(frames)


@st.composite
def frame_lists(draw):
    n = draw(st.integers(1, 12))
    enc = p.Encoder()
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["goto", "ack", "fb", "hb"]))
        i = draw(st.integers(1, p.MAX_COMMAND_ID))
        if kind == "goto":
            wp = draw(st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True))
            out.append(enc.message(p.goto(i, wp)))
        elif kind == "ack":
            out.append(enc.message(p.Ack(i, draw(st.sampled_from(list(p.AckCode))), "")))
        elif kind == "fb":
            out.append(enc.message(p.Feedback(i, draw(st.floats(0, 999)), draw(st.floats(0, 999)))))
        else:
            out.append(enc.frame("HB"))
    return out


@settings(max_examples=200, deadline=None)
@given(frames=frame_lists(), data=st.data())
def test_any_chunking_decodes_to_the_same_frames(frames, data):
    stream = _stream(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    dec = p.StreamDecoder()
    got = [f for c in chunks for f in dec.feed(c)]
    assert [f.encode() for f in got] == frames
    assert dec.dropped_total == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(blob):
    dec = p.StreamDecoder()
    for i in range(0, len(blob), 7):
        for f in dec.feed(blob[i : i + 7]):
            assert isinstance(f, p.Frame)


@settings(max_examples=100, deadline=None)
@given(frames=frame_lists(), noise=st.binary(max_size=40).filter(lambda b: b"$" not in b))
def test_noise_between_frames_is_counted_and_frames_survive(frames, noise):
    dec = p.StreamDecoder()
    got = dec.feed(noise + b"\r\n".join(frames) + noise)
    assert [f.encode() for f in got] == frames


def test_decoder_counts_drops_by_reason_and_resynchronises():
    good = p.Encoder().message(p.goto(5, "counter_1"))
    bad = bytearray(good)
    bad[12] ^= 0x20
    stream = (
        b"garbage"  # noise
        + good[:20]  # truncated by the next '$'
        + bytes(bad)  # checksum
        + b"$" + b"Z" * 100 + b"\r\n"  # too long, then skipped to the next $
        + good
    )
    dec = p.StreamDecoder()
    got = dec.feed(stream)
    assert [f.encode() for f in got] == [good]
    assert dec.dropped == {"noise": 1, "truncated": 1, "checksum": 1, "too_long": 1}


def test_corruption_is_always_caught():
    """A single corrupted byte anywhere never yields a wrong frame (XOR catches 1-byte errors)."""
    rng = random.Random(5)
    good = p.Encoder().message(p.Status(p.RobotState.GUIDING, 50, 3, p.GoalStatus.ACTIVE, "", 1.0, 2.0, "dock", False))
    for _ in range(2000):
        bad = bytearray(good)
        i = rng.randrange(len(bad))
        bad[i] = rng.choice([b for b in range(256) if b != bad[i]])
        dec = p.StreamDecoder()
        frames = dec.feed(bytes(bad) + good)
        assert all(f.encode() == good for f in frames)
        assert 1 <= len(frames) <= 2


def test_messages_round_trip():
    for msg in [
        p.Ack(3, p.AckCode.DENIED, "UNKNOWN_WAYPOINT"),
        p.Heartbeat(p.RobotState.DOCKED, 99, None, p.GoalStatus.NONE, ""),
        p.Status(p.RobotState.ESTOP, 40, 12, p.GoalStatus.ABORTED, "ESTOP_ACTIVE", 3.5, 4.0, "", True),
        p.Feedback(9, 4.5, 6.0),
        p.Result(9, p.GoalStatus.SUCCEEDED, ""),
        p.Hello(1, "XVK-SIM", "abc", 1.5),
    ]:
        raw = p.Encoder().message(msg)
        assert p.parse_robot_message(p.decode_frame(raw)) == msg
    cmd = p.goto(77, "counter_4")
    assert p.Command.from_frame(p.decode_frame(p.Encoder().message(cmd))) == cmd


@pytest.mark.parametrize(
    "raw_fields, type_",
    [(("0", "ACCEPTED"), "ACK"), (("5", ""), "ACK"), (("5", "ACTIVE", ""), "RESULT"), (("x", "1", "2"), "FB"),
     (("", "87"), "HB"), (("1", "M", ""), "HELLO")],
)
def test_bad_messages_raise_protocol_error(raw_fields, type_):
    f = p.decode_frame(p.encode_frame(1, type_, *raw_fields))
    with pytest.raises(p.ProtocolError):
        p.parse_robot_message(f)


def test_busy_ack_carries_seconds():
    assert p.Ack(1, p.AckCode.BUSY, "42").busy_s == 42.0
    assert p.Ack(1, p.AckCode.ACCEPTED).busy_s is None


def test_seq_tracker_counts_gaps_and_wraps():
    t = p.SeqTracker()
    for s in [997, 998, 0, 1, 4]:
        t.see(s)
    assert t.gaps == 1 + 2


# -- protocol 1.1 (issue 15) --------------------------------------------------------------------


def _parse(type_: str, *fields):
    return p.parse_robot_message(p.decode_frame(p.encode_frame(1, type_, *fields)))


def test_1_1_messages_round_trip_and_pass_pynmea2():
    for msg in [
        p.Heartbeat(p.RobotState.GUIDING, 87, 4711, p.GoalStatus.ACTIVE, "", boot_id="9f2c41d0", charging=False),
        p.Status(p.RobotState.DOCKED, 100, None, p.GoalStatus.NONE, "", 2.0, 2.0, "dock", False, heading=90.0),
        p.Feedback(4711, 9.1, None, p.Motion.WAITING, "VISITOR_LOST"),
        p.Hello(1, "XVK-SIM", "9f2c41d0", 0.7, 1, "SWVCR", "2026-11"),
        p.Waypoint(1, 8, "dock", 2.0, 2.0),
        p.Auth("a1b2c3d4", "81ca9f249f69c125"),
    ]:
        raw = p.Encoder().message(msg)
        assert p.parse_robot_message(p.decode_frame(raw)) == msg
        pynmea2.parse(raw.decode().strip(), check=True)


def test_empty_fields_mean_no_value_not_a_dropped_frame():
    """Issue 15 finding 3: an unlocalised robot, an empty battery or eta, an empty max speed."""
    st = _parse("STATUS", "IDLE", "", "", "NONE", "", "", "", "", "0", "")
    assert st.battery is None and st.x is None and st.y is None and not st.localised and st.heading is None
    fb = _parse("FB", "12", "", "")
    assert fb.distance_m is None and fb.eta_s is None and fb.motion is p.Motion.MOVING
    hello = _parse("HELLO", "1", "", "b1", "")
    assert hello.speed_mps is None and hello.minor == 0 and hello.capabilities == "S"
    hb = _parse("HB", "DOCKED", "", "", "", "")
    assert hb.battery is None and hb.goal_status is p.GoalStatus.NONE and hb.boot_id is None


def test_unknown_words_and_types_are_kept_not_dropped():
    hb = _parse("HB", "NAPPING", "50", "7", "PAUSED", "SOLAR_FLARE", "b1", "1", "VENDOR_EXTRA")
    assert hb.state == "NAPPING" and not p.known(hb.state) and hb.goal_status == "PAUSED"
    assert hb.reason == "SOLAR_FLARE" and hb.boot_id == "b1" and hb.charging is True
    assert not hb.goal_active and not hb.goal_terminal
    unknown = _parse("XDIAG", "12", "OK")
    assert isinstance(unknown, p.Unknown) and unknown.type == "XDIAG" and unknown.fields() == ("12", "OK")
    ack = _parse("ACK", "5", "MAYBE", "")
    assert ack.code is p.AckCode.FAILED and ack.detail == "MAYBE"


def test_a_long_status_empties_heading_waypoint_then_reason_and_keeps_the_estop_flag():
    """Section 4.5 (round 10, the second independent firmware): a STATUS too long for 82 bytes
    empties fields rather than leaving out trailing ones, so a latched e-stop stays latched when
    read back (before: the flag was cut with the heading and read as not latched)."""
    st = p.Status(p.RobotState.ESTOP, 100, 99999, p.GoalStatus.ABORTED, "LOCALIZATION_LOST", 123.4, 56.7,
                  "counter_16_chars", True, heading=359.0)
    raw = p.Encoder().message(st)
    assert len(raw) <= p.MAX_FRAME_BYTES
    back = p.parse_robot_message(p.decode_frame(raw))
    assert back.estop is True and back.state is p.RobotState.ESTOP
    assert back.heading is None and back.waypoint == ""  # emptied first
    assert (back.x, back.y) == (123.4, 56.7) and back.goal_id == 99999
    short = p.Status(p.RobotState.IDLE, 80, None, p.GoalStatus.NONE, "", 1.0, 2.0, "dock", False, heading=90.0)
    assert p.parse_robot_message(p.decode_frame(p.Encoder().message(short))) == short  # fits: untouched


def test_goto_lead_field():
    assert p.goto(5, "counter_1", True).fields() == ("5", "counter_1", "1")
    assert p.goto(5, "counter_1").fields() == ("5", "counter_1")


@pytest.mark.parametrize("text", ["0042", "042", "0", "+42", " 42", "4_2", "100000", "", "4a"])
def test_a_command_id_is_plain_digits_without_a_leading_zero(text):
    """Spec section 2 (A4 of tests/indep_robot2): `0042` is not the id 42 but a malformed id."""
    assert not p.valid_id(text)
    with pytest.raises(p.ProtocolError):
        p.Command.from_frame(p.decode_frame(p.encode_frame(1, "STATQ", text)))


def test_command_ids_one_to_99999_are_valid():
    assert all(p.valid_id(t) for t in ("1", "42", "99999"))
    assert p.Command.from_frame(p.decode_frame(p.encode_frame(1, "STATQ", "42"))).cmd_id == 42


def test_the_example_frames_of_section_4_2_decode_and_each_side_counts_up():
    """docs/robot-protocol.md 4.2 (A11 of tests/indep_robot2): every example is a valid frame and
    each side's seq numbers run in order."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "robot-protocol.md").read_text()
    block = text.split("Examples (real frames):", 1)[1].split("```")[1]
    frames = [p.decode_frame(line.split()[0].encode() + b"\r\n") for line in block.splitlines() if line]
    assert len(frames) >= 15
    kiosk_types = {"GOTO", "WPQ"}
    seqs: dict[str, list[int]] = {"kiosk": [], "robot": []}
    for f in frames:
        kiosk = (
            f.type in kiosk_types
            or (f.type == "HB" and not f.fields)
            or (f.type == "HELLO" and len(f.fields) == 5)
        )
        seqs["kiosk" if kiosk else "robot"].append(f.seq)
    assert all(s == sorted(set(s)) for s in seqs.values()), seqs
