// App settings: where Porch serves (address, port, LAN URLs, remote publishing), API keys
// (create, revoke, copy a ready `rsconnect add` command), SMTP for schedule emails, the
// data folder, runtime defaults, and (desktop) start at login.
//
// Address and port are saved here and used when Porch next starts (the desktop app offers
// to restart at once; a `--port`/`--bind` flag wins over them). Remote publishing and the
// runtime defaults apply as soon as they are saved. The Power card shows whether Porch keeps
// the computer awake now and why (or why it cannot), above the keep-awake setting; the Apps
// card shows the pre-imported Python helpers running now, with their memory, above their switch.

import { toApiError } from "../../api/client";
import { apiKeys, createApiKey, deleteLogo, putLogo, putSmtp, pythonHelpers, revokeApiKey, rsconnectAdd, saveServerSettings, serverView, setSharingPaused, smtp } from "../../api/server";
import { listContent } from "../../api/content";
import { HELPER_MEMORY_NOTE, PythonHelpers } from "../../components/PythonHelpers";
import { ApiError } from "../../api/client";
import type { ServerView, SmtpView } from "../../api/types";
import type { Cleanup, Shell } from "../../app";
import { button, copyText, field, h } from "../../components/dom";
import { ErrorNote, replaceError } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";
import { autostart, isDesktop, restartApp } from "../../platform";
import { RuntimeFields } from "../../components/RuntimeFields";
import { SettingField } from "../../components/SettingField";
import { forgetKey } from "../Login/Login";
import * as awake from "../../lib/awake";
import { everyWhileVisible } from "../../lib/visible";
import { Reachability } from "./Reachability";

