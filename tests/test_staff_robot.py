"""The guide robots on the staff screens (issue 15): the staff server follows the kiosk's robot
events file (robot/events.py) and shows an e-stop at once; Reset goes back to the kiosk's escort
manager through the file's command table (admin-only, CSRF-protected, audited).

Fast tests use the real app on real SQLite files; the command channel test drives the real
escort manager against the simulated robot on a pty; the browser test (slow) uses Chromium.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time

import pytest
from staff_helpers import CHROMIUM, PASSWORDS, Centre, browser_login, chromium

from centre import audit
from robot import events as robot_events
from robot.escort import RobotAlert, RobotStatus
from staff.robot import RobotFeed


@pytest.fixture
def centre(tmp_config, tmp_path):
    return Centre(tmp_config, tmp_path / "centre.db")


def status(robot="robot-1", *, estop=False, available=True, reason="", battery=80):
    return RobotStatus(robot=robot, available=available, link_up=True, state="ESTOP" if estop else "DOCKED",
                       battery=battery, reason=reason, estop=estop)


def kiosk_log(cfg) -> robot_events.EventLog:
    """The kiosk process's side: the events file its escort manager writes."""
    return robot_events.EventLog(robot_events.default_path(cfg))


class States:
    """The 'state' events of an SSE response, read by a thread (a stuck stream fails the test, never hangs it)."""

    def __init__(self, response):
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, args=(response,), daemon=True).start()

    def _run(self, response):
        event = None
        with contextlib.suppress(Exception):  # the stream is closed at the end of the test
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "state":
                    self.q.put(json.loads(line[6:]))

    def next(self, timeout: float = 5.0) -> dict | None:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None


def test_feed_keeps_each_robots_latest_status_and_the_alerts(tmp_path):
    path = tmp_path / "robot-events.db"
    feed = RobotFeed(path)
    assert not feed.refresh() and feed.state()["robots"] == []  # no kiosk has run yet
    log = robot_events.EventLog(path)
    log(status(estop=True, available=False, reason="ESTOP_ACTIVE"))
    log(RobotAlert(robot="robot-1", alert="ESTOP", detail="e-stop pressed"))
    log(status("robot-2", available=False, reason="LOW_BATTERY", battery=12))
    assert feed.refresh()
    assert not feed.refresh()  # nothing new: two stat calls, no read
    st = feed.state()
    assert st["estop"] is True and [r["robot"] for r in st["robots"]] == ["robot-1", "robot-2"]
    assert st["robots"][1]["reason"] == "LOW_BATTERY" and st["robots"][1]["battery"] == 12
    assert st["alerts"][0]["alert"] == "ESTOP"
    log(status())  # reset: robot-1 free again
    assert feed.refresh() and feed.state()["estop"] is False
    # A fresh feed (server restarted) finds the same picture in the file.
    again = RobotFeed(path).snapshot()
    assert again["robots"] == feed.state()["robots"] and again["alerts"] == feed.state()["alerts"]
    log.close()


