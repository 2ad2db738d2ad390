// The item's settings pane: title, vanity path, access, link to a folder, runtime settings
// (apps), schedules and variants (documents), environment variables (write-only), delete.
//
// Access, folder links and variants are served by endpoints that may not exist on this
// server yet; their sections then say "not available" instead of failing the pane.

import { ApiError, toApiError } from "../../api/client";
import * as api from "../../api/content";
import type { ContentView, RuntimeDefaults, ScheduleView, ViewerAccess } from "../../api/types";
import type { Cleanup, Shell } from "../../app";
import { button, copyText, field, h } from "../../components/dom";
import { ErrorNote, replaceError } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";
import { runtimeKind } from "../../lib/format";
import { ScheduleEditor } from "./ScheduleEditor";
import { RuntimeFields } from "../../components/RuntimeFields";

export function mountItemSettings(root: HTMLElement, shell: Shell, c: ContentView): Cleanup {
  const kind = runtimeKind(c.app_mode);
  const sections: (HTMLElement | null)[] = [
    section("General", generalSection(c)),
    kind === "rendered" ? section("Schedule", schedulesSection(c)) : null,
    kind === "interactive" ? section("Runtime", runtimeSection(c, shell.server?.runtime_defaults ?? null)) : null,
    section("Environment variables", envSection(c)),
    section("Vanity path", vanitySection(c)),
    section("Who can view", accessSection(c)),
    section("Link to a folder", linkSection(c)),
    kind === "rendered" ? section("Parameters and variants", variantsSection(c)) : null,
    section("Delete", deleteSection(c, shell)),
  ];
  root.replaceChildren(...sections.filter((x): x is HTMLElement => x !== null));
  return () => {};
}