export function mountSettings(root: HTMLElement, shell: Shell): Cleanup {
  root.replaceChildren(h("h1", { class: "page-title" }, "Settings"), h("p", { class: "muted loading" }, "Loading…"));
  void serverView().then(
    (s) => {
      root.replaceChildren(
        h("h1", { class: "page-title" }, "Settings"),
        card("Sharing", sharing(s, shell)),
        card("Reachability", Reachability()),
        ...registrySections(s),
        card("API keys", keys(s)),
        card("Email (SMTP)", smtpSection()),
        card("Runtime defaults", defaults(s, shell)),
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

/** The gallery's logo: an image, so it has its own endpoint rather than a registry entry. */
function galleryLogo(): HTMLElement {
  const logo = h("input", { type: "file", id: "gallery-logo", accept: "image/png,image/jpeg,image/gif,image/webp", "data-testid": "gallery-logo" }) as HTMLInputElement;
  const error = h("div", {});
  logo.addEventListener("change", () => {
    const f = logo.files?.[0];
    if (!f) return;
    error.replaceChildren();
    void putLogo(f).then(() => toast("Logo saved", "ok"), (e) => error.replaceChildren(ErrorNote(e, "The logo was refused")));
  });
  const remove = button("Remove logo", () => void deleteLogo().then(() => toast("Logo removed"), (e) => error.replaceChildren(ErrorNote(e))), { testid: "gallery-logo-remove" });
  return h("div", { class: "subsection" }, h("label", { for: "gallery-logo" }, "Logo"), h("div", {}, logo, " ", remove), error);
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
      h("dt", {}, "Name on the network"), h("dd", { "data-testid": "network-name" }, s.network_name.note, ...(s.network_name.responder_why ? [h("div", { class: "muted small", "data-testid": "network-responder" }, s.network_name.responder_why)] : [])),
      h("dt", {}, "Addresses"), h("dd", {}, h("ul", { class: "plain", "data-testid": "lan-urls" }, ...s.viewer_urls.map((u) => h("li", {}, h("a", { href: u, onclick: (e: Event) => (e.preventDefault(), shell.open(u)) }, u))))),
    ),
    addressForm(s),
    remotePublishing(s),
  );
}

/** Port and who can connect: saved now, used when Porch next starts. */
function addressForm(s: ServerView): HTMLElement {
  const box = h("div", { class: "subsection", "data-testid": "address-form" });
  const paint = (v: ServerView) => {
    const cur = v.settings;
    const port = h("input", { type: "number", min: 1, max: 65535, step: 1, value: cur.port, "data-testid": "set-port" }) as HTMLInputElement;
    const radio = (value: "network" | "local", label: string) =>
      h("label", { class: "check" }, h("input", { type: "radio", name: "bind-scope", value, checked: cur.bind === value, "data-testid": `set-bind-${value}` }), ` ${label}`);
    const notes: HTMLElement[] = [];
    if (cur.listen_flags.length > 0) {
      notes.push(h("p", { class: "muted small", "data-testid": "listen-flags" }, `This run was started with ${cur.listen_flags.join(" and ")}; the saved address applies when Porch starts without ${cur.listen_flags.length > 1 ? "them" : "it"}.`));
    }
    if (cur.restart_needed) {
      const where = `${cur.bind === "local" ? "this computer only" : "your network"}, port ${cur.port}`;
      notes.push(h("div", { class: "note", role: "status", "data-testid": "restart-needed" },
        h("p", {}, `Saved: Porch will listen on ${where} the next time it starts.`),
        isDesktop()
          ? h("div", { class: "actions" }, button("Restart Porch now", () => void restartApp().catch((e) => toast(toApiError(e).message, "error")), { kind: "primary", testid: "restart-now" }))
          : h("p", { class: "muted small" }, "Restart Porch on the publishing computer to use it."),
      ));
    }
    const save = async () => {
      box.querySelectorAll(".error-note").forEach((n) => n.remove());
      const n = Number(port.value);
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        replaceError(box, ErrorNote(new ApiError("InvalidRequest", `the port must be a whole number from 1 to 65535, not “${port.value}”`), "Not saved"));
        return;
      }
      const bind = (box.querySelector('input[name="bind-scope"]:checked') as HTMLInputElement | null)?.value ?? cur.bind;
      try {
        const next = await saveServerSettings({ port: n, bind });
        toast(next.settings.restart_needed ? "Saved: applies when Porch restarts" : "Address saved");
        paint(next);
      } catch (err) {
        replaceError(box, ErrorNote(err, "Not saved"));
      }
    };
    box.replaceChildren(
      h("fieldset", { class: "radios" }, h("legend", {}, "Who can connect"), radio("network", "Everyone on your network"), radio("local", "Only this computer")),
      h("div", { class: "row row-narrow" }, field("set-port-f", "Port", port, { hint: "Viewers add it to the address, e.g. :3939. Used when Porch next starts." })),
      ...notes,
      h("div", { class: "actions" }, button("Save address", () => void save(), { kind: "primary", testid: "save-address" })),
    );
  };
  paint(s);
  return box;
}

/** Publishing from other computers with a key: applies at once. */
function remotePublishing(s: ServerView): HTMLElement {
  const check = h("input", { type: "checkbox", id: "remote-publishing", checked: s.allow_remote_publishing, disabled: s.settings.remote_publishing_flag, "data-testid": "remote-publishing" }) as HTMLInputElement;
  const state = h("p", { class: "muted small", id: "remote-publishing-hint" }, "");
  check.setAttribute("aria-describedby", "remote-publishing-hint");
  const describe = (on: boolean) => {
    state.textContent = s.settings.remote_publishing_flag
      ? "On for this run: Porch was started with --allow-remote-publishing."
      : on
        ? "Other computers may publish and manage content with an API key."
        : "Only this computer may publish; other computers can only view.";
  };
  describe(s.allow_remote_publishing);
  check.addEventListener("change", () => {
    const on = check.checked;
    void saveServerSettings({ allow_remote_publishing: on }).then(
      (next) => (describe(next.allow_remote_publishing), toast(on ? "Remote publishing on" : "Remote publishing off")),
      (e) => ((check.checked = !on), toast(toApiError(e).message, "error")),
    );
  });
  return h("div", { class: "subsection" }, h("label", { class: "check" }, check, " Allow publishing from other computers (with an API key)"), state);
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
        replaceError(box, ErrorNote(err, "No key was created"));
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
          void revokeApiKey(k.id).then(() => (toast("Key revoked"), paint()), (e) => replaceError(box, ErrorNote(e)));
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
    const caFile = h("input", { value: cur?.ca_file ?? "", placeholder: "/etc/ssl/certs/company-ca.pem", autocomplete: "off", "data-testid": "smtp-ca-file" }) as HTMLInputElement;
    const save = async () => {
      box.querySelectorAll(".error-note").forEach((n) => n.remove());
      try {
        const body: Record<string, unknown> = { host: host.value.trim(), port: Number(port.value), security: security.value, username: user.value.trim() || null, from: from.value.trim(), owner: owner.value.trim(), ca_file: caFile.value.trim() || null };
        if (pass.value) body.password = pass.value;
        paint(await putSmtp(body));
        toast("Email settings saved");
      } catch (err) {
        replaceError(box, ErrorNote(err, "Not saved"));
      }
    };
    box.replaceChildren(
      h("p", { class: "muted small" }, cur ? "Schedules can email their results." : "Not set up: schedules cannot send email yet."),
      h("div", { class: "grid-form" }, field("smtp-host", "Server", host), field("smtp-port", "Port", port), field("smtp-sec", "Security", security), field("smtp-user", "User name", user), field("smtp-pass", "Password", pass, { hint: "Stored, never shown." }), field("smtp-from", "From address", from), field("smtp-owner", "Your address (failure reports)", owner), field("smtp-ca", "CA file", caFile, { hint: "Only for a mail server whose certificate your company's CA signs: the full path of a PEM file, trusted with the public roots." })),
      h("div", { class: "actions" }, button("Save email settings", () => void save(), { kind: "primary" })),
    );
  };
  void smtp().then(paint, (e) => box.replaceChildren(ErrorNote(e)));
  return box;
}