def test_status_api_and_stream_show_an_estop_within_a_second(centre):
    log = kiosk_log(centre.cfg)
    log(status())
    officer = centre.client("officer")
    st = officer.get("/api/robot/status").json()
    assert st["estop"] is False and st["robots"][0]["available"] is True
    with officer.stream("GET", "/api/robot/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        states = States(r)
        first = states.next()
        assert first and first["estop"] is False
        started = time.monotonic()
        log(status(estop=True, available=False, reason="ESTOP_ACTIVE"))
        log(RobotAlert(robot="robot-1", alert="ESTOP", detail="e-stop pressed"))
        st = states.next()
        while st is not None and not st["estop"]:
            st = states.next()
        elapsed = time.monotonic() - started
    assert st and st["estop"] is True and st["robots"][0]["reason"] == "ESTOP_ACTIVE"
    print(f"estop_to_sse_s={elapsed:.3f}")
    assert elapsed < 1.0, f"the e-stop took {elapsed:.2f} s to reach the staff stream"
    log.close()


def test_console_and_admin_pages_carry_the_robot_strip(centre):
    page = centre.client("officer").get("/console/1", headers={"Accept": "text/html"}).text
    assert 'id="robot-strip"' in page and 'data-admin="0"' in page and "/static/robot.js" in page
    texts = json.loads(page.split('<script id="robot-texts" type="application/json">')[1].split("</script>")[0])
    assert texts["robot_estop"].startswith("{robot}: DỪNG KHẨN CẤP")
    en = centre.client("admin").get("/admin/services?lang=en", headers={"Accept": "text/html"}).text
    assert 'data-admin="1"' in en and "EMERGENCY STOP" in en
    display = centre.client("display").get("/display", headers={"Accept": "text/html"}).text
    assert "robot-strip" not in display  # the hall TV never shows robot faults


def test_reset_is_admin_only_csrf_protected_audited_and_reaches_the_command_table(centre):
    path = robot_events.default_path(centre.cfg)
    assert centre.client("officer").post("/api/robot/reset", json={"robot": "robot-1"}).status_code == 403
    assert centre.client("display").post("/api/robot/reset", json={}).status_code == 403
    admin = centre.client("admin")
    forged = admin.post("/api/robot/reset", json={"robot": "robot-1"}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    assert admin.post("/api/robot/reset", json={"robot": "robot 1; DROP"}).status_code == 422
    assert robot_events.recent_commands(path) == []
    r = admin.post("/api/robot/reset", json={"robot": "robot-1"})
    assert r.status_code == 202 and r.json()["queued"] is True
    (cmd,) = robot_events.recent_commands(path)
    assert cmd["id"] == r.json()["command_id"] and cmd["command"] == "RESET" and cmd["robot"] == "robot-1"
    assert cmd["by"] == "admin:boss" and cmd["taken_at"] is None
    (entry,) = audit.entries(centre.conn, entity="robot")
    assert entry["action"] == "robot.reset" and entry["actor"] == "boss" and entry["after"] == {"command_id": cmd["id"]}
    # The kiosk side takes it once; its answer shows in the staff status.
    log = kiosk_log(centre.cfg)
    (taken,) = log.take_commands()
    assert taken["id"] == cmd["id"] and log.take_commands() == []
    log.command_done(cmd["id"], "ACCEPTED")
    st = centre.client("officer").get("/api/robot/status").json()
    assert st["commands"][0]["result"] == "ACCEPTED"
    log.close()


def test_stale_and_unknown_commands_are_not_carried_out(tmp_path):
    path = tmp_path / "robot-events.db"
    with pytest.raises(ValueError):
        robot_events.post_command(path, "GOTO")
    old = robot_events.post_command(path, "RESET", "robot-1", by="admin:boss")
    log = robot_events.EventLog(path)
    assert log.take_commands(now=time.time() + robot_events.COMMAND_TTL_S + 1) == []  # the kiosk started later
    (cmd,) = robot_events.recent_commands(path)
    assert cmd["id"] == old and cmd["result"] == "expired" and cmd["taken_at"] is not None
    log.close()


def test_the_running_escort_manager_carries_out_a_reset_posted_by_another_process(project_config, tmp_path):
    from robot import protocol as p
    from robot.escort import EscortManager
    from robot.sim import Faults, SimServer, make_robot

    path = tmp_path / "robot-events.db"
    faults = Faults()
    sim = SimServer(make_robot(project_config, faults=faults, speed_mps=30, dock_s=0.1, boot_s=0.2),
                    faults=faults).start()
    mgr = EscortManager(project_config, ports={"robot-1": sim.port}, event_log=path).start()
    try:
        assert mgr.wait_available(5)
        sim.press_estop()
        feed = RobotFeed(path)
        assert _until(lambda: feed.snapshot()["estop"])
        first = robot_events.post_command(path, "RESET", "robot-1", by="admin:boss")  # still pressed
        assert _until(lambda: (robot_events.recent_commands(path)[0]["result"] or "").startswith("DENIED"))
        assert sim.robot.state is p.RobotState.ESTOP
        sim.release_estop()
        second = robot_events.post_command(path, "RESET", None, by="admin:boss")
        assert _until(lambda: mgr.available, 5)
        results = {c["id"]: c["result"] for c in robot_events.recent_commands(path)}
        assert results[second] == "ACCEPTED" and results[first].startswith("DENIED")
        assert _until(lambda: not feed.snapshot()["estop"])  # the staff banner goes away by itself
    finally:
        mgr.close()
        sim.stop()


def _until(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="apt install chromium")
def test_browser_banner_appears_within_a_second_and_reset_is_sent(tmp_config, artifacts):
    from playwright.sync_api import expect

    from centre import users
    from centre.db import connect
    from staff.server import free_port, start_in_thread

    cfg = tmp_config
    handle = start_in_thread(cfg, host="127.0.0.1", port=free_port())
    conn = connect(cfg.database_path)
    users.create_user(conn, "boss", "admin", PASSWORDS["boss"])
    log = kiosk_log(cfg)
    log(status())
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            browser_login(page, handle.url, "boss", "/admin/services")
            expect(page.locator("#robot-strip .robot-ok")).to_contain_text("robot-1: sẵn sàng")
            started = time.monotonic()
            log(status(estop=True, available=False, reason="ESTOP_ACTIVE"))
            banner = page.locator("#robot-strip .robot-estop")
            banner.wait_for(state="visible", timeout=1000)
            elapsed = time.monotonic() - started
            print(f"estop_to_banner_s={elapsed:.3f}")
            assert elapsed < 1.0, f"banner after {elapsed:.2f} s"
            expect(banner).to_contain_text("DỪNG KHẨN CẤP")
            color = banner.evaluate("e => getComputedStyle(e).backgroundColor")
            assert color in ("rgb(198, 40, 40)", "rgb(142, 0, 0)")  # red (blinking at first)
            page.screenshot(path=str(artifacts / "staff-robot-estop.png"))
            banner.locator("button.robot-reset").click()
            assert _until(lambda: robot_events.recent_commands(robot_events.default_path(cfg)), 3)
            (taken,) = log.take_commands()
            log.command_done(taken["id"], "DENIED ESTOP_ACTIVE")
            expect(banner.locator(".robot-answer")).to_contain_text("nút dừng khẩn cấp vẫn đang bấm")
            log(status())  # released and reset at the robot
            expect(page.locator("#robot-strip .robot-estop")).to_have_count(0, timeout=1000)
    finally:
        log.close()
        handle.stop()
