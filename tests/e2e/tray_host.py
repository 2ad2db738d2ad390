#!/usr/bin/env python3
"""A stand-in tray for the GUI e2e (tests/e2e/gui.sh) and bench/footprint.sh.

A desktop's tray is a StatusNotifierWatcher on the session bus plus a host that draws the
registered items and their menus (com.canonical.dbusmenu). This script is both, without
drawing: it lets the tests use Porch's tray as a person would, through the same D-Bus calls
a panel makes.

    tray_host.py serve ITEMS        own org.kde.StatusNotifierWatcher; append each item that
                                    registers to ITEMS (one JSON line); prints "ready"
    tray_host.py menu ITEMS         print the newest item's menu as JSON lines
                                    ({"id", "label", "enabled", "checked"}); exit 1 if none
    tray_host.py click ITEMS LABEL  click the menu entry labelled LABEL (dbusmenu "clicked")
    tray_host.py activate ITEMS     a primary click on the icon (StatusNotifierItem.Activate)
    tray_host.py icon ITEMS         print the icon's sizes (IconPixmap) as WxH lines
"""

import json
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_call, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM_IFACE = "org.kde.StatusNotifierItem"
MENU_IFACE = "com.canonical.dbusmenu"
PROPS = "org.freedesktop.DBus.Properties"
DO_NOT_QUEUE = 4
PRIMARY_OWNER = 1


def serve(items_path: str) -> int:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(WATCHER, DO_NOT_QUEUE))
    if reply.body[0] != PRIMARY_OWNER:
        print(f"cannot own {WATCHER}: RequestName answered {reply.body[0]}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    items: list[str] = []
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        sender = msg.header.fields.get(HeaderFields.sender)
        if member == "RegisterStatusNotifierItem":
            (service,) = msg.body
            # An item names its bus name, or (libappindicator) only its object path.
            name, path = (sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
            items.append(f"{name}{path}")
            with open(items_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"service": name, "path": path, "sender": sender}) + "\n")
            print(f"registered: {name} {path}", flush=True)
            conn.send(new_method_return(msg))
        elif member == "RegisterStatusNotifierHost":
            conn.send(new_method_return(msg))
        elif member == "Get" and msg.body[:1] == (WATCHER,):
            prop = msg.body[1]
            values = {
                "RegisteredStatusNotifierItems": ("as", items),
                "IsStatusNotifierHostRegistered": ("b", True),
                "ProtocolVersion": ("i", 0),
            }
            if prop in values:
                conn.send(new_method_return(msg, "v", (values[prop],)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty"))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


def newest(items_path: str) -> dict:
    try:
        lines = [line for line in open(items_path, encoding="utf-8") if line.strip()]
    except FileNotFoundError:
        lines = []
    if not lines:
        raise SystemExit("no tray item has registered")
    return json.loads(lines[-1])


def call(conn, item: dict, path: str, iface: str, member: str, signature: str = "", body: tuple = ()):
    addr = DBusAddress(path, bus_name=item["service"], interface=iface)
    reply = conn.send_and_get_reply(new_method_call(addr, member, signature, body), timeout=10)
    if reply.header.message_type == MessageType.error:
        raise SystemExit(f"{iface}.{member} failed: {reply.header.fields.get(HeaderFields.error_name)} {reply.body}")
    return reply.body


def item_property(conn, item: dict, name: str):
    (value,) = call(conn, item, item["path"], PROPS, "Get", "ss", (ITEM_IFACE, name))
    return value[1]  # (signature, value)


def entries(conn, item: dict) -> list[dict]:
    menu_path = item_property(conn, item, "Menu")
    _revision, (_root, _props, children) = call(conn, item, menu_path, MENU_IFACE, "GetLayout", "iias", (0, -1, []))
    out = []
    for _sig, (entry_id, props, _children) in children:
        props = {k: v[1] for k, v in props.items()}
        if props.get("type") == "separator":
            continue
        out.append({
            "id": entry_id,
            "label": props.get("label", ""),
            "enabled": props.get("enabled", True),
            "checked": props.get("toggle-state", 0) == 1 if "toggle-type" in props else None,
        })
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    command, items_path = argv[1], argv[2]
    if command == "serve":
        return serve(items_path)
    item = newest(items_path)
    conn = open_dbus_connection(bus="SESSION")
    if command == "menu":
        for entry in entries(conn, item):
            print(json.dumps(entry))
    elif command == "click" and len(argv) == 4:
        found = [e for e in entries(conn, item) if e["label"] == argv[3]]
        if not found:
            raise SystemExit(f"no menu entry {argv[3]!r}")
        menu_path = item_property(conn, item, "Menu")
        call(conn, item, menu_path, MENU_IFACE, "Event", "isvu", (found[0]["id"], "clicked", ("i", 0), 0))
    elif command == "activate":
        call(conn, item, item["path"], ITEM_IFACE, "Activate", "ii", (0, 0))
    elif command == "icon":
        for width, height, data in item_property(conn, item, "IconPixmap"):
            assert len(data) == width * height * 4, (width, height, len(data))
            print(f"{width}x{height}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