function defaults(s: ServerView, shell: Shell): HTMLElement {
  const box = h("div", { "data-testid": "runtime-defaults" });
  const paint = (v: ServerView) => {
    const builtin = v.settings.builtin_runtime_defaults;
    const changed = new Set(v.settings.changed_runtime_defaults);
    const { grid, read } = RuntimeFields("def", (k) => (changed.has(k) ? v.runtime_defaults[k] : null), (k) => `${builtin[k]} (Connect's default)`);
    const save = async () => {
      box.querySelectorAll(".error-note").forEach((n) => n.remove());
      try {
        const next = await saveServerSettings({ runtime_defaults: read() });
        if (shell.server) shell.server.runtime_defaults = next.runtime_defaults;
        toast("Runtime defaults saved");
        paint(next);
      } catch (err) {
        replaceError(box, ErrorNote(err, "Not saved"));
      }
    };
    box.replaceChildren(
      h("p", { class: "muted small" }, "What an app gets unless its own Runtime settings say otherwise. Empty fields use Posit Connect's defaults, shown in grey. Changes apply to running apps at once."),
      grid,
      h("div", { class: "actions" }, button("Save runtime defaults", () => void save(), { kind: "primary", testid: "save-defaults" })),
    );
  };
  paint(s);
  return box;
}

/** Sections the pane has no hand-made card for (sharing and runtime defaults have one). */
const HAND_MADE = new Set(["sharing", "runtime"]);

/** What a registry section's card shows below its fields, where a setting is not a value. */
const SECTION_EXTRAS: Record<string, () => HTMLElement> = { gallery: galleryLogo };

/** What a registry section's card shows above its fields: the state its settings steer. */
const SECTION_INTROS: Record<string, (s: ServerView) => HTMLElement> = { power: keepAwakeStatus, apps: pythonHelpersNow };

/** How often the Python helpers are read again while they are shown (memory, expiry). */
const HELPERS_REFRESH_MS = 10_000;