function section(title: string, body: HTMLElement): HTMLElement {
  const id = `sec-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card settings-section", "aria-labelledby": id, "data-testid": id }, h("h2", { id }, title), body);
}

function unavailable(what: string): HTMLElement {
  return h("p", { class: "muted small", "data-testid": "not-available" }, `${what} is not available on this Porch server yet.`);
}

function generalSection(c: ContentView): HTMLElement {
  const title = h("input", { value: c.title ?? "", "data-testid": "set-title" }) as HTMLInputElement;
  const desc = h("textarea", { rows: 2, value: c.description }) as HTMLTextAreaElement;
  const box = h("div", {});
  box.append(
    field("set-title-f", "Title", title),
    field("set-desc-f", "Description", desc),
    h("div", { class: "actions" }, button("Save", () => void api.patchContent(c.guid, { title: title.value.trim(), description: desc.value }).then((saved) => {
      toast("Saved");
      // The page's heading shows the saved title at once, not after a tab change.
      const heading = document.querySelector('[data-testid="item-title"]');
      if (heading) heading.textContent = saved.title || saved.name;
    }, (e) => replaceError(box, ErrorNote(e))), { kind: "primary" })),
  );
  return box;
}

function vanitySection(c: ContentView): HTMLElement {
  const current = c.vanity_url ? new URL(c.vanity_url).pathname : "";
  const input = h("input", { value: current, placeholder: "/sales/", spellcheck: "false", "data-testid": "set-vanity" }) as HTMLInputElement;
  const box = h("div", {});
  const save = async () => {
    box.querySelector(".error-note")?.remove();
    try {
      if (input.value.trim() === "") await api.clearVanity(c.guid);
      else await api.setVanity(c.guid, input.value.trim());
      toast(input.value.trim() ? "Vanity path saved" : "Vanity path removed");
    } catch (err) {
      replaceError(box, ErrorNote(err, "The vanity path was not saved"));
    }
  };
  box.append(field("set-vanity-f", "Path", input, { hint: "Viewers can also open the item at this address. Leave empty for none." }), h("div", { class: "actions" }, button("Save path", () => void save(), { kind: "primary", testid: "save-vanity" })));
  return box;
}

function accessSection(c: ContentView): HTMLElement {
  const current = (c as ContentView & { viewer_access?: ViewerAccess }).viewer_access;
  if (current === undefined) return unavailable("Choosing who can view");
  const box = h("div", {});
  const linkOut = h("p", { class: "small" });
  const radio = (value: ViewerAccess, label: string, hint: string) =>
    h("label", { class: "check radio" }, h("input", { type: "radio", name: "viewer-access", value, checked: current === value, onchange: () => void change(value) }), ` ${label}`, h("span", { class: "muted small" }, ` — ${hint}`));
  const change = async (value: ViewerAccess) => {
    try {
      await api.setViewerAccess(c.guid, value);
      toast("Access changed");
    } catch (err) {
      replaceError(box, ErrorNote(err));
    }
  };
  const makeLink = async () => {
    try {
      const r = await api.secretLink(c.guid);
      linkOut.replaceChildren("Secret link: ", h("code", { "data-testid": "secret-link" }, r.url), " ", button("Copy", () => void copyText(r.url).then(() => toast("Link copied")), { kind: "quiet" }));
    } catch (err) {
      if (api.isMissingEndpoint(err)) linkOut.replaceChildren(unavailable("Secret links"));
      else replaceError(box, ErrorNote(err));
    }
  };
  box.append(
    h("fieldset", {}, h("legend", { class: "sr-only" }, "Who can view"),
      radio("network", "Anyone on the network", "everyone who can reach this computer"),
      radio("local", "Only this computer", "viewers elsewhere get an error page"),
      radio("link", "People with the secret link", "the link carries a token; regenerate it to lock out old links"),
    ),
    h("div", { class: "actions" }, button("New secret link", () => void makeLink()), button("Revoke link", () => void api.revokeSecretLink(c.guid).then(() => (linkOut.textContent = "Link revoked."), (e) => replaceError(box, ErrorNote(e))), { kind: "quiet" })),
    linkOut,
  );
  return box;
}

function linkSection(c: ContentView): HTMLElement {
  const box = h("div", {}, h("p", { class: "muted small" }, "Loading…"));
  const paint = async () => {
    let link = null;
    try {
      link = await api.getLink(c.guid);
    } catch (err) {
      if (api.isMissingEndpoint(err)) return box.replaceChildren(unavailable("Linking to a folder"));
      if (toApiError(err).code !== "NotFound") return box.replaceChildren(ErrorNote(err));
    }
    const input = h("input", { value: link?.path ?? "", placeholder: "/home/me/projects/report", spellcheck: "false" }) as HTMLInputElement;
    box.replaceChildren(
      link
        ? h("p", { class: "small" }, `Watching ${link.path}: `, h("strong", {}, link.status), link.error ? h("span", { class: "field-error" }, ` — ${link.error}`) : "", link.last_redeploy ? ` · last redeploy ${link.last_redeploy} (${link.last_result ?? "?"})` : "")
        : h("p", { class: "muted small" }, "Not linked. Link a folder and Porch redeploys whenever its files change."),
      field("link-path-f", "Folder on this computer", input),
      h("div", { class: "actions" },
        button(link ? "Change folder" : "Link folder", () => void api.putLink(c.guid, input.value.trim()).then(() => (toast("Folder linked"), paint()), (e) => replaceError(box, ErrorNote(e))), { kind: "primary" }),
        link ? button("Unlink", () => void api.deleteLink(c.guid).then(() => (toast("Unlinked"), paint()), (e) => replaceError(box, ErrorNote(e))), { kind: "quiet" }) : null,
      ),
    );
  };
  void paint();
  return box;
}

function runtimeSection(c: ContentView, defaults: RuntimeDefaults | null): HTMLElement {
  const box = h("div", {});
  const current = c as unknown as Record<string, number | null>;
  const { grid, read } = RuntimeFields("rt", (k) => current[k] ?? null, (k) => (defaults ? `${defaults[k]} (default)` : "default"));
  const save = async () => {
    box.querySelectorAll(".error-note").forEach((n) => n.remove());
    const patch = read();
    const eff = (k: keyof RuntimeDefaults) => patch[k] ?? defaults?.[k] ?? null;
    const problems: string[] = [];
    for (const [k, v] of Object.entries(patch)) if (v !== null && (!Number.isFinite(v) || v < 0)) problems.push(`${k} must be 0 or more`);
    if (patch.load_factor !== null && patch.load_factor !== undefined && patch.load_factor > 1) problems.push("load_factor must be between 0 and 1");
    const min = eff("min_processes");
    const max = eff("max_processes");
    if (min !== null && max !== null && min > max) problems.push(`minimum processes (${min}) must not exceed maximum (${max})`);
    if (problems.length > 0) {
      replaceError(box, ErrorNote(new ApiError("InvalidRequest", problems.join("; "))));
      return;
    }
    try {
      await api.patchContent(c.guid, patch);
      toast("Runtime settings saved");
    } catch (err) {
      replaceError(box, ErrorNote(err, "Not saved"));
    }
  };
  box.append(h("p", { class: "muted small" }, "Empty fields use the server default shown in grey (changed in Settings → Runtime defaults)."), grid, h("div", { class: "actions" }, button("Save runtime settings", () => void save(), { kind: "primary", testid: "save-runtime" })));
  return box;
}

function schedulesSection(c: ContentView): HTMLElement {
  const box = h("div", {});
  const paint = async () => {
    let list: ScheduleView[];
    try {
      list = await api.schedules(c.guid);
    } catch (err) {
      box.replaceChildren(ErrorNote(err));
      return;
    }
    box.replaceChildren(ScheduleEditor(c.guid, list[0] ?? null, () => void paint()));
    if (list.length > 1) box.append(h("p", { class: "muted small" }, `This item has ${list.length} schedules; the editor shows the first.`));
  };
  void paint();
  return box;
}

function variantsSection(c: ContentView): HTMLElement {
  const box = h("div", {}, h("p", { class: "muted small" }, "Loading…"));
  const paint = async () => {
    let list;
    try {
      list = await api.variants(c.guid);
    } catch (err) {
      if (api.isMissingEndpoint(err)) return box.replaceChildren(unavailable("Parameters and variants"));
      return box.replaceChildren(ErrorNote(err));
    }
    const name = h("input", { placeholder: "e.g. europe" }) as HTMLInputElement;
    const params = h("textarea", { rows: 3, placeholder: '{"region": "europe"}', spellcheck: "false" }) as HTMLTextAreaElement;
    box.replaceChildren(
      list.length === 0 ? h("p", { class: "muted small" }, "No variants: the report renders with its default parameters.") : h("ul", {}, ...list.map((v) => h("li", {}, h("strong", {}, v.name), ` ${JSON.stringify(v.parameters)} `, v.render_id ? h("a", { href: v.url, target: "_blank", rel: "noopener" }, "Open") : h("span", { class: "muted small" }, "not rendered yet"), " ", button("Render", () => void api.renderNow(c.guid, v.id).then(() => toast("Render started"), (e) => toast(toApiError(e).message, "error")), { kind: "quiet" }), button("Delete", () => void api.deleteVariant(c.guid, v.id).then(() => paint(), (e) => replaceError(box, ErrorNote(e))), { kind: "quiet" })))),
      field("var-name-f", "New variant name", name),
      field("var-params-f", "Parameters (JSON object)", params),
      h("div", { class: "actions" }, button("Add variant", () => {
        let parsed: Record<string, unknown>;
        try {
          parsed = params.value.trim() ? (JSON.parse(params.value) as Record<string, unknown>) : {};
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        } catch {
          toast("Parameters must be a JSON object, like {\"region\": \"europe\"}", "error");
          return;
        }
        void api.createVariant(c.guid, name.value.trim(), parsed).then(() => paint(), (e) => replaceError(box, ErrorNote(e)));
      })),
    );
  };
  void paint();
  return box;
}

function envSection(c: ContentView): HTMLElement {
  const box = h("div", {});
  const paint = (names: string[]) => {
    const name = h("input", { placeholder: "API_TOKEN", spellcheck: "false", "data-testid": "env-name", autocomplete: "off" }) as HTMLInputElement;
    const value = h("input", { type: "password", autocomplete: "new-password", "data-testid": "env-value" }) as HTMLInputElement;
    const set = async () => {
      const n = name.value.trim();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) {
        replaceError(box, ErrorNote(new ApiError("InvalidRequest", `“${n}” is not a variable name (letters, digits and _, not starting with a digit)`)));
        return;
      }
      try {
        paint(await api.setEnv(c.guid, n, value.value));
        toast(`${n} set; the app restarts to see it`);
      } catch (err) {
        replaceError(box, ErrorNote(err));
      }
    };
    box.replaceChildren(
      h("p", { class: "muted small" }, "Values are stored but never shown again; set a variable again to change it."),
      names.length === 0
        ? h("p", { class: "muted small" }, "None set.")
        : h("ul", { class: "env-list", "data-testid": "env-list" }, ...names.map((n) => h("li", {}, h("code", {}, n), " ", h("span", { class: "muted" }, "••••••"), " ", button("Remove", () => void api.setEnv(c.guid, n, null).then(paint, (e) => replaceError(box, ErrorNote(e))), { kind: "quiet" })))),
      h("div", { class: "row" }, field("env-name-f", "Name", name), field("env-value-f", "Value", value)),
      h("div", { class: "actions" }, button("Set variable", () => void set(), { kind: "primary", testid: "env-set" })),
    );
  };
  void api.envNames(c.guid).then(paint, (e) => box.replaceChildren(ErrorNote(e)));
  return box;
}

function deleteSection(c: ContentView, shell: Shell): HTMLElement {
  return h(
    "div",
    {},
    h("p", { class: "muted small" }, "Stops the item and removes every version and render. Viewers get “not found”."),
    button(`Delete “${c.name}”`, () => {
      if (!confirm(`Delete ${c.title || c.name}? This cannot be undone.`)) return;
      void api.deleteContent(c.guid).then(() => (toast("Deleted"), shell.navigate("#/")), (e) => toast(toApiError(e).message, "error"));
    }, { kind: "danger", testid: "delete-item" }),
  );
}
