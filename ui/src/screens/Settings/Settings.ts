// App settings: where Porch serves (address, port, LAN URLs, remote publishing), API keys
// (create, revoke, copy a ready `rsconnect add` command), SMTP for schedule emails, the
// data folder, runtime defaults, and (desktop) start at login.
//
// Address, port and remote publishing are start-up options of `porch serve` / the app;
// this pane shows them and the exact command line to change them.

import { toApiError } from "../../api/client";
import { apiKeys, createApiKey, putSmtp, revokeApiKey, rsconnectAdd, serverView, setSharingPaused, smtp } from "../../api/server";
import type { ServerView, SmtpView } from "../../api/types";
import type { Cleanup, Shell } from "../../app";
import { button, copyText, field, h } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";
import { autostart, isDesktop } from "../../platform";
import { forgetKey } from "../Login/Login";

export function mountSettings(root: HTMLElement, shell: Shell): Cleanup {
  root.replaceChildren(h("h1", { class: "page-title" }, "Settings"), h("p", { class: "muted loading" }, "Loading…"));
  void serverView().then(
    (s) => {
      root.replaceChildren(
        h("h1", { class: "page-title" }, "Settings"),
        card("Sharing", sharing(s, shell)),
        card("API keys", keys(s)),
        card("Email (SMTP)", smtpSection()),
        card("Runtime defaults", defaults(s)),
        card("This computer", machine(s)),
      );
    },
    (err) => root.replaceChildren(ErrorNote(err, "Settings could not be loaded")),
  );
  return () => {};
}