/** The pre-imported Python helpers now, server-wide: one per Python environment. */
function pythonHelpersNow(): HTMLElement {
  const box = h("div", { class: "subsection", "data-testid": "python-helpers-now" }, h("p", { class: "muted small" }, "Loading…"));
  let titles: Promise<Map<string, string>> | null = null;
  const paint = async () => {
    try {
      const helpers = await pythonHelpers();
      if (helpers.some((x) => x.items.length > 0)) {
        titles ??= listContent().then((cs) => new Map(cs.map((c) => [c.guid, c.title || c.name])), () => new Map());
      }
      const names = titles ? await titles : new Map<string, string>();
      box.replaceChildren(
        h("h3", {}, "Python helpers"),
        helpers.length === 0
          ? h("p", { class: "muted small", "data-testid": "no-python-helpers" }, "None: a helper starts when a Streamlit, FastAPI, Dash or Shiny for Python app is deployed, and stops 24 hours after the last view of the apps it serves.")
          : h("div", {},
              PythonHelpers(helpers, (g) => h("a", { href: `#/item/${encodeURIComponent(g)}/processes` }, names.get(g) ?? g)),
              h("p", { class: "muted small" }, HELPER_MEMORY_NOTE),
            ),
      );
    } catch (err) {
      box.replaceChildren(ErrorNote(err, "The Python helpers could not be read"));
    }
  };
  void paint();
  const stop = everyWhileVisible(() => {
    if (!box.isConnected) return stop();
    void paint();
  }, HELPERS_REFRESH_MS);
  return box;
}

/** How often the keep-awake state is read again while it is shown (sessions come and go). */
const KEEP_AWAKE_REFRESH_MS = 10_000;

/** Keep-awake now: holding or not, each reason with its item, the power source, or why it cannot work. */
function keepAwakeStatus(s: ServerView): HTMLElement {
  const box = h("div", { class: "subsection", "data-testid": "keep-awake", role: "status" });
  const paint = (v: ServerView) => {
    const k = v.keep_awake;
    box.replaceChildren(
      h("p", {}, h("strong", { "data-testid": "keep-awake-state", "data-state": k.state }, awake.headline(k))),
      h("ul", { class: "plain small", "data-testid": "keep-awake-details" }, ...awake.details(k).map((line) => h("li", {}, line))),
      h("p", { class: "muted small" }, "Closing a laptop's lid still suspends it on most systems: systemd-logind ignores inhibitors for the lid switch unless its own settings say otherwise."),
    );
  };
  paint(s);
  const stop = everyWhileVisible(() => {
    if (!box.isConnected) return stop();
    void serverView().then(paint, () => {});
  }, KEEP_AWAKE_REFRESH_MS);
  return box;
}

/** One card per other section of the settings registry, each field drawn from its entry. */
function registrySections(s: ServerView): HTMLElement[] {
  const sections = [...new Set(s.settings.entries.map((e) => e.section))].filter((x) => !HAND_MADE.has(x));
  return sections.map((section) => {
    const box = h("div", { "data-testid": `settings-${section}` });
    const paint = (v: ServerView) => {
      const fields = v.settings.entries.filter((e) => e.section === section).map((e) => ({ entry: e, ...SettingField(e) }));
      const save = async () => {
        box.querySelectorAll(".error-note").forEach((n) => n.remove());
        try {
          const next = await saveServerSettings(Object.fromEntries(fields.map((f) => [f.entry.name, f.read()])));
          toast("Settings saved");
          paint(next);
        } catch (err) {
          replaceError(box, ErrorNote(err, "Not saved"));
        }
      };
      box.replaceChildren(...fields.map((f) => f.el), h("div", { class: "actions" }, button("Save", () => void save(), { kind: "primary", testid: `save-${section}` })));
    };
    paint(s);
    const extra = SECTION_EXTRAS[section];
    const intro = SECTION_INTROS[section];
    const body = extra || intro ? h("div", {}, ...(intro ? [intro(s)] : []), box, ...(extra ? [extra()] : [])) : box;
    return card(section.charAt(0).toUpperCase() + section.slice(1).replace(/_/g, " "), body);
  });
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
