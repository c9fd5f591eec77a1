"""The guide robots on the staff screens (issue 15): status, live updates and the e-stop Reset.

The robot link lives in the kiosk process; this server reads the robot events file it writes
(staff/robot.py) and sends Reset through that file's command table (robot/events.py), which
the kiosk's escort manager polls. Officers and admins see the status; only admins reset.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from centre import audit
from robot import events as robot_events
from staff.auth import Principal, client_address, require
from staff.events import SlotStreamingResponse
from staff.robot import robot_stream

router = APIRouter(prefix="/api/robot", tags=["robot"])
WATCHERS = require("admin", "officer")
ADMIN = require("admin")
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class ResetRequest(BaseModel):
    robot: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="robot name; null: every robot")


@router.get("/status", summary="The guide robots: latest status of each (e-stop, battery, reason), recent alerts "
                               "and Reset commands")
def robot_status(request: Request, who: Principal = Depends(WATCHERS)):
    return request.app.state.staff.robot_feed.snapshot()


@router.get("/events", summary="The robots' status, pushed when it changes (server-sent events, 'state')",
            response_class=StreamingResponse)
async def robot_events_stream(request: Request, who: Principal = Depends(WATCHERS)):
    staff = request.app.state.staff
    slot = staff.broker.admit("staff", session=who.login_key)
    body = robot_stream(staff.broker, staff.robot_feed, request, executor=staff.broker.staff_executor)
    return SlotStreamingResponse(body, slot, media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/reset", status_code=202, summary="Clear a latched e-stop (the kiosk's robot link carries it out "
                                                "within a second; refused by the robot while the button is pressed)")
def robot_reset(body: ResetRequest, request: Request, who: Principal = Depends(ADMIN)):
    staff = request.app.state.staff
    command_id = robot_events.post_command(staff.robot_events_path, "RESET", body.robot, by=who.actor)
    audit.record(staff.conn(), who.user.name, "robot.reset", entity="robot", key=body.robot or "*",
                 after={"command_id": command_id}, address=client_address(request), now=staff.now())
    staff.broker.poke()
    return {"command_id": command_id, "robot": body.robot, "queued": True}
