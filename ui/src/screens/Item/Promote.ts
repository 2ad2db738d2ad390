// The "Promote to Posit Connect…" dialog: choose a saved server (or save one: name, URL,
// API key, optional CA file), choose draft / replace / dry run, then watch the promotion's
// log, which includes the server's own build log, live. It ends with the report: the item's
// URL on the server, what was carried over, and the checklist of what was not.
// The promotion is an engine task: closing the dialog does not stop it.

import { toApiError } from "../../api/client";
import { followTask } from "../../api/content";
import * as api from "../../api/promote";
import type { ContentView, PromotionReport, TargetView } from "../../api/types";
import type { Shell } from "../../app";
import { button, field, h } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";

export function openPromote(shell: Shell, c: ContentView): void {
  const dialog = h("dialog", { class: "dialog promote", "aria-labelledby": "promote-title", "data-testid": "promote-dialog" }) as HTMLDialogElement;
  const body = h("div", { class: "dialog-body" });
  const abort = new AbortController();
  const close = () => {
    abort.abort();
    dialog.close();
    dialog.remove();
  };
  dialog.append(h("h2", { id: "promote-title" }, `Promote “${c.title || c.name}” to Posit Connect`), body);
  dialog.addEventListener("close", () => abort.abort());
  document.body.append(dialog);
  dialog.showModal();
  const show = (...children: (HTMLElement | null)[]) => body.replaceChildren(...children.filter((x): x is HTMLElement => x !== null));

  const load = async () => {
    show(h("p", { class: "muted" }, "Loading servers…"));
    try {
      const ts = await api.targets();
      if (ts.length === 0) showAdd(true);
      else showChoose(ts);
    } catch (err) {
      show(ErrorNote(err, "The saved servers could not be read"), h("div", { class: "actions" }, button("Close", close)));
    }
  };

  const showAdd = (first: boolean) => {
    const name = h("input", { type: "text", placeholder: "prod", autocomplete: "off", "data-testid": "target-name" }) as HTMLInputElement;
    const url = h("input", { type: "url", placeholder: "https://connect.example.com", "data-testid": "target-url" }) as HTMLInputElement;
    const key = h("input", { type: "password", autocomplete: "off", "data-testid": "target-key" }) as HTMLInputElement;
    const ca = h("input", { type: "text", placeholder: "/path/to/company-ca.pem (optional)", "data-testid": "target-ca" }) as HTMLInputElement;
    const note = h("div", {});
    const save = async () => {
      try {
        await api.addTarget(name.value.trim(), url.value.trim(), key.value, ca.value.trim() || null);
        key.value = "";
        await load();
      } catch (err) {
        note.replaceChildren(ErrorNote(err, "The server was not saved"));
      }
    };
    show(
      h("p", { class: "muted" }, first ? "Save the Connect server to promote to. Its API key is kept in a file only you can read and is never shown again." : "Add a Connect server."),
      field("target-name", "Name", name),
      field("target-url", "Server URL", url),
      field("target-key", "API key", key, { hint: "A Connect API key with publisher rights." }),
      field("target-ca", "CA file", ca, { hint: "Only for a server whose certificate your company's CA signs." }),
      note,
      h("div", { class: "actions" }, first ? null : button("Back", () => void load()), button("Close", close), button("Save server", () => void save(), { kind: "primary", testid: "target-save" })),
    );
  };

  const showChoose = (ts: TargetView[]) => {
    const select = h("select", { "data-testid": "promote-target" }, ...ts.map((t) => h("option", { value: t.name }, `${t.name} — ${t.url}`))) as HTMLSelectElement;
    const check = (id: string, label: string) => {
      const box = h("input", { type: "checkbox", id, "data-testid": id }) as HTMLInputElement;
      return { box, el: h("label", { class: "check" }, box, ` ${label}`) };
    };
    const draft = check("promote-draft", "Draft: build it but keep the live version");
    const replace = check("promote-replace", "Replace: deploy over a same-named item not promoted from Porch");
    const dry = check("promote-dry-run", "Dry run: check the key, runtimes and item, and show the plan only");
    show(
      field("promote-target", "Server", select),
      h("div", { class: "checks" }, draft.el, replace.el, dry.el),
      h("p", { class: "muted small" }, "Sends the active version with its manifest, title, description, runtime settings, variables (names only are shown), vanity path and access. Schedules, variants, email and render history are listed for you to re-create."),
      h("div", { class: "actions" }, button("Add a server", () => showAdd(false), { kind: "quiet" }), button("Close", close), button("Promote", () => void run({ to: select.value, draft: draft.box.checked, replace: replace.box.checked, dry_run: dry.box.checked }), { kind: "primary", testid: "promote-start" })),
    );
  };

  const run = async (choices: api.PromoteChoices) => {
    const log = h("pre", { class: "log", "data-testid": "promote-log", tabindex: "0", "aria-label": "Promotion log" });
    const status = h("p", { class: "muted", "data-testid": "promote-status" }, h("span", { class: "spinner", "aria-hidden": "true" }), choices.dry_run ? "Checking…" : "Promoting…");
    const result = h("div", {});
    show(status, log, result, h("div", { class: "actions" }, button("Close", close, { testid: "promote-close" })));
    try {
      const { task_id } = await api.promote(c.guid, choices);
      const t = await followTask(task_id, (lines) => {
        log.textContent += lines.join("\n") + "\n";
        log.scrollTop = log.scrollHeight;
      }, abort.signal);
      const r = await api.report(task_id);
      status.replaceChildren(t.code === 0 ? (choices.dry_run ? "The promotion would proceed." : "Promoted.") : "The promotion stopped.");
      status.setAttribute("data-state", t.code === 0 ? "ok" : "failed");
      result.replaceChildren(reportView(r, shell));
    } catch (err) {
      if (abort.signal.aborted) return;
      status.replaceChildren("The promotion stopped.");
      status.setAttribute("data-state", "failed");
      result.replaceChildren(ErrorNote(toApiError(err)));
    }
  };

  void load();
}

function reportView(r: PromotionReport, shell: Shell): HTMLElement {
  const list = (title: string, items: string[], testid: string) =>
    items.length === 0 ? null : h("div", { "data-testid": testid }, h("h3", {}, title), h("ul", {}, ...items.map((i) => h("li", {}, i))));
  return h(
    "div",
    { class: "promote-report", "data-testid": "promote-report" },
    r.error ? h("p", { class: "field-error", "data-testid": "promote-error" }, r.error) : null,
    r.content_url && !r.dry_run ? h("p", {}, "On the server: ", h("a", { href: r.content_url, onclick: (e: Event) => (e.preventDefault(), shell.open(r.content_url as string)) }, r.content_url)) : null,
    list("Carried over", r.carried_over, "promote-carried"),
    list("Not carried over (the server refused)", r.not_carried_over, "promote-refused"),
    list("Re-create by hand", r.checklist, "promote-checklist"),
  );
}