function card(title: string, body: HTMLElement): HTMLElement {
  const id = `set-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card settings-section", "aria-labelledby": id, "data-testid": id }, h("h2", { id }, title), body);
}

function sharing(s: ServerView, shell: Shell): HTMLElement {
  const pause = button(s.sharing_paused ? "Resume sharing" : "Pause sharing", () => {
    void setSharingPaused(!s.sharing_paused).then(
      (next) => {
        s.sharing_paused = next.sharing_paused;
        pause.textContent = next.sharing_paused ? "Resume sharing" : "Pause sharing";
        state.textContent = next.sharing_paused ? "Paused: other computers see a “paused” page" : "Sharing";
        toast(next.sharing_paused ? "Sharing paused" : "Sharing resumed");
      },
      (e) => toast(toApiError(e).message, "error"),
    );
  }, { testid: "pause-sharing" });
  const state = h("span", { "data-testid": "sharing-state" }, s.sharing_paused ? "Paused: other computers see a “paused” page" : "Sharing");
  return h(
    "div",
    {},
    h("div", { class: "toolbar" }, state, h("div", { class: "spacer" }), pause),
    h("dl", { class: "facts" },
      h("dt", {}, "Listening on"), h("dd", { "data-testid": "bind" }, s.bind ?? "not serving"),
      h("dt", {}, "Who can connect"), h("dd", {}, s.local_only ? "Only this computer" : "Everyone on your network"),
      h("dt", {}, "Addresses"), h("dd", {}, h("ul", { class: "plain", "data-testid": "lan-urls" }, ...s.viewer_urls.map((u) => h("li", {}, h("a", { href: u, onclick: (e: Event) => (e.preventDefault(), shell.open(u)) }, u))))),
      h("dt", {}, "Remote publishing"), h("dd", {}, s.allow_remote_publishing ? "On: other computers may publish with a key" : "Off: only this computer may publish"),
    ),
    h("p", { class: "muted small" }, "To change these, restart Porch with different options, e.g.:"),
    h("pre", { class: "cmd" }, `porch serve --bind ${s.local_only ? "0.0.0.0" : "127.0.0.1"} --port ${s.port ?? 3939}${s.allow_remote_publishing ? "" : " --allow-remote-publishing"}`),
  );
}

function keys(s: ServerView): HTMLElement {
  const box = h("div", {});
  const server = s.public_url ?? s.viewer_urls[0] ?? window.location.origin;
  const paint = async (fresh?: { name: string; key: string }) => {
    let list;
    try {
      list = await apiKeys();
    } catch (err) {
      box.replaceChildren(ErrorNote(err));
      return;
    }
    const name = h("input", { placeholder: "laptop", "data-testid": "key-name" }) as HTMLInputElement;
    const create = async () => {
      try {
        const k = await createApiKey(name.value.trim() || "key");
        await paint(k);
      } catch (err) {
        box.prepend(ErrorNote(err, "No key was created"));
      }
    };
    const cmd = fresh ? rsconnectAdd(server, fresh.key) : "";
    const parts: (HTMLElement | null)[] = [
      fresh
        ? h("div", { class: "note new-key", "data-testid": "new-key" },
            h("p", {}, `Key “${fresh.name}” created. It is shown only now:`),
            h("pre", { class: "cmd", "data-testid": "new-key-value" }, fresh.key),
            h("p", { class: "small" }, "Register this Porch with rsconnect:"),
            h("pre", { class: "cmd", "data-testid": "rsconnect-cmd" }, cmd),
            h("div", { class: "actions" }, button("Copy key", () => void copyText(fresh.key).then(() => toast("Key copied"))), button("Copy rsconnect command", () => void copyText(cmd).then(() => toast("Command copied")), { kind: "primary", testid: "copy-rsconnect" })),
          )
        : null,
      list.length === 0 ? h("p", { class: "muted small" }, "No keys.") : h("table", { class: "grid", "data-testid": "keys" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Created"), h("th", {}, ""))),
        h("tbody", {}, ...list.map((k) => h("tr", { "data-testid": "key-row" }, h("td", {}, k.name), h("td", {}, new Date(k.created_time).toLocaleString()), h("td", {}, button("Revoke", () => {
          if (!confirm(`Revoke “${k.name}”? Tools using it stop working.`)) return;
          void revokeApiKey(k.id).then(() => (toast("Key revoked"), paint()), (e) => box.prepend(ErrorNote(e)));
        }, { kind: "danger", testid: "revoke" }))))),
      ),
      h("div", { class: "row" }, field("key-name-f", "New key name", name, { hint: "Where it will be used, e.g. laptop or CI." })),
      h("div", { class: "actions" }, button("Create key", () => void create(), { kind: "primary", testid: "create-key" })),
      isDesktop() ? null : h("div", { class: "actions" }, button("Sign out of this browser", () => (forgetKey(), window.location.reload()), { kind: "quiet" })),
    ];
    box.replaceChildren(...parts.filter((x): x is HTMLElement => x !== null));
  };
  void paint();
  return box;
}

function smtpSection(): HTMLElement {
  const box = h("div", {});
  const paint = (v: SmtpView) => {
    const cur = "host" in v ? v : null;
    const host = h("input", { value: cur?.host ?? "", placeholder: "smtp.example.com" }) as HTMLInputElement;
    const port = h("input", { type: "number", value: cur?.port ?? 587 }) as HTMLInputElement;
    const security = h("select", {}, ...["starttls", "tls", "none"].map((o) => h("option", { value: o, selected: (cur?.security ?? "starttls") === o }, o))) as HTMLSelectElement;
    const user = h("input", { value: cur?.username ?? "", autocomplete: "off" }) as HTMLInputElement;
    const pass = h("input", { type: "password", autocomplete: "new-password", placeholder: cur?.password_set ? "(unchanged)" : "" }) as HTMLInputElement;
    const from = h("input", { value: cur?.from ?? "", placeholder: "porch@example.com" }) as HTMLInputElement;
    const owner = h("input", { value: cur?.owner ?? "", placeholder: "you@example.com" }) as HTMLInputElement;
    const save = async () => {
      box.querySelectorAll(".error-note").forEach((n) => n.remove());
      try {
        const body: Record<string, unknown> = { host: host.value.trim(), port: Number(port.value), security: security.value, username: user.value.trim() || null, from: from.value.trim(), owner: owner.value.trim() };
        if (pass.value) body.password = pass.value;
        paint(await putSmtp(body));
        toast("Email settings saved");
      } catch (err) {
        box.prepend(ErrorNote(err, "Not saved"));
      }
    };
    box.replaceChildren(
      h("p", { class: "muted small" }, cur ? "Schedules can email their results." : "Not set up: schedules cannot send email yet."),
      h("div", { class: "grid-form" }, field("smtp-host", "Server", host), field("smtp-port", "Port", port), field("smtp-sec", "Security", security), field("smtp-user", "User name", user), field("smtp-pass", "Password", pass, { hint: "Stored, never shown." }), field("smtp-from", "From address", from), field("smtp-owner", "Your address (failure reports)", owner)),
      h("div", { class: "actions" }, button("Save email settings", () => void save(), { kind: "primary" })),
    );
  };
  void smtp().then(paint, (e) => box.replaceChildren(ErrorNote(e)));
  return box;
}

function defaults(s: ServerView): HTMLElement {
  const d = s.runtime_defaults;
  return h("div", {},
    h("p", { class: "muted small" }, "What an app gets unless its own Runtime settings say otherwise (the same defaults as Posit Connect)."),
    h("dl", { class: "facts" }, ...Object.entries(d).flatMap(([k, v]) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, String(v))])),
  );
}

function machine(s: ServerView): HTMLElement {
  const box = h("div", {},
    h("dl", { class: "facts" },
      h("dt", {}, "Data folder"), h("dd", {}, h("code", { "data-testid": "data-dir" }, s.data_dir)),
      h("dt", {}, "Version"), h("dd", {}, `Porch ${s.version} (speaks Connect ${s.connect_version})`),
    ),
  );
  if (isDesktop()) {
    const check = h("input", { type: "checkbox", id: "autostart" }) as HTMLInputElement;
    void autostart.get().then((on) => (check.checked = on), () => (check.disabled = true));
    check.addEventListener("change", () => void autostart.set(check.checked).then(() => toast(check.checked ? "Porch starts at login" : "Porch no longer starts at login"), (e) => toast(toApiError(e).message, "error")));
    box.append(h("label", { class: "check" }, check, " Start Porch when I log in"));
  } else {
    box.append(h("p", { class: "muted small" }, "Start at login is set in the Porch app on the publishing computer."));
  }
  return box;
}
