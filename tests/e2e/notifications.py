#!/usr/bin/env python3
"""A stand-in desktop notification daemon for the GUI e2e (tests/e2e/gui.sh).

It owns `org.freedesktop.Notifications` on the private session bus gui.sh starts, answers
the calls a notification client makes, and appends each notification it is sent to a file
as one JSON line ({"app", "summary", "body"}), so the scenario can check what the
publisher would have seen. Prints "ready" once it owns the name.

Usage: notifications.py OUT.jsonl
"""

import json
import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
DO_NOT_QUEUE = 4
PRIMARY_OWNER = 1


def main(out_path: str) -> int:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, DO_NOT_QUEUE))
    if reply.body[0] != PRIMARY_OWNER:
        print(f"cannot own {NAME}: RequestName answered {reply.body[0]}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    next_id = 1
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            app, _replaces, _icon, summary, body, _actions, _hints, _timeout = msg.body
            with open(out_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"app": app, "summary": summary, "body": body}) + "\n")
            print(f"notification: {summary}: {body}", flush=True)
            conn.send(new_method_return(msg, "u", (next_id,)))
            next_id += 1
        elif member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["body"],)))
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("porch-e2e", "porch", "1", "1.2")))
        elif member == "CloseNotification":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
